"""vae.compression: exact round trips, a checked file format, and a rate near the ELBO."""

import dataclasses
import lzma
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from other_process import decompress_with_one_thread
from vae import compression, data, evaluation, losses
from vae.compression import BitsBackCodec, CompressionError, LatentGrid, container
from vae.compression.baselines import baseline_sizes, packed_pixels
from vae.compression.files import read_images, write_images
from vae.models import MLPVAE


@pytest.fixture(scope="module")
def tiny_codec():
    """An untrained 2-D model: the codec must be exact whatever the model's quality."""
    return BitsBackCodec(MLPVAE(latent_dim=2, hidden=(8,), seed=1), "tiny", "0" * 64, batch_size=3)


@pytest.fixture(scope="module")
def conv_codec():
    return BitsBackCodec.pretrained("conv")


@pytest.fixture(scope="module")
def test_digits():
    images, _ = data.binarized_test_set(limit=500)
    return images[..., 0].astype(np.uint8)


def test_shipped_model_round_trip_is_exact(conv_codec, test_digits):
    blob = conv_codec.compress(test_digits[:60])
    assert np.array_equal(conv_codec.decompress(blob).images, test_digits[:60])


@pytest.mark.parametrize("case", ["one image", "all zero", "all one", "batch plus one"])
def test_edge_cases_round_trip(conv_codec, test_digits, case):
    images = {"one image": test_digits[:1],
              "all zero": np.zeros((2, 28, 28), np.uint8),
              "all one": np.ones((2, 28, 28), np.uint8),
              "batch plus one": test_digits[:conv_codec.batch_size + 1]}[case]
    restored = conv_codec.decompress(conv_codec.compress(images))
    assert np.array_equal(restored.images, images)
    assert restored.names is None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(images=arrays(np.uint8, st.tuples(st.integers(1, 7), st.just(28), st.just(28)),
                     elements=st.integers(0, 1)),
       seed=st.integers(0, 2**32 - 1))
def test_any_binary_images_round_trip(tiny_codec, images, seed):
    blob = tiny_codec.compress(images, initial_seed=seed)
    assert np.array_equal(tiny_codec.decompress(blob).images, images)


def test_progress_is_reported_per_batch_and_changes_nothing(tiny_codec, test_digits):
    coded, decoded = [], []
    blob = tiny_codec.compress(test_digits[:7], progress=coded.append)
    assert blob == tiny_codec.compress(test_digits[:7])
    sizes = [size for size, repeats in compression.read_header(blob)["batch_sizes"] for _ in range(repeats)]
    assert coded == sizes and sum(coded) == 7
    assert np.array_equal(tiny_codec.decompress(blob, progress=decoded.append).images, test_digits[:7])
    assert decoded == coded[::-1]  # a stack: the last batch comes off first


def test_the_one_call_helpers_pass_progress_on(test_digits):
    coded, decoded = [], []
    blob = compression.compress(test_digits[:30], model="latent2", progress=coded.append, fallback=False)
    assert np.array_equal(compression.decompress(blob, progress=decoded.append).images, test_digits[:30])
    assert sum(coded) == 30 and coded[0] == 1 and decoded == coded[::-1]  # ramped batches, reversed
    # a direct file has no batches: one call with all its digits
    coded, decoded = [], []
    blob = compression.compress(test_digits[:30], model="latent2", progress=coded.append)
    assert compression.read_header(blob)["method"] != "bits-back"
    assert np.array_equal(compression.decompress(blob, progress=decoded.append).images, test_digits[:30])
    assert sum(coded) == 30 and decoded == [30]  # compress tried bits back first, batch by batch


@pytest.mark.parametrize("count", [1, 7, 60, 600])
def test_the_one_call_file_is_never_much_larger_than_the_best_classical_compressor(count):
    """compress() keeps the smaller of bits back and the direct code: at most a few dozen bytes above
    the best of DEFLATE (gzip), bz2 and LZMA (xz) on the same digits, for one digit as for hundreds."""
    images, _ = data.binarized_test_set(limit=count)
    blob = compression.compress(images)
    classical = {name: size for name, size in baseline_sizes(images).items()
                 if name.split()[0] in ("gzip", "bz2", "lzma")}
    assert len(classical) == 3, classical
    assert len(blob) <= min(classical.values()) + 36, (len(blob), classical)
    assert np.array_equal(compression.decompress(blob).images, compression.binary_images(images))


def test_one_digit_gets_the_direct_code_and_hundreds_get_bits_back():
    images, _ = data.binarized_test_set(limit=600)
    assert compression.read_header(compression.compress(images[:1]))["method"] != "bits-back"
    big = compression.compress(images)
    assert compression.read_header(big)["method"] == "bits-back"
    assert big == compression.compress(images, fallback=False)  # bits back won: the same file


@pytest.mark.parametrize("blocked", ["missing", "broken"])
def test_without_constriction_importing_vae_compression_fails_with_one_sentence(blocked, tmp_path):
    # missing: as on a platform without its wheel; broken: installed, but its native library fails to load
    (tmp_path / "constriction").mkdir()
    (tmp_path / "constriction" / "__init__.py").write_text(
        "raise ImportError('libfoo.so: cannot open shared object file')\n")
    block = "sys.modules['constriction'] = None" if blocked == "missing" else f"sys.path.insert(0, {str(tmp_path)!r})"
    script = (f"import sys; {block}\n"
              "try:\n    import vae.compression\n"
              "except ImportError as error:\n    print(type(error).__name__, error.name, error, sep='|')\n"
              "else:\n    print('imported')")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stderr == ""
    kind, name, message = result.stdout.rstrip("\n").split("|")
    assert kind == "MissingDependencyError" and name == "constriction"
    assert message.startswith("vae.compression needs the 'constriction' package, which ")
    assert message.count(". ") == 0 and "\n" not in message  # one sentence
    if blocked == "missing":
        assert "is not installed here" in message and "run 'pip install constriction'" in message
    else:
        assert "cannot be loaded here" in message and "libfoo.so" in message
    assert issubclass(compression.MissingDependencyError, ImportError)


def test_names_come_back(tiny_codec, test_digits):
    names = ["a.png", "b.png", "c.png", "d.png"]
    assert tiny_codec.decompress(tiny_codec.compress(test_digits[:4], names=names)).names == names


def test_rate_on_500_test_digits_is_within_2_percent_of_the_negative_elbo(conv_codec, test_digits):
    # The codec's net cost per digit is a one-sample estimate of -ELBO (the code z is
    # drawn from q(z|x) by the stack instead of a random generator), so both sides agree up
    # to sampling noise (about 0.2 nats a digit averaged over 500 digits) plus the coder's
    # own overhead (measured at about 0.6 %); 2 % is the target the book sets itself.
    net = compression.bits_per_dim(conv_codec.compress(test_digits))["net"]
    elbo = evaluation.evaluate(conv_codec.model, test_digits[..., None].astype(np.float32), k=1).elbo
    negative_elbo = float(losses.nats_to_bits_per_dim(-elbo))
    assert abs(net / negative_elbo - 1) < 0.02
    assert net < 0.19  # the published BB-ANS figure for its small model


def test_the_whole_test_set_file_is_within_2_percent_of_the_negative_elbo(conv_codec):
    # The target of chapter 9, on all 10,000 digits and for the whole file, fixed costs
    # included. With the earlier grid (8,193 bins) leaky pops put about a hundred codes far
    # from their posteriors and the file came out 3.0 % above the negative ELBO; the
    # default grid's file is 0.9 % above it (chapter 9).
    images, _ = data.binarized_test_set()
    total = compression.bits_per_dim(conv_codec.compress(images[..., 0].astype(np.uint8)))["total"]
    negative_elbo = float(losses.nats_to_bits_per_dim(-evaluation.evaluate(conv_codec.model, images, k=1).elbo))
    assert total / negative_elbo - 1 < 0.02


def test_initial_bits_are_reported_and_left_on_the_stack(conv_codec, test_digits):
    blob = conv_codec.compress(test_digits[:50])
    header, rates = compression.read_header(blob), compression.bits_per_dim(blob)
    assert rates["initial_bits"] == 32 * header["initial_words"] == 32 * conv_codec.initial_words(1)
    assert rates["net"] < rates["payload"] < rates["total"]


@pytest.mark.parametrize("batch_size", [25, 100])
def test_batches_ramp_up_from_one_digit_in_powers_of_two(test_digits, batch_size):
    codec = BitsBackCodec.pretrained("conv", batch_size=batch_size)
    blob = codec.compress(test_digits)
    runs = compression.read_header(blob)["batch_sizes"]
    sizes = [size for size, repeats in runs for _ in range(repeats)]
    assert sum(sizes) == len(test_digits) and sizes[0] == 1 and max(sizes) == batch_size
    ramp = sizes[:sizes.index(batch_size)]
    assert ramp == sorted(ramp) and all(size & (size - 1) == 0 for size in ramp)  # powers of two, growing
    # the ramp's whole point: one digit's initial bits, whatever the batch size
    assert compression.bits_per_dim(blob)["initial_bits"] == 32 * codec.initial_words(1)
    assert np.array_equal(codec.decompress(blob).images, test_digits)


def _refixed(codec, images):
    """A file as the codec wrote it before the ramp: equal batches, initial words for a whole
    batch, no ``batch_sizes`` in the header."""
    initial_words = type(codec).initial_words
    fixed = BitsBackCodec(codec.model, codec.name, codec.weights_sha256, batch_size=codec.batch_size)
    fixed._next_batch_size = lambda coder, remaining: min(fixed.batch_size, remaining)
    fixed.initial_words = lambda first_batch: initial_words(fixed, fixed.batch_size)
    header, body = container.unpack(fixed.compress(images))
    del header["batch_sizes"]
    return container.pack(header, body)  # pack sets the body's length and checksum again


def test_files_from_before_the_ramp_still_decode(conv_codec, test_digits):
    old = _refixed(conv_codec, test_digits[:60])
    assert "batch_sizes" not in compression.read_header(old)
    assert compression.bits_per_dim(old)["initial_bits"] == 32 * conv_codec.initial_words(25)
    assert np.array_equal(conv_codec.decompress(old).images, test_digits[:60])


@pytest.mark.parametrize("runs", [[[25, 1], [25, 1]], [[0, 30]], [[26, 1], [4, 1]], [[30]], "30",
                                  [[1.0, 30]], [[True, 30]]])
def test_damaged_batch_sizes_are_a_clear_error(conv_codec, test_digits, runs):
    header, body = container.unpack(conv_codec.compress(test_digits[:30]))
    header["batch_sizes"] = runs
    damaged = container.pack(header, body)  # pack sets the body's length and checksum again
    with pytest.raises(CompressionError, match="batch sizes"):
        conv_codec.decompress(damaged)


# -- the file format -------------------------------------------------------------------
@pytest.fixture(scope="module")
def blob(conv_codec, test_digits):
    return conv_codec.compress(test_digits[:30])


def test_the_header_names_the_model_and_counts(blob, conv_codec):
    header = compression.read_header(blob)
    assert header["model"] == "conv" and header["weights_sha256"] == conv_codec.weights_sha256
    assert header["count"] == 30 and header["grid"] == dataclasses.asdict(LatentGrid())


@pytest.mark.parametrize("where", ["body", "last byte", "header"])
def test_a_corrupted_byte_is_a_clear_error(conv_codec, blob, where):
    damaged = bytearray(blob)
    position = {"body": len(blob) // 2, "last byte": len(blob) - 1, "header": 20}[where]
    damaged[position] ^= 0x10
    with pytest.raises(CompressionError, match="corrupted|damaged"):
        conv_codec.decompress(bytes(damaged))


@pytest.mark.parametrize("keep", [0, 5, 12, 100, -1])
def test_a_truncated_file_is_a_clear_error(conv_codec, blob, keep):
    with pytest.raises(CompressionError, match="truncated|not a VAE"):
        conv_codec.decompress(blob[:keep])


def test_extra_bytes_at_the_end_are_an_error(conv_codec, blob):
    with pytest.raises(CompressionError, match="over-long"):
        conv_codec.decompress(blob + b"\0")


def test_another_models_codec_refuses_the_file(blob):
    with pytest.raises(CompressionError, match="compressed with model 'conv'"):
        BitsBackCodec.pretrained("latent2").decompress(blob)


def test_a_file_naming_an_unknown_model_is_refused(test_digits):
    stranger = BitsBackCodec(MLPVAE(latent_dim=2, hidden=(8,)), "no-such-model", "1" * 64)
    with pytest.raises(CompressionError, match="no-such-model"):
        compression.decompress(stranger.compress(test_digits[:2]))


def test_same_name_with_other_weights_fails_the_image_checksum(test_digits):
    """Even a forged header cannot make the codec return wrong images."""
    writer = BitsBackCodec(MLPVAE(latent_dim=2, hidden=(8,), seed=1), "tiny", "0" * 64)
    reader = BitsBackCodec(MLPVAE(latent_dim=2, hidden=(8,), seed=2), "tiny", "0" * 64)
    with pytest.raises(CompressionError, match="did not reproduce"):
        reader.decompress(writer.compress(test_digits[:5]))


def test_a_newer_format_version_is_refused():
    blob = container.pack({"x": 1}, b"")
    header, body = container.unpack(blob)
    assert header["x"] == 1 and body == b""
    newer = blob.replace(b'"format_version":1', b'"format_version":9')
    with pytest.raises(CompressionError):
        container.unpack(newer)


# -- inputs ----------------------------------------------------------------------------
@pytest.mark.parametrize("images, message", [
    (np.full((2, 28, 28), 0.5), "binary"),
    (np.zeros((2, 28, 27)), "shape"),
    (np.zeros((0, 28, 28)), "at least one"),
    (np.full((1, 28, 28), 255, np.uint8), "binary"),
])
def test_bad_images_are_refused_with_a_reason(tiny_codec, images, message):
    with pytest.raises(ValueError, match=message):
        tiny_codec.compress(images)


def test_channel_axis_and_booleans_are_accepted(tiny_codec, test_digits):
    images = test_digits[:3, ..., None].astype(bool)
    assert np.array_equal(tiny_codec.decompress(tiny_codec.compress(images)).images, test_digits[:3])


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="batch_size"):
        BitsBackCodec(MLPVAE(latent_dim=2, hidden=(8,)), "m", "0" * 64, batch_size=0)
    with pytest.raises(ValueError, match="bin_width_log2"):
        LatentGrid(bin_width_log2=40)


# -- files -----------------------------------------------------------------------------
def test_png_folder_and_npz_round_trip(tmp_path, test_digits):
    write_images(tmp_path / "digits", test_digits[:4], ["one.png", "two.png", "three.png", "four.png"])
    images, names = read_images(tmp_path / "digits")
    assert names == ["four.png", "one.png", "three.png", "two.png"]  # name order
    assert np.array_equal(images[names.index("one.png")], test_digits[0])
    write_images(tmp_path / "d.npz", test_digits[:4])
    again, no_names = read_images(tmp_path / "d.npz")
    assert np.array_equal(again, test_digits[:4]) and no_names is None


def test_files_are_never_overwritten(tmp_path, test_digits):
    write_images(tmp_path / "d.npz", test_digits[:2])
    with pytest.raises(ValueError, match="exists"):
        write_images(tmp_path / "d.npz", test_digits[:2])
    write_images(tmp_path / "pngs", test_digits[:2])
    with pytest.raises(ValueError, match="exists"):
        write_images(tmp_path / "pngs", test_digits[:2])


def test_grey_or_wrong_sized_pngs_are_refused(tmp_path):
    from PIL import Image

    (tmp_path / "grey").mkdir()
    Image.fromarray(np.full((28, 28), 128, np.uint8)).save(tmp_path / "grey" / "a.png")
    with pytest.raises(ValueError, match="black and white"):
        read_images(tmp_path / "grey")
    (tmp_path / "big").mkdir()
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "big" / "a.png")
    with pytest.raises(ValueError, match="28x28"):
        read_images(tmp_path / "big")
    with pytest.raises(ValueError, match="no .png"):
        read_images(tmp_path / "grey" / "..")  # a folder of folders
    with pytest.raises(ValueError, match="no such"):
        read_images(tmp_path / "missing.npz")


# -- baselines -------------------------------------------------------------------------
def test_baselines_measure_the_same_pixels(test_digits):
    packed = packed_pixels(test_digits[:10])
    assert len(packed) == 10 * 98
    assert np.array_equal(np.unpackbits(np.frombuffer(packed, np.uint8)).reshape(10, 28, 28), test_digits[:10])
    sizes = baseline_sizes(test_digits[:10])
    assert sizes["raw (packed bits)"] == 980
    assert sizes["lzma (xz -9e)"] == len(lzma.compress(packed, preset=9 | lzma.PRESET_EXTREME))
    assert all(size > 0 for size in sizes.values())


def test_a_header_without_the_codec_fields_is_a_clear_error(conv_codec):
    forged = container.pack({"model": "conv"}, b"")  # valid CRC and checksums, but no codec fields
    with pytest.raises(CompressionError, match="header lacks"):
        conv_codec.decompress(forged)
    with pytest.raises(CompressionError, match="does not name its model"):
        compression.decompress(container.pack({}, b""))


def test_a_file_made_with_two_threads_decodes_with_one(conv_codec, test_digits, tmp_path):
    """The ramp's batches (1, 2, 4, 8, 16, 25 and an odd rest) decode the same in a one-thread process:
    unpadded, odd batches computed other last bits there and such files failed (vae._padding)."""
    packed, restored = tmp_path / "digits.vbb", tmp_path / "out.npz"
    packed.write_bytes(conv_codec.compress(test_digits[:200]))
    sizes = [size for size, repeats in compression.read_header(packed.read_bytes())["batch_sizes"]
             for _ in range(repeats)]
    assert any(size % 2 for size in sizes[1:])  # an odd batch besides the first digit
    decompress_with_one_thread(packed, restored)
    with np.load(restored) as archive:
        assert np.array_equal(archive["images"], test_digits[:200])

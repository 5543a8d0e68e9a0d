"""vae.lossy: the learned transform codec, its exact decoder, integer tables, files, baselines and BD-rate."""

import io
import json
import math
import zlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from other_process import MANY_THREADS, ONE_THREAD, run_python
from vae import data
from vae.compression import CompressionError, direct
from vae.lossy import baselines, bd_rate, container, exact, storage, tables
from vae.lossy.codec_model import LearnedCodec
from vae.lossy.quality import psnr
from vae.lossy.coding import LossyCodec, grey_images, rates
from vae.lossy.entropy_models import FactorizedDensity, ScaleLadder, gaussian_bits, log_normal_cdf
from vae.lossy.training import CodecTrainConfig, new_codec, train_codec

SMALL = {"channels": 8, "hyper_channels": 4, "filters": 32, "hyper_filters": 16}


@pytest.fixture(scope="module")
def digits():
    images, _ = data.load_mnist("test")
    return images[:200]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small codec trained for about a minute on 3000 digits, saved as a checkpoint: (directory, model)."""
    keras.utils.set_random_seed(0)
    model = LearnedCodec(**SMALL, lmbda=0.01, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    train, _ = data.load_mnist("train")
    model.fit(data.training_batches(train[:3000], 32, epoch=0, seed=0, binarize=False).repeat(3), verbose=0)
    directory = tmp_path_factory.mktemp("codec") / "small"
    storage.save_codec(model, directory, {"note": "test"})
    return directory, model


# -- the model ---------------------------------------------------------------------------
def test_shapes_and_unknown_batch_size_inside_tf_function():
    model = LearnedCodec(**SMALL)
    spec = tf.TensorSpec((None, 28, 28, 1), tf.float32)
    analyse = tf.function(model.analyse, input_signature=[spec])
    synthesise = tf.function(model.synthesise, input_signature=[tf.TensorSpec((None, 7, 7, 8), tf.float32)])
    for batch in (1, 5):
        x = np.random.default_rng(batch).random((batch, 28, 28, 1)).astype(np.float32)
        y = analyse(x)
        assert y.shape == (batch, 7, 7, 8)
        assert model.hyper_analyse(y).shape == (batch, 4, 4, 4)
        assert model.log_scales(model.hyper_analyse(y)).shape == (batch, 7, 7, 8)
        out = synthesise(tf.round(y)).numpy()
        assert out.shape == (batch, 28, 28, 1) and out.min() >= 0 and out.max() <= 1
    with pytest.raises(ValueError, match=r"\(batch, 28, 28, 1\)"):
        model.analyse(np.zeros((2, 28, 28), np.float32))


def test_config_round_trip_and_checks():
    model = LearnedCodec(**SMALL, lmbda=0.03, seed=4)
    again = LearnedCodec.from_config(json.loads(json.dumps(model.get_config())))
    assert again.get_config() == model.get_config()
    with pytest.raises(ValueError, match="lmbda"):
        LearnedCodec(lmbda=0)
    with pytest.raises(ValueError, match="architecture"):
        LearnedCodec.from_config({"architecture": "conv"})


def test_a_few_training_steps_reduce_the_loss():
    keras.utils.set_random_seed(1)
    model = LearnedCodec(**SMALL, lmbda=0.01, seed=1)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    x = data.load_mnist("test")[0][:64]
    batches = tf.data.Dataset.from_tensor_slices(x).batch(32)
    before = float(model.rate_distortion(x)["loss"])
    model.fit(batches.repeat(15), verbose=0)
    after = float(model.rate_distortion(x)["loss"])
    assert after < 0.7 * before


def test_entropy_models_are_probabilities():
    density = FactorizedDensity(3)
    pmf = density.integer_pmf(200)
    assert pmf.shape == (3, 401) and np.all(pmf > 0)
    np.testing.assert_allclose(pmf.sum(axis=1), 1.0, atol=1e-3)  # the masses of the unit intervals tile the line
    values = np.arange(-12, 13, dtype=np.float32)
    mass = 2.0 ** -gaussian_bits(values, 3.0).numpy()
    np.testing.assert_allclose(mass.sum(), 1.0, atol=1e-4)  # all but 2Φ(-12.5/3) = 3e-5
    assert mass[12] == pytest.approx(0.1324, abs=1e-3)  # Φ(1/6) - Φ(-1/6)
    def phi(x):  # Φ in float64, accurate in the lower tail
        return 0.5 * math.erfc(-x / math.sqrt(2))

    for x in (-3.0, -5.5, -8.0, -20.0):  # log Φ against float64, on both sides of the switch at -5
        assert float(log_normal_cdf(tf.constant(x))) == pytest.approx(math.log(phi(x)), rel=2e-3)
    near = tf.constant([7.0, 9.0])  # exact in the tail, capped at the tables' 16 bits beyond
    with tf.GradientTape() as tape:
        tape.watch(near)
        bits = gaussian_bits(near, 3.0)
    expected = -math.log2(phi(-6.5 / 3) - phi(-7.5 / 3))
    assert float(bits[0]) == pytest.approx(expected, rel=2e-3) and float(bits[0]) < 16
    assert float(gaussian_bits(40.0, 3.0)) == 16.0 == tables.PRECISION_BITS
    gradient = tape.gradient(bits, near).numpy()
    assert np.all(np.isfinite(gradient)) and gradient[0] > 0
    ladder = ScaleLadder()
    levels = ladder.indices(ladder.log_scales)
    np.testing.assert_array_equal(levels, np.arange(ladder.levels))
    assert ladder.indices(np.array([-100.0, 100.0])).tolist() == [0, ladder.levels - 1]


# -- exact arithmetic and tables ---------------------------------------------------------
def test_exact_network_is_close_to_keras_and_independent_of_batching():
    model = LearnedCodec(**SMALL, seed=2)
    ops = exact.quantize(model.synthesis)
    y = np.random.default_rng(0).integers(-6, 7, size=(6, 7, 7, 8))
    out = exact.run(ops, y)
    reference = model.synthesis(y.astype(np.float32)).numpy()
    assert np.max(np.abs(out - reference)) < 1e-3
    pieces = np.concatenate([exact.run(ops, y[i:i + 1]) for i in range(6)])
    assert np.array_equal(pieces, out)  # other matrix shapes, other summation orders: the same bits
    assert np.array_equal(out * 2 ** exact.ACTIVATION_BITS, np.rint(out * 2 ** exact.ACTIVATION_BITS))


def test_exact_quantization_refuses_weights_beyond_float64s_exact_range():
    network = keras.Sequential([keras.Input((7, 7, 2)), keras.layers.Conv2D(2, 3, padding="same")])
    network.layers[0].set_weights([np.full((3, 3, 2, 2), 1e6, np.float32), np.zeros(2, np.float32)])
    with pytest.raises(ValueError, match="exact range"):
        exact.quantize(network)
    strided = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(1, 3, strides=2, padding="same")])
    with pytest.raises(ValueError, match="stride-1"):
        exact.quantize(strided)


def test_integer_counts():
    counts = tables.integer_counts(np.array([0.0, 1e-12, 0.3, 0.7]))
    assert counts.dtype == np.int32 and counts.sum() == 2 ** tables.PRECISION_BITS and counts.min() >= 1
    assert counts[3] > 2 * counts[2] * 0.99
    with pytest.raises(ValueError):
        tables.integer_counts(np.array([-1.0, 2.0]))


def test_tables_are_stored_exactly_and_their_hash_is_checked(trained, tmp_path):
    directory, model = trained
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["tables_sha256"] and manifest["model"]["architecture"] == "hyperprior"
    loaded_model, loaded, _ = storage.load_codec(directory)
    derived = tables.derive_tables(model)
    assert loaded.to_bytes() == (directory / tables.TABLES_FILE).read_bytes()
    for name in ("z", "y"):
        for field in ("counts", "offsets", "lower"):
            assert np.array_equal(getattr(getattr(loaded, name), field), getattr(getattr(derived, name), field))
    assert all(np.all(np.add.reduceat(t.counts, t.offsets[:-1]) == 2 ** tables.PRECISION_BITS)
               for t in (loaded.z, loaded.y))
    copy = tmp_path / "copy"
    copy.mkdir()
    for file in directory.iterdir():
        (copy / file.name).write_bytes(file.read_bytes())
    tampered = bytearray((copy / tables.TABLES_FILE).read_bytes())
    tampered[len(tampered) // 2] ^= 1
    (copy / tables.TABLES_FILE).write_bytes(bytes(tampered))
    with pytest.raises(ValueError, match="does not match its manifest"):
        storage.load_codec(copy)


# -- files -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def codec(trained):
    return LossyCodec.from_checkpoint(trained[0], name="small")


@pytest.fixture(scope="module")
def encoded(codec, digits):
    return codec.encode(digits)


def test_round_trip_is_exact_and_the_rate_matches_the_file(codec, trained, digits, encoded):
    decoded = codec.decompress(encoded.blob)
    assert decoded.images.dtype == np.float32 and decoded.images.shape == (200, 28, 28, 1)
    assert np.array_equal(decoded.images, encoded.reconstruction)
    header = decoded.header
    assert header["lossy"] is True and header["model"] == "small" and header["count"] == 200
    assert header["lmbda"] == pytest.approx(0.01)
    payload_bits = 32 * header["payload_words"]
    table_bits = encoded.bits.sum()
    # the range coder adds next to nothing (constriction re-quantizes the tables to its own precision,
    # so the payload may also come out a few bits below their information content)
    assert abs(payload_bits - table_bits) <= table_bits * 0.001 + 64
    model_bits = float(trained[1].rate_distortion(digits)["bpp"]) * 784 * len(digits)
    assert abs(payload_bits - model_bits) < 0.05 * model_bits  # the integer tables cost almost nothing
    assert rates(encoded.blob)["total"] == pytest.approx(8 * len(encoded.blob) / (200 * 784))
    # the exact decoder reconstructs what the float model does, to within its rounding
    float_psnr = psnr(digits, trained[1](digits).numpy()).mean()
    assert psnr(digits, decoded.images).mean() == pytest.approx(float_psnr, abs=0.1)
    assert encoded.clipped <= 2


def test_a_channel_whose_table_has_one_symbol_is_not_coded(codec, digits):
    z = codec.tables.z
    counts = [np.array([2 ** tables.PRECISION_BITS], np.int32)] + [z.counts_of(c) for c in range(1, len(z))]
    single = tables.Table.from_list(counts, [0, *z.lower[1:]])
    edited = tables.CodecTables(single, codec.tables.y, codec.tables.boundaries, codec.tables.hyper_synthesis,
                                codec.tables.synthesis, codec.tables.meta)
    lossy = LossyCodec(codec.model, edited, "small", codec.weights_sha256, codec.tables_sha256, 0.01)
    encoded = lossy.encode(digits[:20])
    z_hat, _, _, _ = lossy.quantized_latents(digits[:20])
    assert np.all(z_hat[..., 0] == 0)
    assert np.array_equal(lossy.decompress(encoded.blob).images, encoded.reconstruction)


def test_grey_images_accepts_uint8_and_refuses_the_rest(digits):
    as_bytes = np.rint(digits[:3, ..., 0] * 255).astype(np.uint8)
    np.testing.assert_allclose(grey_images(as_bytes), digits[:3], atol=1e-6)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        grey_images(digits[:2] * 2)
    with pytest.raises(ValueError, match="shaped"):
        grey_images(np.zeros((2, 27, 28)))


def _resealed(blob: bytes, change) -> bytes:
    """The file with its header edited by ``change`` and the CRC recomputed (a well-formed lie)."""
    header, body = container.unpack(blob)
    change(header)
    for key in ("lossy", "format_version", "body_bytes", "body_sha256"):
        header.pop(key)
    return container.pack(header, body)


def test_damaged_truncated_wrong_model_and_lossless_files_are_refused(codec, trained, encoded, tmp_path):
    blob = encoded.blob
    with pytest.raises(CompressionError, match="truncated"):
        codec.decompress(blob[:-5])
    with pytest.raises(CompressionError, match="truncated|incomplete"):
        codec.decompress(blob[:20])
    flipped = bytearray(blob)
    flipped[-3] ^= 0x10
    with pytest.raises(CompressionError, match="SHA-256"):
        codec.decompress(bytes(flipped))
    flipped = bytearray(blob)
    flipped[30] ^= 0x01
    with pytest.raises(CompressionError, match="CRC|damaged"):
        codec.decompress(bytes(flipped))
    with pytest.raises(CompressionError, match="magic"):
        codec.decompress(b"GIF89a" + blob)
    with pytest.raises(CompressionError, match="lossless bits-back file"):
        codec.decompress(b"VAEBBANS" + blob[8:])
    other = LossyCodec(codec.model, codec.tables, "other", codec.weights_sha256, codec.tables_sha256, 0.01)
    with pytest.raises(CompressionError, match="compressed with lossy model 'small'"):
        other.decompress(blob)
    with pytest.raises(CompressionError, match="compressed with lossy model"):
        codec.decompress(_resealed(blob, lambda h: h.update(tables_sha256="0" * 64)))
    # same name and hashes but different tables (a lie the header cannot see): caught after decoding
    wrong_tables = tables.derive_tables(LearnedCodec(**SMALL, seed=9))
    impostor = LossyCodec(codec.model, wrong_tables, "small", codec.weights_sha256, codec.tables_sha256, 0.01)
    with pytest.raises(CompressionError):
        impostor.decompress(blob)
    with pytest.raises(CompressionError, match="shapes"):
        codec.decompress(_resealed(blob, lambda h: h.update(latent_shape=[7, 7, 3])))


def test_a_lossless_file_is_refused_by_the_lossy_decoder(codec):
    from vae.compression import container as lossless

    blob = lossless.pack({"model": "conv"}, b"\x00" * 8)
    with pytest.raises(CompressionError, match="lossless bits-back file"):
        codec.decompress(blob)
    # what compress() and the CLI write for a few digits: the direct code, lossless too
    few = direct.encode_direct(np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(CompressionError, match="lossless file in the direct code"):
        codec.decompress(few)


_ENCODE = """
import sys, numpy as np, vae
vae.quiet(0)
from vae import data
from vae.lossy import LossyCodec
codec = LossyCodec.from_checkpoint(sys.argv[1], name="small")
encoded = codec.encode(data.load_mnist("test")[0][200:260])
open(sys.argv[2], "wb").write(encoded.blob)
np.save(sys.argv[3], encoded.reconstruction)
print("encoded")
"""
_DECODE = """
import sys, numpy as np, vae
vae.quiet(0)
from vae.lossy import LossyCodec
codec = LossyCodec.from_checkpoint(sys.argv[1], name="small")
images = codec.decompress(open(sys.argv[2], "rb").read()).images
print("same" if np.array_equal(images, np.load(sys.argv[3])) else "different")
"""


def test_a_file_decodes_exactly_in_another_process_with_other_thread_settings(trained, tmp_path):
    directory = trained[0]
    blob, reconstruction = tmp_path / "digits.vlc", tmp_path / "reconstruction.npy"
    assert run_python(_ENCODE, [directory, blob, reconstruction], ONE_THREAD) == "encoded"
    assert run_python(_DECODE, [directory, blob, reconstruction], MANY_THREADS) == "same"
    assert run_python(_DECODE, [directory, blob, reconstruction], {}) == "same"


# -- baselines and BD-rate ---------------------------------------------------------------
def test_bd_rate_on_synthetic_curves():
    quality = np.array([20.0, 25.0, 30.0, 35.0, 40.0])
    rate = np.exp(0.12 * quality - 3)  # any smooth curve
    assert bd_rate.bd_rate(rate, quality, rate / 2, quality) == pytest.approx(-50.0, abs=1e-9)
    assert bd_rate.bd_rate(rate, quality, rate * 0.8, quality) == pytest.approx(-20.0, abs=1e-9)
    assert bd_rate.bd_rate(rate, quality, rate, quality) == pytest.approx(0.0, abs=1e-9)
    assert bd_rate.bd_rate(rate / 2, quality, rate, quality) == pytest.approx(100.0, abs=1e-9)
    # a curve 1 dB better everywhere, on other PSNR points: exp(-0.12) - 1, over the overlap [21, 40] dB
    shifted = np.array([21.0, 26.0, 31.0, 37.0, 41.0])
    got = bd_rate.bd_rate(rate, quality, np.exp(0.12 * (shifted - 1) - 3), shifted)
    assert got == pytest.approx((np.exp(-0.12) - 1) * 100, abs=1e-6)
    assert bd_rate.overlap(quality, shifted) == (21.0, 40.0)
    with pytest.raises(ValueError, match="overlap"):
        bd_rate.bd_rate(rate, quality, rate, quality + 30)
    with pytest.raises(ValueError, match="4"):
        bd_rate.bd_rate(rate[:3], quality[:3], rate, quality)


def test_pillow_writes_the_four_codecs_here():
    assert set(baselines.available_codecs()) <= set(baselines.SWEEPS)
    assert "JPEG" in baselines.available_codecs()


@pytest.mark.parametrize("codec_name", ["JPEG", "WebP", "AVIF", "JPEG 2000"])
def test_baselines_code_a_small_mosaic_and_report_real_file_sizes(codec_name, digits):
    if codec_name not in baselines.available_codecs():
        pytest.skip(f"this Pillow cannot write {codec_name}")
    images = digits[:12]
    sheets = baselines.mosaics(images, per_side=4)
    assert [s.shape for s in sheets] == [(84, 112)]
    parameter = {"JPEG": 50, "WebP": 50, "AVIF": 50, "JPEG 2000": 10}[codec_name]
    point = baselines.code_mosaics(images, codec_name, parameter, per_side=4)
    real = len(baselines._encode(baselines.Image.fromarray(sheets[0]), codec_name, parameter))
    assert point["bytes"] == real and point["files"] == 1
    assert point["bpp"] == pytest.approx(8 * real / (12 * 784))
    assert point["reconstruction"].shape == (12, 28, 28, 1)
    assert point["psnr"] == pytest.approx(psnr(images, point["reconstruction"]).mean())
    assert 15 < point["psnr"] < 60
    sizes = baselines.per_digit_sizes(images[:3], codec_name, parameter)
    assert sizes["sizes"].shape == (3,) and np.all(sizes["sizes"] > 0)


def test_sweeps_are_sorted_and_rate_at_psnr_interpolates(digits):
    points = baselines.sweep(digits[:20], "JPEG", [10, 50, 90], per_side=5)
    assert [p["parameter"] for p in points] == [10, 50, 90]
    middle = points[1]
    assert baselines.rate_at_psnr(points, middle["psnr"]) == pytest.approx(middle["bpp"])
    assert baselines.rate_at_psnr(points, 200.0) is None


# -- training run ------------------------------------------------------------------------
def test_train_codec_resumes_and_writes_a_loadable_checkpoint(tmp_path):
    images = data.load_mnist("train")[0][:64]
    config = CodecTrainConfig(**SMALL, epochs=1, batch_size=32, validation_images=16)
    train_codec(config, tmp_path / "run", train_images=images, test_images=images[:16])
    model, manifest = train_codec(CodecTrainConfig(**SMALL, epochs=2, batch_size=32, validation_images=16),
                                  tmp_path / "run", train_images=images, test_images=images[:16])
    assert manifest["epochs"] == 2 and [r["epoch"] for r in manifest["history"]] == [1, 2]
    assert {"loss", "bpp", "mse", "psnr", "val_loss"} <= set(manifest["metrics"])
    codec = LossyCodec.from_checkpoint(tmp_path / "run")
    blob = codec.compress(images[:4])
    assert codec.decompress(blob).images.shape == (4, 28, 28, 1)
    with pytest.raises(ValueError, match="another configuration"):
        train_codec(CodecTrainConfig(**SMALL, epochs=2, lmbda=0.05), tmp_path / "run", train_images=images)


# -- command line --------------------------------------------------------------------------
def _cli(*argv):
    """Run ``python -m vae`` in this process: (status, stdout, stderr)."""
    from contextlib import redirect_stderr, redirect_stdout

    from vae import cli

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = cli.main([str(a) for a in argv])
    return status, out.getvalue(), err.getvalue()


def test_cli_compresses_and_decompresses_grey_digits_lossily(trained, codec, digits, tmp_path):
    from PIL import Image

    source = tmp_path / "digits.npz"
    np.savez(source, images=np.rint(digits[:30, ..., 0] * 255).astype(np.uint8))
    packed = tmp_path / "digits.vae"
    status, out, err = _cli("compress", source, "-o", packed, "--checkpoint", trained[0])
    assert status == 0 and err == "" and "lossily" in out and "bits/pixel" in out
    header = json.loads(json.dumps(rates(packed.read_bytes())))  # a readable lossy file
    assert header["total"] == pytest.approx(8 * packed.stat().st_size / (30 * 784))
    restored = tmp_path / "restored.npz"
    status, out, err = _cli("decompress", packed, "-o", restored, "--checkpoint", trained[0])
    assert status == 0, err
    with np.load(restored) as archive:
        images = archive["images"]
    expected = codec.encode(np.rint(digits[:30] * 255).astype(np.uint8) / 255.0).reconstruction
    assert images.dtype == np.float32 and np.array_equal(images, expected[..., 0])

    folder = tmp_path / "pngs"  # PNG names travel through the file
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.rint(digits[i, ..., 0] * 255).astype(np.uint8)).save(folder / f"digit-{i}.png")
    assert _cli("compress", folder, "-o", tmp_path / "pngs.vae", "--checkpoint", trained[0])[0] == 0
    assert _cli("decompress", tmp_path / "pngs.vae", "-o", tmp_path / "back", "--checkpoint", trained[0])[0] == 0
    assert sorted(p.name for p in (tmp_path / "back").iterdir()) == ["digit-0.png", "digit-1.png", "digit-2.png"]
    with Image.open(tmp_path / "back" / "digit-1.png") as image:
        assert image.mode == "L" and image.size == (28, 28)


def test_cli_refuses_damaged_files_wrong_models_and_mixed_kinds(trained, tmp_path):
    source = tmp_path / "digits.npz"
    np.savez(source, images=data.load_mnist("test")[0][:5])
    packed = tmp_path / "digits.vae"
    assert _cli("compress", source, "-o", packed, "--checkpoint", trained[0])[0] == 0
    damaged = tmp_path / "damaged.vae"
    damaged.write_bytes(packed.read_bytes()[:-7])
    status, _, err = _cli("decompress", damaged, "-o", tmp_path / "x.npz", "--checkpoint", trained[0])
    assert status == 1 and err.count("\n") == 1 and ("truncated" in err or "damaged" in err)
    status, _, err = _cli("decompress", packed, "-o", tmp_path / "y.npz")  # its model is not a shipped one
    assert status == 2 and "no shipped lossy codec" in err
    status, _, err = _cli("compress", source, "-o", tmp_path / "z.vae", "--checkpoint", tmp_path / "nowhere")
    assert status == 2 and "manifest" in err
    binary = tmp_path / "binary.npz"
    np.savez(binary, images=(data.load_mnist("test")[0][:2, ..., 0] > 0.5).astype(np.uint8))
    lossless = tmp_path / "lossless.vae"
    assert _cli("compress", binary, "-o", lossless, "--model", "conv")[0] == 0
    status, _, err = _cli("decompress", lossless, "-o", tmp_path / "w.npz", "--checkpoint", trained[0])
    assert status == 2 and "lossless" in err
    status, _, err = _cli("compress", tmp_path / "missing.npz", "-o", tmp_path / "v.vae", "--checkpoint", trained[0])
    assert status == 1 and "no such file" in err


# -- quality and curves ------------------------------------------------------------------
def test_distortion_measures_agree_with_their_definitions(digits):
    from vae.lossy.quality import distortion, ssim

    original = digits[:8]
    shifted = np.clip(original + 0.1, 0, 1)
    measured = distortion(original, shifted)
    error = (original - shifted).reshape(8, -1)
    assert measured["mse"] == pytest.approx(np.mean(error ** 2) * 255 ** 2, rel=1e-6)
    assert measured["psnr"] == pytest.approx(np.mean(10 * np.log10(1 / np.mean(error ** 2, axis=1))), rel=1e-6)
    assert np.allclose(ssim(original, original), 1.0)
    assert 0 < measured["ssim"] < 1
    assert distortion(original, np.zeros_like(original))["ssim"] < measured["ssim"]


def test_anchor_points_bracket_the_learned_range():
    from vae.lossy.curves import anchor_points

    sweep = [{"psnr": q, "bpp": 0.1 * i + 0.1} for i, q in enumerate([12, 18, 24, 28, 31, 35, 40, 48])]
    chosen = [p["psnr"] for p in anchor_points(sweep, 25.0, 33.0)]
    assert chosen == [24, 28, 31, 35]
    assert [p["psnr"] for p in anchor_points(sweep, 29.0, 30.0)] == [24, 28, 31, 35]  # widened to 4
    assert [p["psnr"] for p in anchor_points(sweep, 10.0, 60.0)] == [12, 18, 24, 28, 31, 35, 40, 48]


def test_measure_bd_rates_and_record_round_trip(codec, digits, tmp_path):
    from vae.lossy import curves

    measured = curves.measure(digits[:50], {"small": codec}, classical=["JPEG"], per_side=5)
    point = measured["learned"][0]
    assert point["bytes"] == len(codec.compress(digits[:50]))
    assert point["bpp"] == pytest.approx(8 * point["bytes"] / (50 * 784))
    assert len(measured["classical"]["JPEG"]) == len(baselines.SWEEPS["JPEG"])
    four = {**measured, "learned": [{**point, "psnr": point["psnr"] + d, "bpp": point["bpp"] * 2 ** d}
                                    for d in (-1.5, -0.5, 0.5, 1.5)]}
    result = curves.bd_rates(four)["JPEG"]
    assert result["anchor_points"] >= 4 and result["psnr_range"][0] < result["psnr_range"][1]
    jpeg = four["classical"]["JPEG"]  # against itself, the delta rate is zero
    assert curves.bd_rates({"learned": jpeg, "classical": {"JPEG": jpeg}})["JPEG"]["bd_rate"] == pytest.approx(0, abs=1e-6)
    stored = curves.record(measured, "test command", tmp_path / "curves.json")
    assert curves.recorded(tmp_path / "curves.json") == json.loads(json.dumps(stored))
    assert stored["command"] == "test command" and "pillow" in stored["versions"]
    sizes = curves.per_digit_bytes(codec, digits[:3])
    assert sizes.shape == (3,) and np.all(sizes == [len(codec.compress(d[None])) for d in digits[:3]])


def test_train_codec_can_start_from_another_codecs_weights(trained, tmp_path):
    images = data.load_mnist("train")[0][:64]
    config = CodecTrainConfig(**SMALL, lmbda=0.002, epochs=1, batch_size=32, validation_images=16,
                              init_from=str(trained[0]))
    fresh = new_codec(config)
    source_weights = trained[1].get_weights()
    assert not all(np.array_equal(a, b) for a, b in zip(fresh.get_weights(), source_weights))
    _, manifest = train_codec(config, tmp_path / "run", train_images=images, test_images=images[:16])
    assert manifest["initialised_from"]["weights_sha256"] == storage.load_codec(trained[0])[2]["weights_sha256"]
    assert manifest["initialised_from"]["lmbda"] == pytest.approx(0.01)
    other_sizes = CodecTrainConfig(channels=4, hyper_channels=4, filters=32, hyper_filters=16, epochs=1,
                                   init_from=str(trained[0]))
    with pytest.raises(ValueError, match="other sizes"):
        train_codec(other_sizes, tmp_path / "other", train_images=images, test_images=images[:16])

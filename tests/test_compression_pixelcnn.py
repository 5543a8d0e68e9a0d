"""Bits back with the PixelVAE (chapter 11): causal passes, the rate, wrong models."""

import constriction
import numpy as np
import pytest

from small_codec_models import small_pixelvae
from vae import checkpoint, cli, data, losses
from vae.compression import BitsBackCodec, CompressionError, bits_per_dim
from vae.compression import _autoregressive as autoregressive
from vae.models import MLPVAE


@pytest.fixture(scope="module")
def model():
    return small_pixelvae()


@pytest.fixture(scope="module")
def codec(model):
    return BitsBackCodec(model, "pixel-small", "1" * 64, batch_size=4)


@pytest.fixture(scope="module")
def digits():
    images, _ = data.binarized_test_set(limit=16)
    return images[..., 0].astype(np.uint8)


@pytest.mark.parametrize("position", [0, 1, 27, 28, 29, 300, 783])
def test_the_teacher_forced_pass_is_exactly_causal(model, digits, position):
    """Logits of the known prefix are the same bits whatever the later pixels are (set to 0 by the receiver)."""
    images = digits[:4].astype(np.float32)[..., None]
    codes = np.random.default_rng(position).standard_normal((4, 3)).astype(np.float32)
    partial = images.reshape(4, 784).copy()
    partial[:, position:] = 0
    full = np.asarray(model.decode_logits(images, codes)).reshape(4, 784)
    cut = np.asarray(model.decode_logits(partial.reshape(4, 28, 28, 1), codes)).reshape(4, 784)
    assert np.array_equal(cut[:, :position + 1], full[:, :position + 1])
    if position < 783:  # the last pixel conditions no logit
        assert not np.array_equal(cut, full)  # the later pixels do change the later logits


def test_the_codec_passes_are_exactly_causal(model, digits):
    """The receiver's links on a half-decoded image, and its row pass on a half-decoded row, match the sender's."""
    passes = autoregressive._passes(model)
    images = digits[:4].astype(np.float32)[..., None]
    conditions = passes.conditions(np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32))
    row, column = 14, 9
    partial = images.copy()
    partial[:, row:] = 0
    full_links, cut_links = passes.links(images, conditions), passes.links(partial, conditions)
    for full, cut in zip(full_links, cut_links):
        assert np.array_equal(np.asarray(full)[:, :row + 1], np.asarray(cut)[:, :row + 1])
    inputs = autoregressive._row_inputs(full_links, conditions, row)
    current = images[:, row:row + 1].copy()
    full_row = np.asarray(passes.row_logits(current, *inputs))
    current[:, :, column:] = 0
    cut_row = np.asarray(passes.row_logits(current, *inputs))
    assert np.array_equal(cut_row[:, :, :column + 1], full_row[:, :, :column + 1])


def test_pushing_the_pixels_costs_their_log_likelihood(model, digits):
    """The stack grows by -log2 p(x|z), computed independently by the model's teacher-forced log_prob."""
    images = digits[:8]
    codes = np.random.default_rng(1).standard_normal((8, 3)).astype(np.float32)
    # start from random words, as the codec does: on an empty stack (state 0) leading zeros would cost nothing
    start = np.random.default_rng(2).integers(0, 2**32, size=8, dtype=np.uint32)
    coder = constriction.stream.stack.AnsCoder(start, seal=True)
    before = coder.num_bits()
    autoregressive.push_pixels(coder, model, images, codes)
    bits = -float(np.sum(model.log_prob(images.astype(np.float32)[..., None], codes))) / np.log(2)
    assert abs(bits / (8 * 784) - 1) > 0.2  # far from a uniform model's bit per pixel: the check means something
    assert abs(coder.num_bits() - before - bits) < 64 + 0.002 * bits


def test_rate_is_near_the_negative_elbo_plus_the_initial_bits(codec, model, digits):
    blob = codec.compress(digits)
    x = digits.astype(np.float32)[..., None]
    negative_elbo = -np.mean([np.mean(losses.elbo(model, x, seed=seed)) for seed in range(20)])  # nats/image
    expected = negative_elbo / (784 * np.log(2))  # bits/pixel
    rates = bits_per_dim(blob)
    assert rates["initial_bits"] > 0
    assert rates["net"] == pytest.approx(expected, rel=0.03)
    assert rates["payload"] == pytest.approx(expected + rates["initial_bits"] / (16 * 784), rel=0.03)


def test_a_pixelvae_file_and_a_factorized_model_refuse_each_other(codec, model, digits):
    blob = codec.compress(digits[:2])
    factorized = BitsBackCodec(MLPVAE(latent_dim=3, hidden=(8,), seed=1), codec.name, codec.weights_sha256)
    with pytest.raises(CompressionError, match="conv VAE with a pixelcnn decoder"):
        factorized.decompress(blob)
    with pytest.raises(CompressionError, match="mlp VAE with a factorized decoder"):
        codec.decompress(factorized.compress(digits[:2]))
    other = BitsBackCodec(small_pixelvae(seed=1), codec.name, "2" * 64, batch_size=4)
    with pytest.raises(CompressionError, match="weights"):
        other.decompress(blob)


def test_the_cli_compresses_with_a_pixelvae_checkpoint(model, digits, tmp_path):
    folder = tmp_path / "pixelvae"
    checkpoint.save_checkpoint(model, folder, {"note": "test"})
    source, packed, restored = tmp_path / "in.npz", tmp_path / "digits.vae", tmp_path / "out.npz"
    np.savez(source, images=digits[:3])
    assert cli.main(["compress", str(source), "-o", str(packed), "--checkpoint", str(folder)]) == 0
    assert cli.main(["decompress", str(packed), "-o", str(restored), "--checkpoint", str(folder)]) == 0
    with np.load(restored) as archive:
        assert np.array_equal(archive["images"], digits[:3])


def test_a_file_written_before_the_decoder_field_still_decodes_with_a_factorized_model(digits):
    from vae.compression import container

    codec = BitsBackCodec(MLPVAE(latent_dim=2, hidden=(8,), seed=1), "tiny", "0" * 64, batch_size=3)
    header, body = container.unpack(codec.compress(digits[:4]))
    old = {key: value for key, value in header.items()
           if key not in ("architecture", "decoder", "format_version", "body_bytes", "body_sha256")}
    assert np.array_equal(codec.decompress(container.pack(old, body)).images, digits[:4])


def test_decompress_with_another_pixelvae_checkpoint_fails_in_one_line(model, digits, tmp_path, capsys):
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    checkpoint.save_checkpoint(model, ours, {"note": "test"})
    checkpoint.save_checkpoint(small_pixelvae(seed=1), theirs, {"note": "test"})
    packed = tmp_path / "digits.vae"
    packed.write_bytes(BitsBackCodec.from_checkpoint(ours, batch_size=4).compress(digits[:2]))
    capsys.readouterr()
    assert cli.main(["decompress", str(packed), "-o", str(tmp_path / "out.npz"), "--checkpoint", str(theirs)]) == 1
    error = capsys.readouterr().err.strip()
    assert "weights" in error and "\n" not in error
    assert not (tmp_path / "out.npz").exists()

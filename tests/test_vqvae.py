"""vae.vq: the VQ-VAE (codebook, straight-through, restarts), its PixelCNN prior, exact coding, files, CLI, samples."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from other_process import MANY_THREADS, ONE_THREAD, run_python
from vae import cli, data
from vae.checkpoint import CheckpointError
from vae.compression import CompressionError
from vae.lossy import container, exact
from vae.lossy.container import LOSSLESS_MAGIC
from vae.vq import VQVAE, codebook_usage, storage
from vae.vq.coding import VQCodec
from vae.vq.prior import causal_mask, exact_logits, exact_ops
from vae.vq.tables import derive_tables, exponential_table
from vae.vq.training import VQTrainConfig, train_vqvae

SMALL = {"codebook_size": 32, "code_dim": 8, "filters": 16, "prior_embedding": 8, "prior_filters": 16,
         "prior_layers": 2}


@pytest.fixture(scope="module")
def digits():
    return data.load_mnist("test")[0][:200]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small VQ-VAE trained by train_vqvae for 2 epochs on 1280 digits: (directory, model, manifest)."""
    train, _ = data.load_mnist("train")
    test = data.load_mnist("test")[0][:100]
    directory = tmp_path_factory.mktemp("vq") / "small-vq"
    config = VQTrainConfig(**SMALL, epochs=2, batch_size=64, learning_rate=3e-3, validation_images=100)
    model, manifest = train_vqvae(config, directory, train_images=train[:1280], test_images=test,
                                  command="test", evaluation_images=60)
    return directory, model, manifest


# -- the model ----------------------------------------------------------------------------
def test_shapes_ranges_and_the_nearest_entry():
    model = VQVAE(**SMALL)
    x = np.random.default_rng(0).random((3, 28, 28, 1)).astype(np.float32)
    z_e = model.encode(x)
    assert z_e.shape == (3, 7, 7, 8)
    indices = model.indices(x).numpy()
    assert indices.shape == (3, 7, 7) and indices.min() >= 0 and indices.max() < 32
    codebook = model.codebook.numpy()
    distances = ((z_e.numpy()[..., None, :] - codebook) ** 2).sum(-1)
    np.testing.assert_array_equal(indices, distances.argmin(-1))
    out = model.decode(indices).numpy()
    assert out.shape == (3, 28, 28, 1) and out.min() >= 0 and out.max() <= 1
    assert model.prior_logits(indices).shape == (3, 7, 7, 32)


def test_straight_through_gradients_reach_the_encoder_and_the_losses_reach_the_codebook():
    model = VQVAE(**SMALL)
    x = data.load_mnist("test")[0][:8]
    with tf.GradientTape(persistent=True) as tape:
        values = model.losses_of(x, training=True)
        distortion = values["mse"]
    encoder_gradient = tape.gradient(distortion, model.encoder.trainable_variables[0])
    assert encoder_gradient is not None and float(tf.reduce_sum(tf.abs(encoder_gradient))) > 0
    # the reconstruction alone does not move the codebook (straight through); the codebook loss does
    assert tape.gradient(distortion, model.codebook) is None
    codebook_gradient = tape.gradient(values["loss"], model.codebook)
    assert codebook_gradient is not None and float(tf.reduce_sum(tf.abs(codebook_gradient))) > 0
    # the prior's cross-entropy does not reach the encoder (its targets are constants)
    prior_nats = values["prior_bits"]
    assert tape.gradient(prior_nats, model.encoder.trainable_variables[0]) is None


def test_the_prior_is_causal_in_raster_order():
    model = VQVAE(**SMALL)
    rng = np.random.default_rng(1)
    grid = rng.integers(0, 32, (1, 7, 7)).astype(np.int32)
    base = model.prior_logits(grid).numpy()
    for position in (0, 10, 24, 48):
        row, col = divmod(position, 7)
        changed = grid.copy()
        changed[0, row, col] = (changed[0, row, col] + 1) % 32
        moved = np.abs(model.prior_logits(changed).numpy() - base).max(axis=-1)[0].ravel()
        assert np.all(moved[:position + 1] == 0), position  # nothing at or before the changed index moves
        if position < 48:
            assert moved[position + 1] > 0 or moved[position + 7:].max() > 0
    assert causal_mask(3, False)[:, :, 0, 0].tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert causal_mask(3, True)[:, :, 0, 0].tolist() == [[1, 1, 1], [1, 1, 0], [0, 0, 0]]


def test_the_exact_prior_matches_the_float_one_and_cut_grids_give_the_same_logits():
    model = VQVAE(**SMALL)
    grid = np.random.default_rng(2).integers(0, 32, (4, 7, 7))
    embedding, ops = exact_ops(model.prior)
    logits = exact_logits(embedding, ops, grid)
    np.testing.assert_allclose(logits, model.prior_logits(grid).numpy(), atol=2e-3)
    assert np.all(logits * 2 ** exact.ACTIVATION_BITS == np.rint(logits * 2 ** exact.ACTIVATION_BITS))
    for rows in (1, 4):
        placeholder = grid.copy()
        placeholder[:, rows:] = 0  # rows not yet decoded hold anything
        np.testing.assert_array_equal(exact_logits(embedding, ops, placeholder[:, :rows]), logits[:, :rows])


def test_integer_weights_are_the_quantized_softmax():
    table = exponential_table()
    assert table[0] == 2 ** 16 and table[-1] == 1 and np.all(np.diff(table) <= 0) and table.dtype == np.int64
    tables = derive_tables(VQVAE(**SMALL))
    logits = np.array([[0, -64, -128, -10 ** 9]]) * 1  # units of 2**-12: 0, -1/64, -2/64 nat, far below
    weights = tables.weights(logits)
    assert weights.tolist() == [[table[0], table[1], table[2], 1]]
    p = weights[0, :3] / weights[0, :3].sum()
    q = np.exp(-np.arange(3) / 64)
    np.testing.assert_allclose(p, q / q.sum(), rtol=1e-4)


def test_dead_code_restarts_cure_a_collapsed_codebook():
    """Start collapsed (every entry but one far from the encoder's outputs); count the entries in use after."""
    x = data.load_mnist("train")[0][:256]

    def used_after(restarts: bool) -> dict:
        keras.utils.set_random_seed(0)
        model = VQVAE(**SMALL, restarts=restarts, usage_decay=0.5)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        far = np.full((32, 8), 50.0, np.float32)
        far[0] = 0.0
        model.codebook.assign(far)
        before = codebook_usage(model.indices(x).numpy(), 32)
        model.fit(data.training_batches(x, 32, epoch=0, seed=0, binarize=False).repeat(2), verbose=0)
        return before, codebook_usage(model.indices(x).numpy(), 32), float(model.restarted.numpy())

    before, without, none_restarted = used_after(False)
    _, cured, restarted = used_after(True)
    assert before["used"] == 1 and before["perplexity"] == pytest.approx(1.0)
    assert without["used"] <= 2 and none_restarted == 0
    assert restarted > 0 and cured["used"] >= 8 and cured["perplexity"] > 4 * without["perplexity"]


def test_codebook_usage():
    usage = codebook_usage(np.array([0, 0, 1, 1, 2, 2, 3, 3]), 8)
    assert usage["used"] == 4 and usage["fraction"] == 0.5 and usage["perplexity"] == pytest.approx(4.0)


def test_samples_have_the_right_shape_and_range():
    model = VQVAE(**SMALL)
    samples = model.sample(5, seed=3)
    assert samples.shape == (5, 28, 28, 1) and samples.dtype == np.float32
    assert samples.min() >= 0 and samples.max() <= 1
    grids = model.sample_indices(5, seed=3)
    assert grids.shape == (5, 7, 7) and grids.min() >= 0 and grids.max() < 32
    np.testing.assert_array_equal(grids, model.sample_indices(5, seed=3))


# -- training and checkpoints ---------------------------------------------------------------
def test_training_writes_a_checkpoint_with_its_figures(trained):
    directory, model, manifest = trained
    assert manifest["command"] == "test" and manifest["epochs"] == 2 and manifest["cpu_seconds"] > 0
    assert manifest["images_per_second"] > 0 and manifest["weights_dtype"] == "float16"
    test = manifest["test"]
    assert test["digits"] == 60 and test["bytes"] > 0 and 0 < test["bpp"] < 1
    assert test["bpp"] == pytest.approx(8 * test["bytes"] / (60 * 784))
    assert 0 < test["prior_bits_per_index"] <= 5 + 0.01 and 1 <= test["codebook"]["used"] <= 32
    assert test["prior_bits_per_index"] == pytest.approx(test["prior_float_bits_per_index"], abs=0.05)
    assert 10 < test["psnr"] < 40 and 0 < test["ssim"] <= 1
    assert json.loads((directory / "manifest.json").read_text())["test"] == test
    history = manifest["history"]
    assert history[-1]["val_mse"] < history[0]["val_mse"] * 1.05 and "restarted" in history[-1]


def test_a_stopped_run_resumes(tmp_path):
    train, _ = data.load_mnist("train")
    base = {**SMALL, "batch_size": 64, "learning_rate_schedule": "constant", "validation_images": 50}
    test = data.load_mnist("test")[0][:50]
    train_vqvae(VQTrainConfig(**base, epochs=1), tmp_path, train_images=train[:256], test_images=test,
                evaluation_images=0)
    _, manifest = train_vqvae(VQTrainConfig(**base, epochs=2), tmp_path, train_images=train[:256],
                              test_images=test, evaluation_images=0)
    assert manifest["epochs"] == 2 and [r["epoch"] for r in manifest["history"]] == [1, 2]
    with pytest.raises(ValueError, match="another configuration"):
        train_vqvae(VQTrainConfig(**{**base, "code_dim": 4}, epochs=2), tmp_path, train_images=train[:256],
                    test_images=test, evaluation_images=0)


def test_a_tampered_checkpoint_is_refused(trained, tmp_path):
    directory = trained[0]
    copy = tmp_path / "copy"
    copy.mkdir()
    for file in directory.iterdir():
        if file.is_file():
            (copy / file.name).write_bytes(file.read_bytes())
    model, _, _ = storage.load_vqvae(copy)
    weights = model.get_weights()
    assert all(np.array_equal(w, w.astype(np.float16).astype(w.dtype)) for w in weights)  # float16 values
    np.testing.assert_array_equal(weights[0], trained[1].get_weights()[0].astype(np.float16).astype(np.float32))
    tables = bytearray((copy / storage.TABLES_FILE).read_bytes())
    tables[-10] ^= 1
    (copy / storage.TABLES_FILE).write_bytes(bytes(tables))
    with pytest.raises(CheckpointError, match="does not match"):
        storage.load_vqvae(copy)


# -- coding -------------------------------------------------------------------------------
def test_round_trip_is_exact_and_the_file_costs_what_the_prior_says(trained, digits):
    codec = VQCodec.from_checkpoint(trained[0])
    encoded = codec.encode(digits[:30])
    indices, header = codec.decode_indices(encoded.blob)
    np.testing.assert_array_equal(indices, codec.indices(digits[:30]))
    restored = codec.decompress(encoded.blob)
    assert restored.images.dtype == np.float32 and np.array_equal(restored.images, encoded.reconstruction)
    assert header["lossy"] is True and header["architecture"] == "vqvae" and header["model"] == "small-vq"
    payload_bits = 32 * header["payload_words"]
    assert encoded.bits.sum() <= payload_bits <= encoded.bits.sum() + 64
    # the exact decoder is the float one up to the integer grids
    float_reconstruction = codec.model.decode(indices).numpy()
    assert np.abs(float_reconstruction - encoded.reconstruction).max() < 2e-2


def test_damaged_truncated_and_foreign_files_are_refused(trained, digits):
    codec = VQCodec.from_checkpoint(trained[0])
    blob = codec.compress(digits[:5])
    with pytest.raises(CompressionError):
        codec.decompress(blob[:-4])
    damaged = bytearray(blob)
    damaged[-3] ^= 0x10
    with pytest.raises(CompressionError):
        codec.decompress(bytes(damaged))
    other = VQCodec(codec.model, codec.tables, "other", "0" * 64, codec.tables_sha256)
    with pytest.raises(CompressionError, match="compressed with lossy model 'small-vq'"):
        other.decompress(blob)
    hyperprior_like = container.pack({"model": "hyperprior-q2", "count": 1}, b"\0\0\0\0")
    with pytest.raises(CompressionError, match="not a VQ-VAE"):
        codec.decompress(hyperprior_like)
    with pytest.raises(CompressionError, match="lossless"):
        codec.decompress(LOSSLESS_MAGIC + blob[8:])


_ENCODE = """
import sys, numpy as np, vae
vae.quiet(0)
from vae import data
from vae.vq.coding import VQCodec
codec = VQCodec.from_checkpoint(sys.argv[1])
encoded = codec.encode(data.load_mnist("test")[0][:40])
open(sys.argv[2], "wb").write(encoded.blob)
np.save(sys.argv[3], encoded.reconstruction)
print("encoded")
"""
_DECODE = """
import sys, numpy as np, vae
vae.quiet(0)
from vae.vq.coding import VQCodec
codec = VQCodec.from_checkpoint(sys.argv[1])
images = codec.decompress(open(sys.argv[2], "rb").read()).images
print("same" if np.array_equal(images, np.load(sys.argv[3])) else "different")
"""


def test_a_file_decodes_exactly_in_another_process_with_other_thread_settings(trained, tmp_path):
    directory = trained[0]
    blob, reconstruction = tmp_path / "digits.vlc", tmp_path / "reconstruction.npy"
    assert run_python(_ENCODE, [directory, blob, reconstruction], ONE_THREAD) == "encoded"
    assert run_python(_DECODE, [directory, blob, reconstruction], MANY_THREADS) == "same"


# -- the command line ---------------------------------------------------------------------
def test_compress_and_decompress_with_a_vqvae_checkpoint(trained, digits, tmp_path, capsys):
    directory = trained[0]
    source, packed, restored = tmp_path / "digits.npz", tmp_path / "digits.vq", tmp_path / "back.npz"
    np.savez(source, images=digits[:6])
    assert cli.main(["compress", str(source), "-o", str(packed), "--checkpoint", str(directory)]) == 0
    assert "VQ-VAE" in capsys.readouterr().out
    header = json.loads(packed.read_bytes()[12:12 + int.from_bytes(packed.read_bytes()[8:12], "little")])
    assert header["lossy"] is True and header["architecture"] == "vqvae"
    assert cli.main(["decompress", str(packed), "-o", str(restored), "--checkpoint", str(directory)]) == 0
    with np.load(restored) as store:
        images = store[store.files[0]]
    codec = VQCodec.from_checkpoint(directory)
    assert np.array_equal(images.reshape(6, 28, 28, 1), codec.encode(digits[:6]).reconstruction)
    hyperprior = storage.SHIPPED.parent / "lossy" / "hyperprior-q2"
    assert cli.main(["decompress", str(packed), "-o", str(tmp_path / "x.npz"), "--checkpoint",
                     str(hyperprior)]) == 2
    assert "VQ-VAE" in capsys.readouterr().err


def test_train_vqvae_is_on_the_command_line():
    args = cli.build_parser().parse_args(["train-vqvae", "--name", "x", "--codebook-size", "64", "--no-restarts"])
    assert args.codebook_size == 64 and args.no_restarts and args.epochs == 6


def test_vq_points_join_the_recorded_curves_without_touching_them(trained, tmp_path):
    from vae.lossy import curves
    from vae.vq import record

    copy = tmp_path / "rate_distortion.json"
    copy.write_text(curves.RECORD_FILE.read_text())
    before = json.loads(copy.read_text())
    point = trained[2]["test"]
    with pytest.raises(ValueError, match="digits"):
        record.record_points([point], "test", path=copy)
    document = record.record_points([{**point, "digits": before["digits"]}], "a command", path=copy)
    stored = json.loads(copy.read_text())
    assert stored == document and stored["vqvae_command"] == "a command" and len(stored["vqvae"]) == 1
    untouched = [key for key in before if not key.startswith("vqvae")]
    assert "classical" in untouched and all(stored[key] == before[key] for key in untouched)


# -- the shipped checkpoint -----------------------------------------------------------------
def test_the_shipped_vqvae_codes_digits_through_the_command_line(digits, tmp_path, capsys):
    names = storage.shipped_vqvaes()
    assert "vqvae-k256" in names
    for name in names:
        directory = storage.shipped_vqvae_dir(name)
        assert sum(f.stat().st_size for f in directory.iterdir()) < 3e6
        manifest = json.loads((directory / "manifest.json").read_text())
        assert manifest["command"].startswith("python -m vae train-vqvae") and manifest["cpu_minutes"] <= 35
        test = manifest["test"]
        assert test["digits"] == 2000 and test["codebook"]["used"] > 0.9 * manifest["model"]["codebook_size"]
        assert 0 < test["bpp"] < 0.5 and test["psnr"] > 24
    source, packed, restored = tmp_path / "digits.npz", tmp_path / "digits.vq", tmp_path / "back.npz"
    np.savez(source, images=digits[:5])
    assert cli.main(["compress", str(source), "-o", str(packed), "--model", "vqvae-k256"]) == 0
    assert cli.main(["decompress", str(packed), "-o", str(restored)]) == 0
    assert "vqvae-k256" in capsys.readouterr().out
    with np.load(restored) as store:
        images = store[store.files[0]].reshape(5, 28, 28, 1)
    assert np.array_equal(images, VQCodec.pretrained("vqvae-k256").encode(digits[:5]).reconstruction)
    assert float(np.mean((images - digits[:5]) ** 2)) < 0.01

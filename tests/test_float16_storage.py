"""Checkpoints stored in float16 (checkpoint.store_weights_in_float16, ``python -m vae store-float16``)."""

import json

import numpy as np
import pytest

from vae import checkpoint, cli, evaluation
from vae.models import ConvVAE


@pytest.fixture
def saved(tmp_path, binary_images):
    model = ConvVAE(latent_dim=4, filters=(8, 16), hidden=32, seed=3, prior="vampprior", pseudo_inputs=5)
    folder = tmp_path / "model"
    figures = {"k=5,n=8,seed=0": {"nll": 123.0}}
    checkpoint.save_checkpoint(model, folder, {"note": "test", "evaluations": figures,
                                               "compression": {"bits-back": {"bytes": 1}}})
    return model, folder


def test_the_weights_become_their_float16_rounding_in_a_file_about_half_the_size(saved, binary_images):
    model, folder = saved
    weights = folder / checkpoint.WEIGHTS_FILE
    before, old_digest = weights.stat().st_size, checkpoint.read_manifest(folder)["weights_sha256"]
    checkpoint.store_weights_in_float16(folder)
    assert weights.stat().st_size < 0.6 * before
    restored, manifest = checkpoint.load_checkpoint(folder)  # the new digest is verified on loading
    assert manifest["weights_dtype"] == "float16" and manifest["float32_weights_sha256"] == old_digest
    assert manifest["weights_sha256"] == checkpoint.sha256_file(weights) != old_digest
    assert len(restored.get_weights()) == len(model.get_weights())  # the pseudo-inputs too
    changed = False
    for original, loaded in zip(model.get_weights(), restored.get_weights()):
        assert loaded.dtype == np.float32  # the model still computes in float32
        assert np.array_equal(loaded, original.astype(np.float16).astype(np.float32))
        changed |= not np.array_equal(loaded, original)
    assert changed  # the rounding did happen
    # the same model within rounding: an ELBO of a few hundred nats moves by well under a nat
    elbo_32 = evaluation.evaluate(model, binary_images, k=1, batch_size=8).elbo
    elbo_16 = evaluation.evaluate(restored, binary_images, k=1, batch_size=8).elbo
    assert elbo_16 != elbo_32 and abs(elbo_16 - elbo_32) < 0.1


def test_figures_measured_with_float32_weights_move_aside(saved):
    _, folder = saved
    manifest = checkpoint.store_weights_in_float16(folder)
    assert "evaluations" not in manifest and "compression" not in manifest
    assert manifest["float32_figures"]["evaluations"] == {"k=5,n=8,seed=0": {"nll": 123.0}}
    assert manifest["float32_figures"]["compression"] == {"bits-back": {"bytes": 1}}
    assert manifest["note"] == "test" and manifest["model"]["prior"] == "vampprior"
    assert json.loads((folder / checkpoint.MANIFEST_FILE).read_text()) == manifest


def test_a_second_conversion_and_an_out_of_range_weight_are_refused(saved, tmp_path):
    model, folder = saved
    checkpoint.store_weights_in_float16(folder)
    digest = checkpoint.read_manifest(folder)["weights_sha256"]
    with pytest.raises(checkpoint.CheckpointError, match="float16 already"):
        checkpoint.store_weights_in_float16(folder)
    assert checkpoint.read_manifest(folder)["weights_sha256"] == digest  # nothing touched
    big = tmp_path / "big"
    model.encoder.weights[0].assign(model.encoder.weights[0] * 0 + 1e5)
    checkpoint.save_checkpoint(model, big, {"note": "test"})
    with pytest.raises(checkpoint.CheckpointError, match="beyond float16's range"):
        checkpoint.store_weights_in_float16(big)
    assert "weights_dtype" not in checkpoint.read_manifest(big)


def test_the_cli_converts_and_says_what_moved(saved, capsys, tmp_path):
    _, folder = saved
    assert cli.main(["store-float16", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "in float16" in out and "evaluations, compression" in out
    assert cli.main(["store-float16", str(folder)]) == 1
    error = capsys.readouterr().err.strip()
    assert "float16 already" in error and "\n" not in error
    assert cli.main(["store-float16", str(tmp_path / "nowhere")]) == 2
    assert "not a checkpoint folder" in capsys.readouterr().err


def test_a_bad_dtype_is_refused(tmp_path, mlp_model):
    with pytest.raises(ValueError, match="float32' or 'float16"):
        checkpoint.save_weights_atomic(mlp_model, tmp_path / "w.weights.h5", dtype="bfloat16")

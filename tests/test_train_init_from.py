"""``train --init-from DIR``: a VAE run that starts from a finished checkpoint's weights (chapter 11)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vae import checkpoint, data, pretrained, training
from vae._resumable import INITIALISED_FROM_FILE
from vae.cli import main

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"architecture": "conv", "latent_dim": 4, "batch_size": 64}
SIZES = {"filters": [4, 8], "hidden": 16}
VAMPPRIOR = {**SIZES, "prior": "vampprior", "pseudo_inputs": 3}


def config(seed=2, model_options=SIZES, **changes):
    return training.TrainConfig(**{**SMALL, "seed": seed, "model_options": model_options, **changes})


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A small conv VAE's checkpoint (seed 1, untrained: a fresh model of seed 2 differs in every weight)."""
    directory = tmp_path_factory.mktemp("source")
    model = training.new_model(config(seed=1))
    manifest = checkpoint.save_checkpoint(model, directory, {"command": "test"})
    return directory, model, manifest


@pytest.fixture(scope="module")
def tiny_data():
    images, _ = data.load_mnist("test")
    return images[:256], data.binarize(images[256:320], seed=0)


def same(left, right) -> bool:
    return len(left) == len(right) and all(np.array_equal(a, b) for a, b in zip(left, right))


def test_initialising_copies_every_encoder_and_decoder_weight(source):
    directory, model, manifest = source
    fresh = training.new_model(config())
    assert not any(np.array_equal(a, b) for a, b in zip(fresh.encoder.get_weights(), model.encoder.get_weights())
                   if a.std() > 0)  # the kernels differ (biases start at zero in both)
    record = training._initialise_from(fresh, str(directory))
    assert same(fresh.encoder.get_weights(), model.encoder.get_weights())
    assert same(fresh.decoder.get_weights(), model.decoder.get_weights())
    assert record == {"checkpoint": str(directory), "weights_sha256": manifest["weights_sha256"], "kept_fresh": []}


def test_a_vampprior_model_gets_the_encoder_and_decoder_and_keeps_its_own_pseudo_inputs(source):
    directory, model, _ = source
    vamp = training.new_model(config(model_options=VAMPPRIOR))
    own = vamp.prior.pseudo_input_logits.numpy()
    record = training._initialise_from(vamp, str(directory))  # no training digits given
    assert same(vamp.encoder.get_weights(), model.encoder.get_weights())
    assert same(vamp.decoder.get_weights(), model.decoder.get_weights())
    np.testing.assert_array_equal(vamp.prior.pseudo_input_logits.numpy(), own)
    np.testing.assert_array_equal(own, training.new_model(config(model_options=VAMPPRIOR))
                                  .prior.pseudo_input_logits.numpy())  # the fresh initialization of seed 2
    assert record["kept_fresh"] == ["vampprior/pseudo_input_logits"]


def test_given_training_digits_the_pseudo_inputs_start_at_seeded_ones(source, tiny_data):
    directory, _, _ = source
    train_images = tiny_data[0]
    vamp = training.new_model(config(model_options=VAMPPRIOR))
    record = training._initialise_from(vamp, str(directory), train_images, seed=4)
    chosen = np.sort(np.random.default_rng(4).choice(len(train_images), 3, replace=False))
    expected = np.clip(train_images[chosen], 0.05, 0.95)
    np.testing.assert_allclose(vamp.prior.pseudo_inputs().numpy(), expected, atol=1e-5)
    assert record["kept_fresh"] == [] and record["pseudo_inputs_from"].startswith("3 training digits")
    with pytest.raises(ValueError, match="expected 3 images"):
        vamp.prior.set_pseudo_inputs(train_images[:2])


def test_the_shipped_conv_model_starts_a_vampprior_run():
    directory = pretrained.checkpoint_dir("conv")
    shipped, manifest = checkpoint.load_checkpoint(directory)
    options = {"prior": "vampprior", "pseudo_inputs": 5}
    vamp = training.new_model(training.TrainConfig(architecture="conv", latent_dim=32, model_options=options))
    record = training._initialise_from(vamp, str(directory))
    assert same(vamp.encoder.get_weights(), shipped.encoder.get_weights())
    assert same(vamp.decoder.get_weights(), shipped.decoder.get_weights())
    assert record["weights_sha256"] == manifest["weights_sha256"] == checkpoint.sha256_file(
        directory / checkpoint.WEIGHTS_FILE)


@pytest.mark.parametrize("changes, message", [
    ({"latent_dim": 3}, "latent_dim 4 there, 3 here"),
    ({"model_options": {**SIZES, "hidden": 8}}, "hidden 16 there, 8 here"),
    ({"architecture": "mlp", "model_options": {"hidden": [16]}}, "architecture 'conv' there, 'mlp' here"),
    ({"model_options": {**SIZES, "decoder": "pixelcnn", "pixelcnn_layers": 1, "pixelcnn_channels": 4}},
     "decoder 'factorized' there, 'pixelcnn' here"),
])
def test_another_model_is_refused_naming_what_differs_and_nothing_is_copied(source, changes, message):
    run = config(**changes)
    model = training.new_model(run)
    before = model.get_weights()
    with pytest.raises(ValueError, match=message):
        training._initialise_from(model, str(source[0]))
    assert same(model.get_weights(), before)


def test_the_first_weight_of_another_shape_is_named(source, tmp_path):
    vamp = training.new_model(config(model_options=VAMPPRIOR))
    checkpoint.save_checkpoint(vamp, tmp_path / "vamp", {})
    more = training.new_model(config(model_options={**VAMPPRIOR, "pseudo_inputs": 4}))
    with pytest.raises(ValueError, match=r"vampprior/pseudo_input_logits \(3, 28, 28, 1\) there and "
                                         r"vampprior/pseudo_input_logits \(4, 28, 28, 1\) here"):
        training._initialise_from(more, str(tmp_path / "vamp"))
    with pytest.raises(ValueError, match="pseudo_input_logits.*lacks; train with the same prior"):
        training._initialise_from(training.new_model(config()), str(tmp_path / "vamp"))


class Stop(Exception):
    pass


def test_the_manifest_records_the_start_and_a_resumed_run_does_not_initialize_again(source, tmp_path,
                                                                                    tiny_data, monkeypatch):
    directory = tmp_path / "conv"
    shutil.copytree(source[0], directory)
    run = config(model_options=VAMPPRIOR, epochs=2, init_from=str(directory))
    calls = []
    copy = training._initialise_from
    monkeypatch.setattr(training, "_initialise_from",
                        lambda model, folder, *rest: calls.append(folder) or copy(model, folder, *rest))

    def stop_after_the_first_epoch(record):
        raise Stop

    with pytest.raises(Stop):
        training.train(run, tmp_path / "run", *tiny_data, progress=stop_after_the_first_epoch)
    assert calls == [str(directory)] and (tmp_path / "run" / INITIALISED_FROM_FILE).is_file()
    first = json.loads((tmp_path / "run" / "state-0001" / "progress.json").read_text())["history"]
    shutil.rmtree(directory)  # resuming must not need the checkpoint it started from
    _, manifest = training.train(run, tmp_path / "run", *tiny_data, command="test")
    assert calls == [str(directory)]
    assert manifest["train_config"]["init_from"] == str(directory)
    assert manifest["initialised_from"] == {"checkpoint": str(directory), "weights_sha256": source[2]["weights_sha256"],
                                            "kept_fresh": [], "pseudo_inputs_from":
                                            "3 training digits, numpy.random.default_rng(2).choice(N, 3)"}
    assert manifest["epochs"] == 2 and manifest["history"][:1] == first
    assert checkpoint.load_checkpoint(tmp_path / "run")[0].get_config()["prior"] == "vampprior"


def test_a_run_without_init_from_records_none(tmp_path, tiny_data):
    _, manifest = training.train(config(epochs=1), tmp_path, *tiny_data)
    assert manifest["train_config"]["init_from"] is None and manifest["initialised_from"] is None
    assert not (tmp_path / INITIALISED_FROM_FILE).exists()


def test_train_help_shows_the_option():
    result = subprocess.run([sys.executable, "-m", "vae", "train", "--help"], capture_output=True, text=True,
                            timeout=120, check=False, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0 and "--init-from DIR" in result.stdout
    assert "pseudo-inputs start at" in " ".join(result.stdout.split())


def test_the_cli_refuses_another_latent_size_before_training(tmp_path, capsys):
    status = main(["train", "--name", "x", "--run-dir", str(tmp_path / "run"), "--architecture", "conv",
                   "--latent-dim", "16", "--prior", "vampprior", "--pseudo-inputs", "5", "--epochs", "1",
                   "--init-from", str(pretrained.checkpoint_dir("conv"))])
    err = capsys.readouterr().err
    assert status == 1 and "latent_dim 32 there, 16 here" in err and err.strip().count("\n") == 0
    assert not (tmp_path / "run" / "train_config.json").exists()  # the corrected command is not refused


def test_the_cli_refuses_a_folder_that_is_no_vae_checkpoint(tmp_path, capsys):
    assert main(["train", "--name", "x", "--run-dir", str(tmp_path / "run"), "--init-from", str(tmp_path)]) == 2
    assert "is not a checkpoint folder of 'train'" in capsys.readouterr().err

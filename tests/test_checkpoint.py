"""vae.checkpoint and vae.pretrained: bit-exact, verified, atomic."""

import json
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest

from vae import checkpoint, pretrained
from vae.cli import build_parser


def test_save_then_load_is_bit_exact(tmp_path, conv_model, binary_images):
    checkpoint.save_checkpoint(conv_model, tmp_path, {"note": "test"})
    loaded, manifest = checkpoint.load_checkpoint(tmp_path)
    assert manifest["note"] == "test" and manifest["model"] == conv_model.get_config()
    for saved, restored in zip(conv_model.weights, loaded.weights):
        np.testing.assert_array_equal(saved.numpy(), restored.numpy(), err_msg=saved.path)
    np.testing.assert_array_equal(conv_model.decode(conv_model.encode(binary_images)[0]),
                                  loaded.decode(loaded.encode(binary_images)[0]))


def test_manifest_records_the_weights_hash(tmp_path, mlp_model):
    manifest = checkpoint.save_checkpoint(mlp_model, tmp_path, {})
    assert manifest["weights_sha256"] == checkpoint.sha256_file(tmp_path / checkpoint.WEIGHTS_FILE)


@pytest.fixture
def saved(tmp_path, mlp_model):
    checkpoint.save_checkpoint(mlp_model, tmp_path, {})
    return tmp_path


def test_a_corrupted_weights_file_is_refused(saved):
    weights = saved / checkpoint.WEIGHTS_FILE
    content = bytearray(weights.read_bytes())
    content[len(content) // 2] ^= 0xFF
    weights.write_bytes(bytes(content))
    with pytest.raises(checkpoint.CheckpointError, match="does not match its manifest"):
        checkpoint.load_checkpoint(saved)


def test_a_truncated_weights_file_is_refused(saved):
    weights = saved / checkpoint.WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(checkpoint.CheckpointError, match="corrupted or was replaced"):
        checkpoint.load_checkpoint(saved)


def test_a_missing_or_broken_manifest_is_refused(saved):
    (saved / checkpoint.MANIFEST_FILE).write_text("{not json")
    with pytest.raises(checkpoint.CheckpointError, match="not valid JSON"):
        checkpoint.load_checkpoint(saved)
    (saved / checkpoint.MANIFEST_FILE).unlink()
    with pytest.raises(checkpoint.CheckpointError, match="no manifest.json"):
        checkpoint.load_checkpoint(saved)


def test_a_missing_weights_file_is_refused(saved):
    (saved / checkpoint.WEIGHTS_FILE).unlink()
    with pytest.raises(checkpoint.CheckpointError, match="no model.weights.h5"):
        checkpoint.load_checkpoint(saved)


def test_atomic_path_leaves_the_target_untouched_on_failure(tmp_path):
    target = tmp_path / "result.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with checkpoint.atomic_path(target) as temporary:
            temporary.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_atomic_files_get_ordinary_permissions(tmp_path):
    checkpoint.write_json_atomic(tmp_path / "a.json", {})
    assert (tmp_path / "a.json").stat().st_mode & 0o044 == 0o044  # readable by group and others


# -- the shipped models ------------------------------------------------------------------
SHIPPED = pretrained.available()
# every trained checkpoint the package ships: the models, and the controls they are compared with
TRAINED = SHIPPED + sorted(pretrained.CONTROLS.iterdir())


def checkpoint_name(name) -> str:
    """A shipped model's name, or a control folder's."""
    return name.name if isinstance(name, Path) else name



def test_at_least_a_2d_and_a_16_to_32d_model_are_shipped():
    # train_config's latent_dim is the size of z (of z_1 for a Ladder VAE, whose model config lists
    # every layer's size instead)
    latents = sorted(pretrained.manifest(name)["train_config"]["latent_dim"] for name in SHIPPED)
    assert 2 in latents
    assert any(16 <= d <= 32 for d in latents)


@pytest.mark.parametrize("name", TRAINED, ids=checkpoint_name)
def test_shipped_manifest_records_how_the_model_was_made(name):
    manifest = pretrained.manifest(name)
    for field in ("command", "train_config", "data", "epochs", "seconds", "cpu_seconds", "metrics",
                  "versions", "weights_sha256", "model"):
        assert field in manifest, field
    assert manifest["data"]["train_sha256"] == \
        "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757"
    assert manifest["epochs"] == manifest["train_config"]["epochs"] == len(manifest["history"])


@pytest.mark.parametrize("name", TRAINED, ids=checkpoint_name)
def test_shipped_model_was_trained_by_the_one_command_in_its_manifest(name):
    """Re-parse the recorded command: it names this model and gives exactly its config."""
    manifest = pretrained.manifest(name)
    words = shlex.split(manifest["command"])
    assert words[:4] == ["python", "-m", "vae", "train"]
    args = build_parser().parse_args(words[3:])
    config = manifest["train_config"]
    assert args.out.name == checkpoint_name(name)
    options = config["model_options"]
    if args.architecture == "ladder":  # --latent-dims gives every layer's size; z_1's is the latent_dim
        assert list(args.latent_dims) == options["latent_dims"]
        latent_dim = args.latent_dims[0]
    else:
        latent_dim = args.latent_dim
    assert (args.architecture, latent_dim, args.epochs, args.batch_size, args.seed) == (
        config["architecture"], config["latent_dim"], config["epochs"], config["batch_size"], config["seed"])
    assert (args.learning_rate, args.kl_warmup_epochs, args.beta) == (
        config["learning_rate"], config["kl_warmup_epochs"], config["beta"])
    assert args.learning_rate_schedule == config.get("learning_rate_schedule", "constant")
    assert args.precision == config.get("precision", "float32")
    assert (args.hidden or None) == (options.get("hidden") if isinstance(options.get("hidden"), list)
                                     else [options["hidden"]] if "hidden" in options else None)
    assert args.activation == options.get("activation")


@pytest.mark.parametrize("name", TRAINED, ids=checkpoint_name)
def test_shipped_model_loads_and_generates(name):
    model = pretrained.load(name)
    images = model.sample(4, seed=0).numpy()
    assert images.shape == (4, 28, 28, 1) and 0.0 <= images.min() and images.max() <= 1.0


def test_a_tampered_shipped_checkpoint_is_refused(tmp_path, monkeypatch):
    name = SHIPPED[0]
    shutil.copytree(pretrained.checkpoint_dir(name), tmp_path / name)
    weights = tmp_path / name / checkpoint.WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:-10])
    monkeypatch.setattr(pretrained, "CHECKPOINTS", tmp_path)
    with pytest.raises(checkpoint.CheckpointError):
        pretrained.load(name)


def test_an_unknown_shipped_name_lists_the_available_ones():
    with pytest.raises(ValueError, match="available: " + SHIPPED[0]):
        pretrained.load("no-such-model")


def test_manifest_returns_plain_json_data():
    manifest = pretrained.manifest(SHIPPED[0])
    assert json.loads(json.dumps(manifest)) == manifest


def test_a_control_is_found_by_its_folder_and_is_not_a_shipped_model():
    controls = [folder.name for folder in pretrained.CONTROLS.iterdir()]
    assert controls and not set(controls) & set(SHIPPED)
    folder = pretrained.CONTROLS / controls[0]
    assert pretrained.manifest(folder) == checkpoint.read_manifest(folder)
    with pytest.raises(ValueError, match="no shipped model"):
        pretrained.load(folder.name)


def test_recorded_evaluations_are_found_by_their_setting():
    name = SHIPPED[0]
    evaluations = pretrained.manifest(name)["evaluations"]
    assert pretrained.recorded_evaluation(name, 100, 1000) == evaluations["k=100,n=1000,seed=0"]
    assert pretrained.recorded_evaluation(name, 7, 1000) is None  # never recorded

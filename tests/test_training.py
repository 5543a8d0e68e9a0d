"""vae.training: β schedules, configs, and a resumable training run."""

import hashlib
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from vae import _resumable, checkpoint, data, training


def test_constant_beta_never_changes():
    schedule = training.constant_beta(4.0)
    assert [schedule(e) for e in (0, 0.5, 100)] == [4.0, 4.0, 4.0]


def test_linear_kl_warmup_rises_from_start_to_beta_then_stays():
    schedule = training.linear_kl_warmup(warmup_epochs=10, beta=2.0)
    assert schedule(0) == 0.0
    assert schedule(2.5) == pytest.approx(0.5)
    assert schedule(10) == 2.0 and schedule(50) == 2.0


def test_zero_warmup_is_a_constant_schedule():
    assert training.linear_kl_warmup(0, beta=1.5)(0) == 1.5


@pytest.mark.parametrize("bad", [-1.0, float("inf"), float("nan"), "1"])
def test_schedules_refuse_bad_numbers(bad):
    with pytest.raises(ValueError):
        training.linear_kl_warmup(5, beta=bad)


def test_beta_scheduler_moves_beta_within_the_epoch(mlp_model, binary_images):
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(float(self.model.beta.numpy()))

    mlp_model.compile(optimizer=keras.optimizers.Adam(1e-3))
    batches = tf.data.Dataset.from_tensor_slices(binary_images).batch(2)  # 4 steps
    scheduler = training.BetaScheduler(training.linear_kl_warmup(2, beta=1.0), steps_per_epoch=4)
    mlp_model.fit(batches, epochs=2, verbose=0, shuffle=False, callbacks=[scheduler, Record()])
    assert seen == pytest.approx([0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875])


@pytest.mark.parametrize("field, value", [("latent_dim", 0), ("epochs", 0), ("batch_size", -1),
                                          ("learning_rate", 0.0), ("beta", -0.1), ("seed", -1),
                                          ("learning_rate_schedule", "linear"), ("precision", "float16")])
def test_train_config_refuses_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        training.TrainConfig(**{field: value})


TINY = dict(architecture="mlp", latent_dim=2, model_options={"hidden": [16]}, batch_size=64, seed=5)


@pytest.fixture(scope="module")
def tiny_data():
    images, _ = data.load_mnist("test")
    return images[:256], data.binarize(images[256:320], seed=0)


def test_train_writes_a_checkpoint_with_its_manifest(tmp_path, tiny_data):
    config = training.TrainConfig(epochs=2, **TINY)
    model, manifest = training.train(config, tmp_path, *tiny_data, command="test")
    assert (tmp_path / "model.weights.h5").is_file()
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk == manifest
    assert manifest["epochs"] == 2 and len(manifest["history"]) == 2
    assert manifest["train_config"] == config.as_dict()
    assert manifest["model"] == model.get_config()
    assert manifest["data"]["train_sha256"] == hashlib.sha256(tiny_data[0].tobytes()).hexdigest()
    assert set(manifest["versions"]) >= {"python", "tensorflow", "keras", "numpy", "vae"}
    assert manifest["seconds"] > 0 and manifest["cpu_seconds"] > 0
    assert np.isfinite(manifest["metrics"]["val_loss"])


class Killed(Exception):
    pass


def test_a_run_killed_after_an_epoch_resumes_and_ends_like_an_uninterrupted_one(tmp_path, tiny_data):
    config = training.TrainConfig(epochs=3, **TINY)
    straight, _ = training.train(config, tmp_path / "straight", *tiny_data)

    def kill_after_first_epoch(record):
        if record["epoch"] == 1:
            raise Killed

    with pytest.raises(Killed):
        training.train(config, tmp_path / "resumed", *tiny_data, progress=kill_after_first_epoch)
    assert not (tmp_path / "resumed" / "manifest.json").exists()
    epochs_run = []
    resumed, manifest = training.train(config, tmp_path / "resumed", *tiny_data,
                                       progress=lambda r: epochs_run.append(r["epoch"]))
    assert epochs_run == [2, 3]
    assert manifest["epochs"] == 3 and [r["epoch"] for r in manifest["history"]] == [1, 2, 3]
    for a, b in zip(straight.weights, resumed.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def _grey_trainer(kind: str):
    """A short seeded run of a grey-digit trainer: ``run(run_dir, progress) -> (model, manifest)``."""
    train, test = data.load_mnist("train")[0][:128], data.load_mnist("test")[0][:32]
    if kind == "codec":
        from vae.lossy.training import CodecTrainConfig, train_codec

        config = CodecTrainConfig(channels=8, hyper_channels=4, filters=32, hyper_filters=16, epochs=2,
                                  batch_size=32, validation_images=32)
        return lambda run_dir, progress=None: train_codec(config, run_dir, train, test, progress=progress)
    from vae.vq.training import VQTrainConfig, train_vqvae

    config = VQTrainConfig(codebook_size=32, code_dim=8, filters=16, prior_embedding=8, prior_filters=16,
                           prior_layers=2, epochs=2, batch_size=32, validation_images=32)
    return lambda run_dir, progress=None: train_vqvae(config, run_dir, train, test, evaluation_images=0,
                                                      progress=progress)


@pytest.mark.parametrize("kind", ["codec", "vqvae"])
def test_a_stopped_grey_digit_run_resumes_to_the_weights_and_history_of_an_uninterrupted_one(tmp_path, kind):
    run = _grey_trainer(kind)
    straight, straight_manifest = run(tmp_path / "straight")

    def kill_after_first_epoch(record):
        if record["epoch"] == 1:
            raise Killed

    with pytest.raises(Killed):
        run(tmp_path / "resumed", kill_after_first_epoch)
    resumed, manifest = run(tmp_path / "resumed")
    assert manifest["history"] == straight_manifest["history"] and manifest["epochs"] == 2
    for a, b in zip(straight.weights, resumed.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_the_resumable_loop_computes_exactly_what_the_plain_loop_does(tmp_path, tiny_data):
    config = training.TrainConfig(epochs=2, kl_warmup_epochs=1.5, **TINY)
    images = tf.constant(tiny_data[0].astype(np.float32))

    def batches(epoch):
        return data.training_batches(images, config.batch_size, epoch=epoch, seed=config.seed)

    validation = data.evaluation_batches(tiny_data[1], batch_size=500)
    plain = training.fit_epochs(training.new_model(config, 4), batches, 2, schedule=training.beta_schedule(config),
                                validation=validation)
    state = _resumable.fit_resumably(training.new_model(config, 4), tmp_path, batches, 2, validation,
                                   checkpoint.save_weights_atomic, checkpoint.load_weights_into,
                                   schedule=training.beta_schedule(config))
    assert state["epochs_done"] == 2 and state["history"] == plain and plain[0]["beta"] < plain[1]["beta"]
    assert state["seconds"] > 0 and state["cpu_seconds"] > 0


def test_a_run_folder_recorded_before_an_option_existed_takes_the_older_default(tmp_path):
    config = training.TrainConfig(**TINY)
    recorded = {k: v for k, v in json.loads(json.dumps(config.as_dict())).items() if k != "precision"}
    (tmp_path / "train_config.json").write_text(json.dumps(recorded))
    with pytest.raises(ValueError, match="another configuration"):
        _resumable.claim_run_dir(tmp_path, "train_config.json", config)
    _resumable.claim_run_dir(tmp_path, "train_config.json", config, older_defaults={"precision": "float32"})
    assert json.loads((tmp_path / "train_config.json").read_text())["precision"] == "float32"
    bfloat16 = training.TrainConfig(**TINY, precision="mixed_bfloat16")
    with pytest.raises(ValueError, match="another configuration"):
        _resumable.claim_run_dir(tmp_path, "train_config.json", bfloat16, older_defaults={"precision": "float32"})


def test_a_run_folder_of_another_configuration_is_refused(tmp_path, tiny_data):
    training.train(training.TrainConfig(epochs=1, **TINY), tmp_path, *tiny_data)
    other = training.TrainConfig(epochs=1, **{**TINY, "latent_dim": 3})
    with pytest.raises(ValueError, match="another configuration"):
        training.train(other, tmp_path, *tiny_data)


def test_a_finished_run_can_be_extended_by_more_epochs(tmp_path, tiny_data):
    training.train(training.TrainConfig(epochs=1, **TINY), tmp_path, *tiny_data)
    _, manifest = training.train(training.TrainConfig(epochs=2, **TINY), tmp_path, *tiny_data)
    assert [r["epoch"] for r in manifest["history"]] == [1, 2]


def test_only_the_last_resume_state_is_kept(tmp_path, tiny_data):
    training.train(training.TrainConfig(epochs=3, **TINY), tmp_path, *tiny_data)
    assert sorted(p.name for p in tmp_path.glob("state-*")) == ["state-0003"]


def test_cosine_schedule_decays_to_one_percent_over_the_run():
    config = training.TrainConfig(epochs=4, learning_rate=2e-3, learning_rate_schedule="cosine", **TINY)
    optimizer = training.new_model(config, steps_per_epoch=10).optimizer

    def rate_at(step):
        optimizer.iterations.assign(step)
        return float(optimizer.learning_rate)

    assert rate_at(0) == pytest.approx(2e-3)
    assert rate_at(20) == pytest.approx(2e-3 * (0.01 + 0.99 * 0.5), rel=1e-5)  # half-way
    assert rate_at(40) == pytest.approx(2e-5)
    constant = training.new_model(training.TrainConfig(**TINY)).optimizer
    assert float(constant.learning_rate) == pytest.approx(1e-3)


def test_a_cosine_run_cannot_be_extended(tmp_path, tiny_data):
    config = training.TrainConfig(epochs=1, learning_rate_schedule="cosine", **TINY)
    training.train(config, tmp_path, *tiny_data)
    with pytest.raises(ValueError, match="another configuration"):
        training.train(training.TrainConfig(epochs=2, learning_rate_schedule="cosine", **TINY), tmp_path,
                       *tiny_data)


def test_mixed_bfloat16_training_computes_in_bfloat16_and_ships_float32_weights(tmp_path, tiny_data):
    config = training.TrainConfig(epochs=1, precision="mixed_bfloat16", **TINY)
    model = training.new_model(config)
    assert model.decoder.layers[-2].compute_dtype == "bfloat16"
    assert keras.mixed_precision.global_policy().name == "float32"  # restored for everything else
    _, manifest = training.train(config, tmp_path, *tiny_data)
    assert manifest["train_config"]["precision"] == "mixed_bfloat16" and np.isfinite(manifest["metrics"]["loss"])
    loaded, _ = checkpoint.load_checkpoint(tmp_path)
    assert all(w.dtype == "float32" for w in loaded.weights)
    assert loaded.decoder.layers[-2].compute_dtype == "float32"

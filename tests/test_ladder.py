"""LadderVAE (issue 19 item 2): shapes, bounds, KL bookkeeping, free bits, save/load."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from vae.ladder import LadderVAE
from vae.models import build_model


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return (rng.random((8, 28, 28, 1)) < 0.3).astype("float32")


def tiny(**kwargs):
    return LadderVAE(latent_dims=(4, 2), filters=(4, 8), hidden=32, seed=1, **kwargs)


def test_shapes(images):
    model = tiny()
    layers = model.infer(images, seed=0)
    assert [l["z"].shape for l in layers] == [(8, 4), (8, 2)]
    assert model(images).shape == (8, 28, 28, 1)
    assert model.sample(3, seed=0).shape == (3, 28, 28, 1)
    assert model.log_weight(images, seed=0).shape == (8,)


def test_kl_per_layer_sums_to_total(images):
    values = tiny().compute_losses(images, seed=3)
    total = values["kl_layer1"] + values["kl_layer2"]
    np.testing.assert_allclose(values["kl"], total, rtol=1e-6)
    assert values["kl_layer1"] > 0 and values["kl_layer2"] > 0


def test_iwae_bound_above_elbo_and_grows_with_k(images):
    keras.utils.set_random_seed(0)  # the weights, whatever ran before
    model = tiny()
    # each bound is a random estimate: average over images and four seeds
    bounds = [np.mean([float(tf.reduce_mean(model.iwae_bound(images, k, seed=s))) for s in range(4)])
              for k in (1, 10, 100)]
    assert bounds[0] < bounds[1] < bounds[2]


def test_free_bits_floor(images):
    model = tiny(free_bits=5.0)
    values = model.compute_losses(images, seed=0)
    assert float(values["kl_floored"]) >= 5.0 * 6 - 1e-4
    assert float(values["kl_floored"]) >= float(values["kl"]) - 1e-4


def test_save_load_identical_bounds(images, tmp_path):
    model = tiny()
    path = tmp_path / "ladder.weights.h5"
    model.save_weights(path)
    other = build_model(json.loads(json.dumps(model.get_config())))  # as a manifest holds it
    assert isinstance(other, LadderVAE)
    other.load_weights(path)
    np.testing.assert_array_equal(model.iwae_bound(images, 5, seed=2), other.iwae_bound(images, 5, seed=2))


def test_a_few_training_steps_reduce_the_loss(images):
    import keras
    model = tiny()
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    before = float(model.compute_losses(images, seed=0)["loss"])
    model.fit(images, batch_size=8, epochs=20, verbose=0)
    after = float(model.compute_losses(images, seed=0)["loss"])
    assert after < before


def test_the_bounds_go_through_the_losses_module(images):
    from vae import losses

    model = tiny()
    weights = model.log_weights(images, 3, seed=4)
    assert weights.shape == (3, 8)
    np.testing.assert_array_equal(model.iwae_bound(images, 7, seed=5), losses.iwae_bound(model, images, 7, seed=5))
    terms = losses.elbo_terms(model, images, seed=6)
    values = model.compute_losses(images, seed=6)
    np.testing.assert_allclose(-tf.reduce_mean(terms["log_likelihood"]), values["reconstruction"], rtol=1e-6)
    np.testing.assert_allclose(tf.reduce_mean(terms["kl"]), values["kl"], rtol=1e-6)
    with pytest.raises(ValueError, match="its own log p"):
        losses.iwae_bound(model, images, 2, log_likelihood=lambda x, logits: tf.zeros(tf.shape(x)[0]))


def test_the_kl_between_two_gaussians_is_the_mean_log_ratio():
    from vae import losses

    rng = np.random.default_rng(2)
    mean_q, log_var_q, mean_p, log_var_p = (tf.constant(rng.normal(size=(1, 3)), tf.float32) for _ in range(4))
    z = mean_q + tf.exp(0.5 * log_var_q) * tf.constant(rng.normal(size=(200_000, 3)), tf.float32)
    ratios = (losses._log_normal_units(z, mean_q, log_var_q) - losses._log_normal_units(z, mean_p, log_var_p))
    closed = losses._kl_normal_units(mean_q, log_var_q, mean_p, log_var_p)
    np.testing.assert_allclose(closed[0], tf.reduce_mean(ratios, axis=0), atol=0.03)
    standard = losses._kl_normal_units(mean_q, log_var_q, tf.zeros((1, 3)), tf.zeros((1, 3)))
    np.testing.assert_allclose(standard, losses._kl_normal_units(mean_q, log_var_q), rtol=1e-5, atol=1e-6)


def test_evaluate_gives_the_figures_of_z1(images):
    from vae import evaluation

    result = evaluation.evaluate(tiny(), images, k=4, batch_size=4, seed=1)
    assert result.latent_dim == 4 and 0 <= result.active_units <= 4
    assert np.isfinite([result.nll, result.elbo, result.kl]).all() and result.kl > 0


def test_training_resumes_where_it_stopped(tmp_path):
    """Two epochs in one go and one epoch then a resumed second end with the same weights."""
    from vae import training

    rng = np.random.default_rng(3)
    train_images = rng.random((120, 28, 28, 1)).astype("float32")
    test_images = (rng.random((20, 28, 28, 1)) < 0.3).astype("float32")

    def config(epochs):
        return training.TrainConfig(architecture="ladder", latent_dim=4, epochs=epochs, batch_size=40,
                                    kl_warmup_epochs=2, model_options={"latent_dims": [4, 2], "filters": [4, 8],
                                                                       "hidden": 32, "free_bits": 0.1})

    straight, _ = training.train(config(2), tmp_path / "straight", train_images, test_images)
    training.train(config(1), tmp_path / "stopped", train_images, test_images)
    resumed, manifest = training.train(config(2), tmp_path / "stopped", train_images, test_images)
    assert manifest["epochs"] == 2 and isinstance(resumed, LadderVAE) and resumed.free_bits == 0.1
    for a, b in zip(straight.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_training_config_names_z1s_size_consistently():
    with pytest.raises(ValueError, match="latent_dim 8 differs"):
        build_model({"architecture": "ladder", "latent_dim": 8, "latent_dims": [4, 2]})

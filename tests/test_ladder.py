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

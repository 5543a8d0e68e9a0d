"""vae.rate_distortion: rate and distortion of a model, a β sweep, and its curve."""

import dataclasses
import math

import numpy as np
import pytest
import tensorflow as tf

from vae import losses, rate_distortion
from vae.models import MLPVAE
from vae.training import TrainConfig

TINY = TrainConfig(architecture="mlp", latent_dim=2, model_options={"hidden": [16]}, epochs=2,
                   batch_size=32, learning_rate=3e-3, seed=4)


@pytest.fixture(scope="module")
def grey_images():
    """96 smooth grey 'images' with structure a tiny model can learn (two blobs)."""
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:28, 0:28]
    centres = rng.integers(6, 22, size=(96, 2))
    blobs = np.exp(-((rows - centres[:, :1, None]) ** 2 + (cols - centres[:, 1:, None]) ** 2) / 18.0)
    return (0.95 * blobs)[..., None].astype(np.float32)


@pytest.fixture(scope="module")
def test_binary(grey_images):
    return (np.random.default_rng(1).random(grey_images[:32].shape) < grey_images[:32]).astype(np.float32)


@pytest.fixture(scope="module")
def sweep(grey_images, test_binary):
    kept = {}
    points = rate_distortion.beta_sweep([0.5, 8.0], TINY, grey_images, test_binary,
                                        on_model=lambda beta, model: kept.update({beta: model}))
    return points, kept


def test_a_sweep_returns_one_record_per_beta_in_the_order_given(sweep):
    points, _ = sweep
    assert [p.beta for p in points] == [0.5, 8.0]


def test_records_hold_beta_rate_distortion_elbo_and_active_units(sweep):
    fields = sweep[0][0].as_dict()
    for name in ("beta", "rate_nats", "distortion_nats", "elbo", "active_units"):
        assert name in fields
    assert all(math.isfinite(fields[name]) for name in ("rate_nats", "distortion_nats", "elbo"))


def test_the_elbo_of_a_record_is_minus_rate_minus_distortion(sweep):
    for point in sweep[0]:
        assert point.elbo == pytest.approx(-(point.rate_nats + point.distortion_nats))
        assert point.rate_nats >= 0.0 and point.distortion_nats > 0.0
        assert 0 <= point.active_units <= point.latent_dim


def test_a_larger_beta_buys_a_lower_rate_and_pays_with_distortion(sweep):
    low, high = sweep[0]
    assert high.rate_nats < low.rate_nats
    assert high.distortion_nats > low.distortion_nats


def test_on_model_receives_each_trained_model(sweep):
    _, kept = sweep
    assert sorted(kept) == [0.5, 8.0]
    assert all(isinstance(model, MLPVAE) for model in kept.values())


@pytest.mark.parametrize("bad", [[], [-1.0], [1.0, float("nan")], [float("inf")], ["2"], [True]])
def test_bad_betas_raise_before_any_training(bad, grey_images, test_binary, monkeypatch):
    monkeypatch.setattr(rate_distortion, "train_in_memory",
                        lambda *a, **k: pytest.fail("trained before checking the betas"))
    with pytest.raises(ValueError, match="beta"):
        rate_distortion.beta_sweep(bad, TINY, grey_images, test_binary)


def test_rate_is_the_closed_form_kl_and_distortion_the_negative_log_likelihood(test_binary):
    model = MLPVAE(latent_dim=3, hidden=(8,), seed=2)
    rate, distortion = rate_distortion.rate_and_distortion(model, test_binary, seed=7, batch_size=500)
    mean, log_var = model.encode(test_binary)
    z = model.reparameterize(mean, log_var, seed=7)
    assert rate == pytest.approx(float(tf.reduce_mean(losses.kl_standard_normal(mean, log_var))), rel=1e-5)
    expected = -float(tf.reduce_mean(losses.bernoulli_log_likelihood(test_binary, model.decode(z))))
    assert distortion == pytest.approx(expected, rel=1e-5)


def test_rate_and_distortion_repeat_exactly_for_the_same_seed(test_binary):
    model = MLPVAE(latent_dim=3, hidden=(8,), seed=2)
    first = rate_distortion.rate_and_distortion(model, test_binary, samples=2, seed=3, batch_size=10)
    assert rate_distortion.rate_and_distortion(model, test_binary, samples=2, seed=3, batch_size=10) == first


def test_train_in_memory_records_each_epoch_and_the_warmup_beta(grey_images, test_binary):
    config = dataclasses.replace(TINY, beta=1.0, kl_warmup_epochs=4.0, epochs=2)
    _, history = rate_distortion.train_in_memory(config, grey_images, test_binary)
    assert [record["epoch"] for record in history] == [1, 2]
    assert history[-1]["beta"] < 0.5  # still warming up: 2 of 4 epochs, β at the last batch start
    assert {"loss", "reconstruction", "kl", "test_rate_nats", "test_distortion_nats",
            "active_units"} <= set(history[0])


def test_the_plot_labels_every_beta_and_draws_the_equal_elbo_line(sweep):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [dataclasses.replace(sweep[0][0], beta=1.0), sweep[0][1]]
    ax = rate_distortion.plot_rate_distortion(points)
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["β=1", "β=8"]
    assert "nats" in ax.get_xlabel() and "nats" in ax.get_ylabel()
    assert "-ELBO at β=1" in ax.get_legend().get_texts()[0].get_text()
    plt.close(ax.figure)


def test_the_plot_refuses_no_points():
    with pytest.raises(ValueError, match="points"):
        rate_distortion.plot_rate_distortion([])


def test_a_given_posterior_replaces_the_encoder(test_binary):
    model = MLPVAE(latent_dim=3, hidden=(8,), seed=2)
    encoded = tuple(part.numpy() for part in model.encode(test_binary))
    assert rate_distortion.rate_and_distortion(model, test_binary, posterior=encoded) == \
        rate_distortion.rate_and_distortion(model, test_binary)
    prior = (np.zeros((32, 3), np.float32), np.zeros((32, 3), np.float32))
    rate, _ = rate_distortion.rate_and_distortion(model, test_binary, posterior=prior)
    assert rate == 0.0  # q equal to the prior costs nothing


def test_a_posterior_of_the_wrong_shape_is_refused(test_binary):
    model = MLPVAE(latent_dim=3, hidden=(8,), seed=2)
    wrong = (np.zeros((31, 3), np.float32), np.zeros((31, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        rate_distortion.rate_and_distortion(model, test_binary, posterior=wrong)


def test_optimising_each_posterior_lowers_the_negative_elbo_and_leaves_the_model_alone(sweep, test_binary):
    model = sweep[1][0.5]
    weights = [w.numpy().copy() for w in model.weights]
    images = test_binary[:8]
    before = sum(rate_distortion.rate_and_distortion(model, images, samples=16, seed=9))
    mean, log_var = rate_distortion.optimise_posterior(model, images, steps=30, samples=4, learning_rate=0.05)
    after = sum(rate_distortion.rate_and_distortion(model, images, samples=16, seed=9, posterior=(mean, log_var)))
    assert mean.shape == log_var.shape == (8, 2)
    assert after < before
    assert all(np.array_equal(w.numpy(), old) for w, old in zip(model.weights, weights))


def test_optimise_posterior_repeats_exactly_for_the_same_seed(sweep, test_binary):
    model = sweep[1][0.5]
    first = rate_distortion.optimise_posterior(model, test_binary[:4], steps=3, samples=2, seed=1)
    second = rate_distortion.optimise_posterior(model, test_binary[:4], steps=3, samples=2, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(first, second))


@pytest.mark.parametrize("field, value", [("steps", 0), ("samples", 0), ("learning_rate", 0.0), ("beta", -1.0)])
def test_optimise_posterior_refuses_bad_settings(field, value, test_binary):
    model = MLPVAE(latent_dim=3, hidden=(8,), seed=2)
    with pytest.raises(ValueError, match=field):
        rate_distortion.optimise_posterior(model, test_binary[:2], **{field: value})


def test_the_nll_estimate_with_the_encoders_posterior_matches_the_package_bound(test_binary):
    model = MLPVAE(latent_dim=3, hidden=(8,), seed=2)
    expected = -float(tf.reduce_mean(losses.iwae_bound(model, test_binary, 20, chunk_size=10, seed=5)))
    assert rate_distortion.nll_estimate(model, test_binary, k=20, seed=5, chunk_size=10) == pytest.approx(expected)
    encoded = tuple(part.numpy() for part in model.encode(test_binary))
    assert rate_distortion.nll_estimate(model, test_binary, k=20, seed=5, chunk_size=10, posterior=encoded) == \
        pytest.approx(expected)


def test_the_nll_estimate_accepts_the_prior_as_a_proposal(test_binary):
    model = MLPVAE(latent_dim=3, hidden=(8,), seed=2)
    prior = (np.zeros((32, 3), np.float32), np.zeros((32, 3), np.float32))
    estimate = rate_distortion.nll_estimate(model, test_binary, k=1, posterior=prior)
    assert math.isfinite(estimate) and estimate > 0.0

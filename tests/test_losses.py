"""vae.losses: likelihoods, KL divergences and bounds, per example, in nats."""

import math

import numpy as np
import pytest
import tensorflow as tf

from vae import losses


def test_bernoulli_log_likelihood_matches_the_textbook_formula():
    rng = np.random.default_rng(0)
    x = (rng.random((3, 28, 28, 1)) < 0.5).astype(np.float32)
    logits = rng.normal(size=(3, 28, 28, 1)).astype(np.float32)
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    expected = np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=(1, 2, 3))
    np.testing.assert_allclose(losses.bernoulli_log_likelihood(x, logits), expected, rtol=1e-5)


def test_bernoulli_log_likelihood_is_finite_for_extreme_logits():
    x = np.zeros((1, 28, 28, 1), np.float32)
    logits = np.full((1, 28, 28, 1), 200.0, np.float32)  # sigmoid rounds to exactly 1.0
    value = losses.bernoulli_log_likelihood(x, logits).numpy()
    np.testing.assert_allclose(value, [-200.0 * 784], rtol=1e-6)


def test_bernoulli_log_likelihood_sums_over_pixels_not_batch():
    x = np.ones((2, 28, 28, 1), np.float32)
    logits = np.zeros((2, 28, 28, 1), np.float32)
    value = losses.bernoulli_log_likelihood(x, logits).numpy()
    assert value.shape == (2,)
    np.testing.assert_allclose(value, [784 * math.log(0.5)] * 2, rtol=1e-6)


def test_gaussian_log_likelihood_matches_the_density():
    rng = np.random.default_rng(0)
    x, mean = rng.random((2, 28, 28, 1)), rng.random((2, 28, 28, 1))
    log_var = math.log(0.3)
    expected = np.sum(-0.5 * (np.log(2 * np.pi * 0.3) + (x - mean) ** 2 / 0.3), axis=(1, 2, 3))
    np.testing.assert_allclose(losses.gaussian_log_likelihood(x, mean, log_var), expected, rtol=1e-5)


def test_kl_standard_normal_is_zero_at_the_prior_and_positive_elsewhere():
    zeros = np.zeros((2, 5), np.float32)
    np.testing.assert_allclose(losses.kl_standard_normal(zeros, zeros), [0.0, 0.0], atol=1e-7)
    assert np.all(losses.kl_standard_normal(zeros + 0.5, zeros - 1.0).numpy() > 0)


def test_kl_standard_normal_matches_the_one_dimensional_formula():
    mean, var = 0.7, 2.5
    expected = 0.5 * (var + mean ** 2 - 1 - math.log(var))
    value = losses.kl_standard_normal([[mean]], [[math.log(var)]]).numpy()
    np.testing.assert_allclose(value, [expected], rtol=1e-6)


def test_closed_form_kl_equals_monte_carlo_within_its_standard_error():
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(1, 6)).astype(np.float32)
    log_var = rng.normal(scale=0.5, size=(1, 6)).astype(np.float32)
    samples = 20000
    eps = tf.random.stateless_normal((samples, 1, 6), seed=[1, 2])
    z = mean + np.exp(0.5 * log_var) * eps
    estimates = losses.kl_monte_carlo(z, mean, log_var).numpy()[:, 0]  # (samples,)
    standard_error = estimates.std(ddof=1) / math.sqrt(samples)
    closed_form = float(losses.kl_standard_normal(mean, log_var).numpy()[0])
    assert abs(estimates.mean() - closed_form) < 4 * standard_error


def test_log_mean_exp_is_stable_and_exact():
    values = np.array([[1000.0, 1000.0 + math.log(3.0)]], np.float32)
    np.testing.assert_allclose(losses.log_mean_exp(values, axis=1), [1000.0 + math.log(2.0)], rtol=1e-6)


def test_elbo_is_reconstruction_minus_beta_times_kl(conv_model, binary_images):
    terms = losses.elbo_terms(conv_model, binary_images, seed=5)
    for beta in (0.0, 1.0, 4.0):
        expected = terms["log_likelihood"] - beta * terms["kl"]
        np.testing.assert_allclose(losses.elbo(conv_model, binary_images, beta=beta, seed=5), expected,
                                   rtol=1e-6)


def test_elbo_is_repeatable_with_a_seed(conv_model, binary_images):
    first = losses.elbo(conv_model, binary_images, seed=9).numpy()
    np.testing.assert_array_equal(first, losses.elbo(conv_model, binary_images, seed=9).numpy())
    assert first.shape == (8,)


def test_negative_beta_is_refused(conv_model, binary_images):
    with pytest.raises(ValueError, match="beta"):
        losses.elbo(conv_model, binary_images, beta=-1.0)


def test_iwae_bound_does_not_depend_on_the_chunking(mlp_model, binary_images):
    whole = losses.iwae_bound(mlp_model, binary_images, k=12, chunk_size=12, seed=4).numpy()
    # Different chunks draw different noise, so compare the estimator, not the draws:
    # with k = 1 the chunking is identical and the values must agree exactly.
    one = losses.iwae_bound(mlp_model, binary_images, k=1, chunk_size=1, seed=4).numpy()
    also_one = losses.iwae_bound(mlp_model, binary_images, k=1, chunk_size=7, seed=4).numpy()
    np.testing.assert_array_equal(one, also_one)
    assert whole.shape == (8,)


def test_iwae_bound_combines_chunks_by_log_mean_exp(mlp_model, binary_images):
    """k samples in chunks give the log-mean-exp of the per-chunk log weights."""
    k, chunk = 10, 4
    mean, log_var = mlp_model.encode(binary_images)
    log_w = []
    for index, start in enumerate(range(0, k, chunk)):
        size = min(chunk, k - start)
        seed = losses.stateless_seed(4, index + 1)
        log_w.append(losses._log_weights(mlp_model, tf.constant(binary_images), mean, log_var, size, seed,
                                         losses.bernoulli_log_likelihood))
    expected = losses.log_mean_exp(tf.concat(log_w, axis=0), axis=0)
    got = losses.iwae_bound(mlp_model, binary_images, k=k, chunk_size=chunk, seed=4)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.mark.parametrize("k", [0, -3, 2.5, True])
def test_iwae_bound_refuses_a_bad_k(mlp_model, binary_images, k):
    with pytest.raises(ValueError, match="k must be a positive int"):
        losses.iwae_bound(mlp_model, binary_images, k=k)


def test_nats_to_bits_per_dim():
    assert losses.nats_to_bits_per_dim(784 * math.log(2.0)) == pytest.approx(1.0)
    np.testing.assert_allclose(losses.nats_to_bits_per_dim(np.array([0.0, 86.76 * 2])),
                               [0.0, 2 * 86.76 / (784 * math.log(2))])
    with pytest.raises(ValueError, match="dims"):
        losses.nats_to_bits_per_dim(1.0, dims=0)

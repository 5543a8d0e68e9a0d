"""vae.gradient_estimators: score-function and reparameterization gradients of a Gaussian expectation.

The reference case is f(z) = z**2 under z ~ N(mu, sigma**2): E[z**2] = mu**2 + sigma**2,
so d/dmu E = 2 mu and d/dlog(sigma) E = 2 sigma**2.
"""

import math

import numpy as np
import pytest
import tensorflow as tf

from vae import gradient_estimators as ge

MU, SIGMA = 0.8, 0.6
LOG_SIGMA = math.log(SIGMA)
EXACT_MEAN, EXACT_LOG_STD = 2 * MU, 2 * SIGMA ** 2
N = 200_000


def square(z):
    return tf.reduce_sum(tf.square(z), axis=1)


@pytest.fixture(scope="module")
def reparameterization():
    return ge.reparameterization_gradients(square, MU, LOG_SIGMA, N, seed=1)


@pytest.fixture(scope="module")
def score_function():
    return ge.score_function_gradients(square, MU, LOG_SIGMA, N, seed=1)


def within_standard_errors(per_sample, exact, how_many=4.0):
    stats = ge.summarize(per_sample)
    return np.all(np.abs(stats["mean"] - exact) <= how_many * stats["standard_error"])


def test_estimates_have_one_row_per_sample_and_one_column_per_dimension():
    samples = ge.reparameterization_gradients(square, [0.0, 1.0, 2.0], [0.0, 0.0, 0.0], 5)
    assert samples.mean.shape == (5, 3) and samples.log_std.shape == (5, 3)
    samples = ge.score_function_gradients(square, 0.5, 0.0, 7)
    assert samples.mean.shape == (7, 1) and samples.log_std.shape == (7, 1)


def test_reparameterization_estimator_is_unbiased_for_the_square(reparameterization):
    assert within_standard_errors(reparameterization.mean, EXACT_MEAN)
    assert within_standard_errors(reparameterization.log_std, EXACT_LOG_STD)


def test_score_function_estimator_is_unbiased_for_the_square(score_function):
    assert within_standard_errors(score_function.mean, EXACT_MEAN)
    assert within_standard_errors(score_function.log_std, EXACT_LOG_STD)


def test_reparameterization_has_lower_variance_than_score_function_for_the_square(
        reparameterization, score_function):
    reparam, score = ge.summarize(reparameterization.mean), ge.summarize(score_function.mean)
    assert np.all(reparam["variance"] < score["variance"])
    reparam, score = ge.summarize(reparameterization.log_std), ge.summarize(score_function.log_std)
    assert np.all(reparam["variance"] < score["variance"])


def test_reparameterization_variance_for_the_square_matches_its_closed_form(reparameterization):
    # d/dmu z**2 = 2 z, so the variance is 4 sigma**2; d/dlog(sigma) z**2 = 2 z sigma eps,
    # whose variance is 4 sigma**2 (mu**2 + 2 sigma**2).
    np.testing.assert_allclose(ge.summarize(reparameterization.mean)["variance"], 4 * SIGMA ** 2, rtol=0.02)
    np.testing.assert_allclose(ge.summarize(reparameterization.log_std)["variance"],
                               4 * SIGMA ** 2 * (MU ** 2 + 2 * SIGMA ** 2), rtol=0.03)


def test_a_baseline_keeps_the_score_function_unbiased_and_can_lower_its_variance(score_function):
    with_baseline = ge.score_function_gradients(square, MU, LOG_SIGMA, N, seed=1, baseline=MU ** 2 + SIGMA ** 2)
    assert within_standard_errors(with_baseline.mean, EXACT_MEAN)
    assert within_standard_errors(with_baseline.log_std, EXACT_LOG_STD)
    assert ge.summarize(with_baseline.mean)["variance"] < ge.summarize(score_function.mean)["variance"]


def test_adding_a_constant_to_f_changes_only_the_score_function_variance():
    shifted = lambda z: square(z) + 100.0  # noqa: E731 - same gradient, shifted values
    reparam = ge.reparameterization_gradients(shifted, MU, LOG_SIGMA, 1000, seed=2)
    np.testing.assert_array_equal(reparam.mean, ge.reparameterization_gradients(square, MU, LOG_SIGMA, 1000,
                                                                                  seed=2).mean)
    score = ge.summarize(ge.score_function_gradients(shifted, MU, LOG_SIGMA, 1000, seed=2).mean)
    assert score["variance"] > 100 * ge.summarize(reparam.mean)["variance"]


def test_each_dimension_gets_its_own_gradient():
    mean, log_std = np.array([-1.0, 0.0, 2.0]), np.log([0.5, 1.0, 1.5])
    samples = ge.reparameterization_gradients(square, mean, log_std, 50_000, seed=3)
    assert within_standard_errors(samples.mean, 2 * mean)
    assert within_standard_errors(samples.log_std, 2 * np.exp(2 * log_std))


def test_a_linear_f_has_an_exact_reparameterization_gradient_for_the_mean():
    weights = tf.constant([[3.0], [-2.0]], tf.float64)
    samples = ge.reparameterization_gradients(lambda z: tf.matmul(z, weights)[:, 0], [0.1, 0.2], [0.0, 0.0], 10)
    np.testing.assert_allclose(samples.mean, np.tile([3.0, -2.0], (10, 1)))


def test_a_constant_f_has_zero_reparameterization_gradient():
    samples = ge.reparameterization_gradients(lambda z: tf.zeros(tf.shape(z)[:1], tf.float64), 0.0, 0.0, 4)
    np.testing.assert_array_equal(samples.mean, np.zeros((4, 1)))
    np.testing.assert_array_equal(samples.log_std, np.zeros((4, 1)))


def test_the_same_seed_gives_the_same_draws_and_a_new_seed_new_ones():
    first = ge.standard_normal_draws(6, 2, seed=5).numpy()
    np.testing.assert_array_equal(first, ge.standard_normal_draws(6, 2, seed=5).numpy())
    assert not np.array_equal(first, ge.standard_normal_draws(6, 2, seed=6).numpy())


def test_both_estimators_see_the_same_draws_for_the_same_seed():
    # For f(z) = z the reparameterization gradient for log_std is sigma * eps, and the
    # score-function gradient for the mean is z * eps / sigma: both are fixed by eps.
    identity = lambda z: z[:, 0]  # noqa: E731
    eps = ge.standard_normal_draws(8, 1, seed=4).numpy()
    reparam = ge.reparameterization_gradients(identity, 0.3, math.log(2.0), 8, seed=4)
    score = ge.score_function_gradients(identity, 0.3, math.log(2.0), 8, seed=4)
    np.testing.assert_allclose(reparam.log_std, 2.0 * eps)
    np.testing.assert_allclose(score.mean, (0.3 + 2.0 * eps) * eps / 2.0)


def test_variance_of_averages_shrinks_like_one_over_the_batch_size():
    per_sample = np.random.default_rng(0).normal(size=(100_000, 1))
    for batch_size in (1, 10, 100):
        np.testing.assert_allclose(ge.variance_of_averages(per_sample, batch_size), 1.0 / batch_size, rtol=0.2)


def test_summarize_reports_the_standard_error_of_the_mean():
    stats = ge.summarize(np.array([[1.0], [3.0], [5.0], [7.0]]))
    np.testing.assert_allclose(stats["mean"], [4.0])
    np.testing.assert_allclose(stats["variance"], [20.0 / 3.0])
    np.testing.assert_allclose(stats["standard_error"], [math.sqrt(20.0 / 3.0 / 4.0)])


@pytest.mark.parametrize("mean, log_std", [([0.0, 1.0], [0.0]), ([[0.0]], [[0.0]]), ([np.nan], [0.0])])
def test_mismatched_or_non_finite_parameters_are_refused(mean, log_std):
    with pytest.raises(ValueError, match="mean and log_std"):
        ge.reparameterization_gradients(square, mean, log_std, 3)


def test_f_must_return_one_value_per_sample():
    with pytest.raises(ValueError, match="one value per sample"):
        ge.score_function_gradients(lambda z: z, [0.0, 0.0], [0.0, 0.0], 3)


def test_too_few_samples_for_two_groups_are_refused():
    with pytest.raises(ValueError, match="fewer than two groups"):
        ge.variance_of_averages(np.zeros((5, 1)), 3)

"""vae.latent: prior-quantile grids, interpolation paths, posterior-mean statistics, figures."""

import math

import numpy as np
import pytest

from vae import evaluation, latent


def normal_cdf(z):
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def test_prior_quantiles_sit_at_the_midpoint_probabilities():
    values = latent.prior_quantiles(5)
    assert [normal_cdf(v) for v in values] == pytest.approx([0.1, 0.3, 0.5, 0.7, 0.9], abs=1e-9)


def test_prior_quantiles_with_low_and_high_span_exactly_those_probabilities():
    values = latent.prior_quantiles(7, low=0.05, high=0.95)
    assert normal_cdf(values[0]) == pytest.approx(0.05, abs=1e-9)
    assert normal_cdf(values[-1]) == pytest.approx(0.95, abs=1e-9)
    assert np.all(np.diff(values) > 0)


def test_prior_quantile_grid_has_n_squared_two_dimensional_codes():
    assert latent.prior_quantile_grid(6).shape == (36, 2)


@pytest.mark.parametrize("n", [4, 5])
def test_prior_quantile_grid_is_symmetric_about_the_origin(n):
    codes = latent.prior_quantile_grid(n)
    # the set of points is unchanged by z -> -z: reversing reading order negates every code
    np.testing.assert_array_equal(codes[::-1], -codes)
    np.testing.assert_array_equal(np.sort(np.unique(codes[:, 0])), np.sort(np.unique(codes[:, 1])))


def test_prior_quantile_grid_stays_inside_the_outermost_quantiles():
    n = 8
    codes = latent.prior_quantile_grid(n)
    probabilities = np.vectorize(normal_cdf)(codes)
    assert probabilities.min() == pytest.approx(0.5 / n, abs=1e-7)
    assert probabilities.max() == pytest.approx(1 - 0.5 / n, abs=1e-7)


def test_prior_quantile_grid_reads_like_a_plot():
    codes = latent.prior_quantile_grid(3).reshape(3, 3, 2)
    assert np.all(np.diff(codes[..., 0], axis=1) > 0)  # z1 grows to the right
    assert np.all(np.diff(codes[..., 1], axis=0) < 0)  # z2 shrinks downwards


@pytest.mark.parametrize("low, high", [(0.0, 0.9), (0.6, 0.4), (0.1, None)])
def test_prior_quantiles_refuse_bad_probabilities(low, high):
    with pytest.raises(ValueError):
        latent.prior_quantiles(4, low=low, high=high)


@pytest.mark.parametrize("interpolate", [latent.linear_interpolation, latent.spherical_interpolation])
def test_interpolation_starts_and_ends_at_the_inputs(interpolate):
    rng = np.random.default_rng(0)
    start, end = rng.normal(size=16).astype(np.float32), rng.normal(size=16).astype(np.float32)
    path = interpolate(start, end, 9)
    assert path.shape == (9, 16)
    np.testing.assert_array_equal(path[0], start)
    np.testing.assert_array_equal(path[-1], end)


@pytest.mark.parametrize("interpolate", [latent.linear_interpolation, latent.spherical_interpolation])
def test_interpolation_of_a_batch_puts_steps_first(interpolate):
    rng = np.random.default_rng(1)
    start, end = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    path = interpolate(start, end, 5)
    assert path.shape == (5, 3, 4)
    np.testing.assert_allclose(path[-1], end, rtol=1e-6)


def test_linear_interpolation_midpoint_is_the_average():
    path = latent.linear_interpolation(np.array([0.0, 2.0]), np.array([4.0, -2.0]), 3)
    np.testing.assert_allclose(path[1], [2.0, 0.0])


def test_spherical_interpolation_keeps_a_common_norm():
    start = np.array([3.0, 0.0, 0.0])
    end = np.array([0.0, 0.0, 3.0])
    path = latent.spherical_interpolation(start, end, 11)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), 3.0, rtol=1e-6)


def test_spherical_interpolation_of_parallel_codes_is_the_straight_line():
    start = np.array([1.0, 1.0])
    path = latent.spherical_interpolation(start, 2 * start, 3)
    np.testing.assert_allclose(path[1], 1.5 * start, rtol=1e-6)


def test_interpolation_refuses_mismatched_endpoints_or_too_few_steps():
    with pytest.raises(ValueError):
        latent.linear_interpolation(np.zeros(3), np.zeros(4), 5)
    with pytest.raises(ValueError):
        latent.spherical_interpolation(np.zeros(3), np.ones(3), 1)


def test_encode_means_has_one_row_per_image(conv_model, binary_images):
    means = latent.encode_means(conv_model, binary_images, batch_size=3)
    assert means.shape == (8, conv_model.latent_dim)
    np.testing.assert_allclose(means, conv_model.encode(binary_images)[0].numpy(), rtol=1e-5, atol=1e-6)


def test_posterior_mean_variance_counts_the_same_active_units_as_evaluation(conv_model, binary_images):
    variances = latent.posterior_mean_variance(conv_model, binary_images)
    for threshold in (0.0, 1e-6, 1e-4):
        expected = evaluation.active_units(conv_model, binary_images, threshold=threshold)
        assert int(np.sum(variances > threshold)) == expected


def test_decode_to_canvas_tiles_one_image_per_code(conv_model):
    canvas = latent.decode_to_canvas(conv_model, np.zeros((6, conv_model.latent_dim)), columns=3)
    assert canvas.shape == (2 * 28, 3 * 28)
    assert 0.0 <= canvas.min() and canvas.max() <= 1.0


def test_scatter_latents_draws_one_legend_entry_per_digit():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(2)
    ax = latent.scatter_latents(rng.normal(size=(30, 2)), np.arange(30) % 10)
    assert [text.get_text() for text in ax.get_legend().get_texts()] == [str(d) for d in range(10)]
    assert ax.get_xlabel() == "$z_1$" and ax.get_ylabel() == "$z_2$"
    plt.close("all")


def test_scatter_latents_refuses_codes_that_are_not_two_dimensional():
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        latent.scatter_latents(np.zeros((5, 3)), np.zeros(5, int))


def test_show_manifold_refuses_a_model_without_a_2d_latent_space(conv_model):
    with pytest.raises(ValueError, match="2-D latent"):
        latent.show_manifold(conv_model, n=3)


def test_plot_unit_variances_draws_the_threshold_line():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = latent.plot_unit_variances(np.array([1.0, 0.5, 1e-4, 2e-3]))
    assert any(np.allclose(line.get_ydata(), 0.01) for line in ax.get_lines())
    plt.close("all")

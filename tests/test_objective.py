"""vae.objective: the exact toy model of the ELBO, and the sign experiment."""

import numpy as np
import pytest

import vae
from vae.models import MLPVAE
from vae.objective import LinearGaussianToy, gaussian_kl, kl_sign_experiment

TOY = LinearGaussianToy(weight=2.0, bias=0.5, noise_std=0.5)


def test_gaussian_kl_is_zero_between_identical_gaussians():
    assert gaussian_kl(0.3, 2.0, 0.3, 2.0) == pytest.approx(0.0, abs=1e-12)


def test_gaussian_kl_matches_a_monte_carlo_estimate():
    rng = np.random.default_rng(0)
    z = 1.0 + 0.5 * rng.standard_normal(400_000)
    log_q = -0.5 * (np.log(2 * np.pi * 0.25) + (z - 1.0) ** 2 / 0.25)
    log_p = -0.5 * (np.log(2 * np.pi * 3.0) + (z + 0.5) ** 2 / 3.0)
    assert gaussian_kl(1.0, 0.25, -0.5, 3.0) == pytest.approx(np.mean(log_q - log_p), abs=5e-3)


def test_gaussian_kl_refuses_a_non_positive_variance():
    with pytest.raises(ValueError, match="variances"):
        gaussian_kl(0.0, 0.0, 0.0, 1.0)


def test_toy_evidence_integrates_the_joint_density_over_z():
    z = np.linspace(-12.0, 12.0, 200_001)
    x = 1.7
    joint = np.exp(-0.5 * (np.log(2 * np.pi) + z ** 2)
                   - 0.5 * (np.log(2 * np.pi * 0.25) + (x - 2.0 * z - 0.5) ** 2 / 0.25))
    assert TOY.log_evidence(x) == pytest.approx(np.log(np.trapezoid(joint, z)), abs=1e-8)


def test_toy_evidence_equals_elbo_plus_kl_to_the_posterior_for_any_gaussian_q():
    rng = np.random.default_rng(1)
    mean, var, x = rng.normal(size=20), rng.uniform(0.01, 3.0, size=20), rng.normal(size=20)
    gap = TOY.log_evidence(x) - TOY.elbo(x, mean, var)
    np.testing.assert_allclose(gap, TOY.kl_to_posterior(x, mean, var), atol=1e-10)


def test_toy_elbo_is_tight_exactly_at_the_posterior():
    mean, var = TOY.posterior(1.2)
    assert TOY.elbo(1.2, mean, var) == pytest.approx(TOY.log_evidence(1.2), abs=1e-12)


def test_toy_best_q_at_beta_one_is_the_posterior():
    np.testing.assert_allclose(TOY.best_q(0.7, beta=1.0), TOY.posterior(0.7), atol=1e-12)


def test_toy_best_q_maximises_the_beta_objective():
    mean, var = TOY.best_q(0.7, beta=0.3)
    best = TOY.elbo(0.7, mean, var, beta=0.3)
    for d_mean, d_var in [(1e-3, 0), (-1e-3, 0), (0, 1e-3), (0, -1e-3)]:
        assert TOY.elbo(0.7, mean + d_mean, var + d_var, beta=0.3) < best


def test_toy_beta_below_one_objective_exceeds_the_evidence():
    mean, var = TOY.best_q(2.0, beta=0.5)
    assert TOY.elbo(2.0, mean, var, beta=0.5) > TOY.log_evidence(2.0)


def test_toy_refuses_a_non_positive_noise():
    with pytest.raises(ValueError, match="noise_std"):
        LinearGaussianToy(noise_std=0.0)


@pytest.fixture
def tiny_batch(binary_images):
    return binary_images[:4]


def tiny_model():
    """A small MLP VAE whose initial weights do not depend on the tests run before."""
    vae.quiet(0)
    return MLPVAE(latent_dim=2, hidden=(16,), seed=0)


def test_kl_sign_experiment_with_the_elbo_sign_keeps_every_term_finite(tiny_batch):
    run = kl_sign_experiment(tiny_model(), tiny_batch, kl_sign=+1, steps=10)
    assert len(run["step"]) == 10
    assert np.all(np.isfinite(run["kl"])) and np.all(np.isfinite(run["reconstruction"]))


def test_kl_sign_experiment_with_the_wrong_sign_drives_the_kl_up(tiny_batch):
    right = kl_sign_experiment(tiny_model(), tiny_batch, kl_sign=+1,
                               steps=20, learning_rate=1e-2)
    wrong = kl_sign_experiment(tiny_model(), tiny_batch, kl_sign=-1,
                               steps=20, learning_rate=1e-2)
    finite_wrong_kl = wrong["kl"][np.isfinite(wrong["kl"])]
    assert finite_wrong_kl.max() > 1e3 * right["kl"].max()


def test_kl_sign_experiment_stops_at_the_first_non_finite_loss(tiny_batch):
    run = kl_sign_experiment(tiny_model(), tiny_batch, kl_sign=-1,
                             steps=200, learning_rate=1e-2)
    assert len(run["step"]) < 200
    assert np.all(np.isfinite(run["kl"][:-2]))
    assert not np.isfinite(run["reconstruction"][-1] - run["kl"][-1])


def test_kl_sign_experiment_refuses_any_other_sign(tiny_batch):
    with pytest.raises(ValueError, match="kl_sign"):
        kl_sign_experiment(tiny_model(), tiny_batch, kl_sign=0)

"""vae.evaluation and the bounds of vae.losses on a model whose log p(x) is exact."""

import math

import numpy as np
import pytest
import tensorflow as tf

from vae import evaluation, losses

LATENT, SIGMA = 3, 0.05


class LinearGaussian:
    """p(z) = N(0, I), p(x|z) = N(W z + b, SIGMA^2 I): log p(x) and p(z|x) are exact.

    W has orthogonal columns, so the true posterior is a diagonal Gaussian.
    ``encode`` returns that posterior, optionally spoiled (shifted mean,
    widened variance) so that the bounds are strict.
    """

    def __init__(self, shift=0.0, widen=1.0):
        rng = np.random.default_rng(0)
        basis, _ = np.linalg.qr(rng.normal(size=(784, LATENT)))
        self.scales = np.array([0.08, 0.05, 0.03])
        self.W = (basis * self.scales).astype(np.float64)  # (784, latent)
        self.b = np.full(784, 0.5)
        self.shift, self.widen = shift, widen
        self.latent_dim = LATENT

    def log_px(self, x):
        cov = self.W @ self.W.T + SIGMA ** 2 * np.eye(784)
        residual = x.reshape(len(x), 784) - self.b
        _, logdet = np.linalg.slogdet(cov)
        maha = np.einsum("ni,ij,nj->n", residual, np.linalg.inv(cov), residual)
        return -0.5 * (784 * math.log(2 * math.pi) + logdet + maha)

    def encode(self, x):
        residual = tf.reshape(tf.cast(x, tf.float64), [-1, 784]) - self.b
        post_var = SIGMA ** 2 / (SIGMA ** 2 + self.scales ** 2)
        mean = residual @ self.W * (post_var / SIGMA ** 2)
        log_var = np.log(post_var * self.widen) * tf.ones_like(mean)
        return tf.cast(mean + self.shift, tf.float32), tf.cast(log_var, tf.float32)

    def reparameterize(self, mean, log_var, seed=None):
        eps = tf.random.stateless_normal(tf.shape(mean), seed=[seed or 0, 0])
        return mean + tf.exp(0.5 * log_var) * eps

    def decode(self, z):
        mean = tf.cast(z, tf.float64) @ self.W.T + self.b
        return tf.reshape(tf.cast(mean, tf.float32), [-1, 28, 28, 1])


def gaussian(x, mean):
    return losses.gaussian_log_likelihood(x, mean, 2 * math.log(SIGMA))


@pytest.fixture(scope="module")
def points():
    """200 points near the model's mean (inside [0, 1], as images must be)."""
    rng = np.random.default_rng(1)
    x = 0.5 + rng.normal(scale=0.06, size=(200, 28, 28, 1))
    return np.clip(x, 0.0, 1.0).astype(np.float32)


def test_with_the_exact_posterior_every_bound_equals_log_px(points):
    model = LinearGaussian()
    exact = model.log_px(points[:20].astype(np.float64))
    for k in (1, 10):
        bound = losses.iwae_bound(model, points[:20], k=k, seed=3, log_likelihood=gaussian).numpy()
        np.testing.assert_allclose(bound, exact, rtol=2e-5)


def test_elbo_is_below_log_px_for_an_imperfect_posterior(points):
    model = LinearGaussian(shift=0.5, widen=3.0)
    exact = model.log_px(points.astype(np.float64))
    elbo = np.mean([losses.elbo(model, points, seed=s, log_likelihood=gaussian).numpy() for s in range(5)],
                   axis=0)
    assert np.mean(exact - elbo) > 1.0  # a clear gap, far above the sampling noise of the average


def test_iwae_bound_rises_with_k_toward_log_px(points):
    model = LinearGaussian(shift=0.5, widen=3.0)
    exact = np.mean(model.log_px(points.astype(np.float64)))
    means = [float(np.mean(losses.iwae_bound(model, points, k=k, chunk_size=256, seed=k,
                                             log_likelihood=gaussian)))
             for k in (1, 10, 100, 1000)]
    gaps = [exact - m for m in means]
    # Each tenfold k at least halves the gap here; noise of each mean over 200 points is < 0.05 nats.
    assert all(later < 0.6 * earlier for earlier, later in zip(gaps, gaps[1:])), gaps
    assert gaps[-1] > -0.05  # still a lower bound (up to the noise of the estimate)


class FixedEncoder:
    """Two latent units follow the data, three ignore it."""

    latent_dim = 5

    def encode(self, x):
        brightness = tf.reduce_mean(tf.reshape(x, [-1, 784]), axis=1, keepdims=True) * 10.0
        varying = tf.concat([brightness, -brightness], axis=1)
        constant = tf.ones_like(brightness) * tf.constant([[0.3, 0.0, -2.0]])
        mean = tf.concat([varying, constant], axis=1)
        return mean, tf.zeros_like(mean)


def test_active_units_counts_only_units_whose_mean_varies_with_the_data():
    rng = np.random.default_rng(0)
    images = rng.random((300, 28, 28, 1)).astype(np.float32) * rng.random((300, 1, 1, 1)).astype(np.float32)
    assert evaluation.active_units(FixedEncoder(), images, batch_size=64) == 2


def test_evaluate_reports_consistent_figures(mlp_model, binary_images):
    result = evaluation.evaluate(mlp_model, binary_images, k=20, batch_size=3, seed=1)
    assert result.n_images == 8 and result.k == 20 and result.latent_dim == 3
    assert result.elbo == pytest.approx(-(result.reconstruction + result.kl), rel=1e-5)
    assert result.nll_bits_per_dim == pytest.approx(result.nll / (784 * math.log(2)), rel=1e-6)
    assert result.nll_stderr > 0
    assert 0 <= result.active_units <= 3
    assert set(result.as_dict()) >= {"elbo", "nll", "nll_stderr", "kl", "reconstruction", "active_units"}


def test_evaluate_is_repeatable_with_its_seed(mlp_model, binary_images):
    first = evaluation.evaluate(mlp_model, binary_images, k=5, seed=2)
    assert first == evaluation.evaluate(mlp_model, binary_images, k=5, seed=2)


def test_evaluate_nll_estimate_does_not_grow_with_k(mlp_model, binary_images):
    small = evaluation.evaluate(mlp_model, binary_images, k=1, seed=0).nll
    large = evaluation.evaluate(mlp_model, binary_images, k=200, seed=0).nll
    assert large <= small + 0.5  # 0.5 nats: sampling noise of a one-sample estimate on 8 images


def test_evaluate_refuses_bad_images(mlp_model):
    with pytest.raises(ValueError, match="uint8"):
        evaluation.evaluate(mlp_model, np.zeros((2, 28, 28, 1), np.uint8), k=2)
    with pytest.raises(ValueError, match="at least one image"):
        evaluation.evaluate(mlp_model, np.zeros((0, 28, 28, 1), np.float32), k=2)


class StopAfter:
    """A progress callback that interrupts an evaluation after ``batches`` batches, like Ctrl-C."""

    def __init__(self, batches: int):
        self.batches, self.calls = batches, 0

    def __call__(self, images_done: int) -> None:
        self.calls += 1
        if self.calls == self.batches:
            raise KeyboardInterrupt


@pytest.mark.parametrize("stop_after", [1, 2])
def test_an_interrupted_evaluation_resumes_to_the_uninterrupted_result(mlp_model, binary_images, tmp_path,
                                                                      stop_after):
    uninterrupted = evaluation.evaluate(mlp_model, binary_images, k=7, batch_size=3, seed=4)
    partial = tmp_path / "partial.npz"
    with pytest.raises(KeyboardInterrupt):
        evaluation.evaluate(mlp_model, binary_images, k=7, batch_size=3, seed=4, partial_path=partial,
                            progress=StopAfter(stop_after))
    with np.load(partial) as stored:
        assert len(stored["log_px"]) == 3 * stop_after  # every finished batch was kept
    reported = []
    resumed = evaluation.evaluate(mlp_model, binary_images, k=7, batch_size=3, seed=4, partial_path=partial,
                                  progress=reported.append)
    assert resumed == uninterrupted
    assert reported[0] == 3 * stop_after and sum(reported) == len(binary_images)
    assert not partial.exists()  # removed once the run completed


def test_a_partial_file_of_another_evaluation_is_refused(mlp_model, binary_images, tmp_path):
    partial = tmp_path / "partial.npz"
    with pytest.raises(KeyboardInterrupt):
        evaluation.evaluate(mlp_model, binary_images, k=7, batch_size=3, seed=4, partial_path=partial,
                            progress=StopAfter(1))
    for other_settings in [dict(k=8, seed=4), dict(k=7, seed=5)]:
        with pytest.raises(ValueError, match="another evaluation"):
            evaluation.evaluate(mlp_model, binary_images, batch_size=3, partial_path=partial, **other_settings)
    with pytest.raises(ValueError, match="another evaluation"):
        evaluation.evaluate(mlp_model, binary_images[::-1], k=7, batch_size=3, seed=4, partial_path=partial)
    assert partial.exists()  # a refused file is left for its owner


def test_a_damaged_partial_file_is_refused(mlp_model, binary_images, tmp_path):
    partial = tmp_path / "partial.npz"
    partial.write_bytes(b"not an npz")
    with pytest.raises(ValueError, match="not a partial evaluation"):
        evaluation.evaluate(mlp_model, binary_images, k=2, partial_path=partial)

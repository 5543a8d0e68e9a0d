"""vae.priors: the prior as a component of the model, used by the ELBO, sampling and the codec."""

import numpy as np
import pytest
import tensorflow as tf

from vae import losses, priors
from vae.compression import BitsBackCodec
from vae.models import MLPVAE


class ShiftedNormal(priors.Prior):
    """A toy second prior: N(shift, scale^2) in every dimension, with its closed-form KL."""

    shift, scale = 0.5, 0.8

    def log_prob(self, z):
        return losses.log_normal_density(z, self.shift, 2.0 * np.log(self.scale))

    def kl(self, mean, log_var, z=None):
        variance = self.scale ** 2
        return 0.5 * tf.reduce_sum(np.log(variance) - log_var + (tf.exp(log_var) + tf.square(mean - self.shift))
                                   / variance - 1.0, axis=-1)

    def sample(self, n, seed=None):
        return self.shift + self.scale * super().sample(n, seed)

    def quantized(self, grid, n):
        size = n * self.latent_dim
        return "gaussian", np.full(size, self.shift), np.full(size, self.scale)


class TwoBumps(priors.Prior):
    """A toy mixture: 0.5 N(-1, 0.6^2) + 0.5 N(1, 0.6^2) per dimension; Monte Carlo KL; coded as a categorical."""

    def log_prob(self, z):
        parts = [losses.log_normal_density(z[..., None], centre, 2.0 * np.log(0.6)) for centre in (-1.0, 1.0)]
        per_dim = tf.reduce_logsumexp(tf.stack(parts), axis=0) - np.log(2.0)
        return tf.reduce_sum(per_dim, axis=-1)

    def kl(self, mean, log_var, z=None):
        return self.kl_monte_carlo(mean, log_var, z)

    def quantized(self, grid, n):
        edges = (np.arange(-grid.max_bin, grid.max_bin + 2) - 0.5) * grid.bin_width
        cdf = 0.5 * sum(0.5 * (1.0 + tf.math.erf((edges - centre) / (0.6 * np.sqrt(2.0))).numpy())
                        for centre in (-1.0, 1.0))
        probabilities = np.maximum(np.diff(cdf), 1e-12)
        probabilities /= probabilities.sum()
        return "categorical", np.tile(probabilities, (n * self.latent_dim, 1))


def model_with(prior_class):
    class Model(MLPVAE):
        def build_prior(self):
            return prior_class(self.latent_dim)

    return Model(latent_dim=3, hidden=(32,), seed=2)


def test_every_model_has_the_standard_normal_prior_without_weights(model):
    assert type(model.prior) is priors.Prior and model.prior.latent_dim == model.latent_dim
    assert not any("prior" in v.path for v in model.weights)


def test_the_standard_normal_prior_agrees_with_the_closed_forms():
    prior = priors.Prior(4)
    mean, log_var = tf.constant([[0.3, -1.0, 2.0, 0.0]]), tf.constant([[0.1, -0.5, 0.0, 1.0]])
    np.testing.assert_allclose(prior.kl(mean, log_var), losses.kl_standard_normal(mean, log_var))
    z = prior.sample(5, seed=1)
    assert z.shape == (5, 4)
    np.testing.assert_allclose(prior.log_prob(z), losses.log_normal_density(z, 0.0, 0.0))
    np.testing.assert_array_equal(prior.sample(5, seed=1), z)


def test_the_elbo_and_sampling_ask_the_models_prior(binary_images):
    standard, shifted = model_with(priors.Prior), model_with(ShiftedNormal)
    shifted.set_weights(standard.get_weights())
    kl_standard = losses.elbo_terms(standard, binary_images, seed=0)["kl"]
    kl_shifted = losses.elbo_terms(shifted, binary_images, seed=0)["kl"]
    mean, log_var = shifted.encode(binary_images)
    np.testing.assert_allclose(kl_shifted, shifted.prior.kl(mean, log_var), rtol=1e-6)
    assert not np.allclose(kl_standard, kl_shifted)
    np.testing.assert_allclose(shifted.compute_losses(binary_images, seed=0)["kl"], np.mean(kl_shifted), rtol=1e-6)
    z = ShiftedNormal(3).sample(4, seed=5)
    np.testing.assert_allclose(shifted.sample(4, seed=5), tf.sigmoid(shifted.decode(z)), rtol=1e-6)


def test_the_importance_weighted_bound_uses_the_prior(binary_images):
    standard, shifted = model_with(priors.Prior), model_with(ShiftedNormal)
    shifted.set_weights(standard.get_weights())
    assert not np.allclose(losses.iwae_bound(standard, binary_images, 4, seed=1),
                           losses.iwae_bound(shifted, binary_images, 4, seed=1))


def test_a_mixture_prior_falls_back_on_the_monte_carlo_kl(binary_images):
    model = model_with(TwoBumps)
    terms = losses.elbo_terms(model, binary_images, seed=3)
    assert terms["kl"].shape == (len(binary_images),) and np.all(np.isfinite(terms["kl"]))


@pytest.mark.parametrize("prior_class", [priors.Prior, ShiftedNormal, TwoBumps],
                         ids=["standard-normal", "shifted-gaussian", "mixture-categorical"])
def test_the_codec_round_trips_with_any_prior_through_the_public_contract(prior_class, binary_images):
    model = model_with(prior_class)
    codec = BitsBackCodec(model, "toy", "0" * 64, batch_size=3)
    blob = codec.compress(binary_images)
    restored = codec.decompress(blob)
    np.testing.assert_array_equal(restored.images, binary_images[..., 0].astype(np.uint8))


def test_the_codec_codes_the_codes_under_the_models_prior(binary_images):
    standard, shifted = model_with(priors.Prior), model_with(ShiftedNormal)
    shifted.set_weights(standard.get_weights())
    blobs = [BitsBackCodec(m, "toy", "0" * 64, batch_size=4).compress(binary_images) for m in (standard, shifted)]
    assert blobs[0] != blobs[1]


def test_a_prior_that_describes_nothing_codable_is_refused(binary_images):
    class Vague(priors.Prior):
        def quantized(self, grid, n):
            return ("laplace",)

    with pytest.raises(ValueError, match="gaussian"):
        BitsBackCodec(model_with(Vague), "toy", "0" * 64).compress(binary_images)

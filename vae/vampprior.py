"""The VampPrior (Tomczak & Welling, 2018): p(z) as the mixture of the encoder's posteriors at learned pseudo-inputs.

``p(z) = (1/K) sum_k q(z | u_k)``, where the ``u_k`` are ``K`` learned
images (the pseudo-inputs) and ``q`` is the model's own encoder. The prior
then follows the aggregate posterior instead of pulling every code toward
N(0, I); Tomczak & Welling report about 1 to 2 nats gained on dynamically
binarized MNIST for a one-layer VAE.

The prior is a :class:`vae.priors.Prior` and a Keras layer: its one weight
is the pseudo-inputs' logits ``(K, 28, 28, 1)`` (pixels ``sigmoid(logits)``
in [0, 1], so the encoder sees a valid image). It calls the encoder it was
given through a plain function, so the encoder's weights belong to the model
once, not twice.

No closed-form KL exists: :meth:`VampPrior.kl` is the one-sample estimate
``log q(z|x) - log p(z)`` at the posterior draw.

Bits-back coding: the mixture does not factorize over the latent axis, so
:meth:`VampPrior.quantized` describes it by its components and the codec
pushes each code under one component, with bits back on which
(:mod:`vae.compression._mixture`); a code costs its probability under the
whole mixture.

Introduced in chapter 11.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from vae.checks import IMAGE_SHAPE, check_positive_int
from vae.losses import log_normal_density
from vae._padding import padded
from vae.priors import Prior
from vae.seeding import stateless_seed

PSEUDO_INPUT_INIT_STDDEV = 0.1
"""Standard deviation of the pseudo-inputs' initial logits (pixels start near 0.5)."""


class VampPrior(Prior, keras.layers.Layer):
    """``p(z) = (1/K) sum_k N(z; mean(u_k), diag(exp(log_var(u_k))))`` with learned pseudo-inputs ``u_k``.

    Args:
        latent_dim: size of z.
        encode: a function images ``(K, 28, 28, 1)`` -> ``(mean, log_var)``,
            each ``(K, latent_dim)`` float32: the model's encoder.
        pseudo_inputs: ``K``, the number of mixture components.
        seed: seeds the pseudo-inputs' initial logits.

    Introduced in chapter 11.
    """

    def __init__(self, latent_dim: int, encode, pseudo_inputs: int = 500, seed: int | None = None, **kwargs):
        super().__init__(latent_dim, name="vampprior", **kwargs)
        self.pseudo_input_count = check_positive_int(pseudo_inputs, "pseudo_inputs")
        self._encode = encode  # a plain function: the encoder's weights stay the model's, saved once
        self.pseudo_input_logits = self.add_weight(
            shape=(self.pseudo_input_count, *IMAGE_SHAPE), name="pseudo_input_logits",
            initializer=keras.initializers.RandomNormal(stddev=PSEUDO_INPUT_INIT_STDDEV, seed=seed))

    def pseudo_inputs(self) -> tf.Tensor:
        """The pseudo-inputs ``u_k`` as images, ``(K, 28, 28, 1)`` float32 in [0, 1].

        Introduced in chapter 11.
        """
        return tf.sigmoid(tf.cast(self.pseudo_input_logits, tf.float32))

    def set_pseudo_inputs(self, images) -> None:
        """Start the pseudo-inputs at ``images``: grey digits ``(K, 28, 28, 1)`` in [0, 1].

        Each pixel is clipped to [0.05, 0.95] (a logit of about ±2.9, so that
        gradient steps can still move it) and stored as its logit. Chapter
        11 starts its VampPrior at training digits this way, and so does
        ``python -m vae train --prior vampprior --init-from DIR``.

        Raises:
            ValueError: not ``K`` images of shape ``(28, 28, 1)``.

        Introduced in chapter 11.
        """
        images = np.asarray(images, dtype=np.float64)
        if images.shape != (self.pseudo_input_count, *IMAGE_SHAPE):
            raise ValueError(f"expected {self.pseudo_input_count} images shaped {IMAGE_SHAPE}, "
                             f"got shape {images.shape}")
        clipped = np.clip(images, 0.05, 0.95)
        self.pseudo_input_logits.assign(np.log(clipped / (1.0 - clipped)).astype(np.float32))

    def components(self) -> tuple[tf.Tensor, tf.Tensor]:
        """The mixture's Gaussians: ``(mean, log_var)``, each ``(K, latent_dim)`` float32.

        Introduced in chapter 11.
        """
        mean, log_var = self._encode(self.pseudo_inputs())
        return tf.cast(mean, tf.float32), tf.cast(log_var, tf.float32)

    def log_prob(self, z) -> tf.Tensor:
        """``log p(z) = logsumexp_k log N(z; mean_k, var_k) - log K`` in nats; ``z.shape[:-1]``.

        Args:
            z: codes ``(..., latent_dim)``.

        Introduced in chapter 11.
        """
        z = tf.cast(z, tf.float32)
        mean, log_var = self.components()
        per_component = log_normal_density(z[..., tf.newaxis, :], mean, log_var)  # (..., K)
        return tf.reduce_logsumexp(per_component, axis=-1) - math.log(self.pseudo_input_count)

    def kl(self, mean, log_var, z=None) -> tf.Tensor:
        """One-sample estimate ``log q(z|x) - log p(z)`` at the draw ``z``, ``(batch,)`` nats.

        The mixture has no closed-form KL, so ``z`` (a draw from q) is required.

        Introduced in chapter 11.
        """
        if z is None:
            raise ValueError("the VampPrior has no closed-form KL: pass the posterior draw z")
        return self.kl_monte_carlo(mean, log_var, z)

    def sample(self, n, seed=None) -> tf.Tensor:
        """``n`` codes from the mixture: a uniform component, then its Gaussian; ``(n, latent_dim)``.

        ``seed`` as for :meth:`vae.priors.Prior.sample`: an int for a
        stateless repeatable draw, a ``keras.random.SeedGenerator``, or None.

        Introduced in chapter 11.
        """
        n = tf.cast(n, tf.int32)
        mean, log_var = self.components()
        shape = tf.stack([n, self.latent_dim])
        if seed is None or isinstance(seed, keras.random.SeedGenerator):
            index = keras.random.randint(tf.reshape(n, [1]), 0, self.pseudo_input_count, seed=seed)
            eps = keras.random.normal(shape, seed=seed)
        else:
            index = tf.random.stateless_uniform(tf.reshape(n, [1]), stateless_seed(seed, 1), 0,
                                                self.pseudo_input_count, dtype=tf.int32)
            eps = tf.random.stateless_normal(shape, seed=stateless_seed(seed, 0))
        index = tf.cast(index, tf.int32)
        return tf.gather(mean, index) + tf.exp(0.5 * tf.gather(log_var, index)) * eps

    def quantized(self, grid, n: int) -> tuple:
        """The mixture for bits-back coding: ``("mixture", means, stds)``, its components in units of z.

        ``means`` and ``stds`` are float64 ``(K, latent_dim)``, from one
        call of the encoder on the pseudo-inputs (as :meth:`components`, the
        batch padded as :mod:`vae._padding` explains), so the sender and the
        receiver get the same numbers. The mixture does
        not factorize over the latent axis, so the codec cannot push a code
        number by number under it; it pops a component ``k`` under the
        responsibilities ``p(k | z_bins)`` of the quantized code, pushes the
        code under ``N(mean_k, var_k)`` on the grid and pushes ``k`` under
        the uniform ``1/K``: net ``-log2 p(z_bins)`` bits
        (:mod:`vae.compression._mixture`). The description is the same for
        any ``n``.

        Args:
            grid: a :class:`vae.compression.LatentGrid` (unused: the codec quantizes).
            n: codes in the batch (unused).

        Introduced in chapter 11.
        """
        inputs = np.asarray(self.pseudo_inputs())
        mean, log_var = (np.asarray(t, dtype=np.float64)[:len(inputs)] for t in self._encode(padded(inputs)))
        return ("mixture", mean, np.exp(0.5 * log_var))

    def __repr__(self) -> str:
        return f"VampPrior(latent_dim={self.latent_dim}, pseudo_inputs={self.pseudo_input_count})"


def rate_saved(model, images, draws: int = 4, seed: int = 0, batch_size: int = 500) -> np.ndarray:
    """Per image, the nats of rate the model's prior saves against N(0, I) for the same codes.

    For each image ``x`` the mean, over ``draws`` codes ``z ~ q(z|x)``, of
    ``log p(z) - log N(z; 0, I)``: an unbiased estimate of
    ``KL(q(z|x) || N(0, I)) - KL(q(z|x) || p(z))``. Averaged over the data
    the information the code carries cancels from the two rates
    (chapter 11's ELBO surgery), leaving
    ``KL(q(z) || N(0, I)) - KL(q(z) || p(z))`` for the aggregate posterior
    ``q(z)``: since the second KL is never negative, the mean is a lower
    bound on how far the codes are from N(0, I), which this prior has
    removed from the rate.

    Args:
        model: a model with ``encode`` and ``prior``
            (a :class:`vae.priors.Prior`, e.g. a :class:`VampPrior`).
        images: binary images ``(n, 28, 28, 1)``.
        draws: codes drawn per image.
        seed: the draws are stateless: those of the batch starting at image
            ``i`` use the key ``stateless_seed(seed, i)``.
        batch_size: images encoded at once; memory grows with
            ``batch_size * draws * K``.

    Returns:
        ``(n,)`` float64, nats per image; 0 for the standard normal prior.

    Introduced in chapter 11.
    """
    check_positive_int(draws, "draws")
    check_positive_int(batch_size, "batch_size")
    standard = Prior(model.latent_dim)
    saved = []
    for start in range(0, len(images), batch_size):
        mean, log_var = model.encode(images[start:start + batch_size])
        noise = tf.random.stateless_normal(tf.concat([[draws], tf.shape(mean)], 0), stateless_seed(seed, start))
        z = mean + tf.exp(0.5 * log_var) * noise  # (draws, batch, latent_dim)
        gain = model.prior.log_prob(z) - standard.log_prob(z)  # (draws, batch)
        saved.append(np.mean(gain.numpy().astype(np.float64), axis=0))
    return np.concatenate(saved) if saved else np.zeros(0)

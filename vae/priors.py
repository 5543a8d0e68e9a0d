"""The prior p(z): one component of a latent model, used by the ELBO, by sampling and by the codec.

A model holds its prior as ``model.prior``, a :class:`Prior`. Everything
that needs p(z) asks it, through four methods:

- ``log_prob(z)``: ``log p(z)`` in nats, summed over the latent axis
  (the importance-weighted bound, :func:`vae.losses.iwae_bound`);
- ``kl(mean, log_var, z)``: ``KL(q(z|x) || p(z))`` per example, in nats,
  in closed form where there is one, else the one-sample estimate
  ``log q(z|x) - log p(z)`` at the posterior draw ``z`` (the ELBO,
  :func:`vae.losses.elbo_terms`, and the training loss);
- ``sample(n, seed)``: ``n`` codes ``(n, latent_dim)`` (``model.sample``);
- ``quantized(grid, n)``: p(z) on the bins of a
  :class:`vae.compression.LatentGrid`, for bits-back coding
  (:mod:`vae.compression.bitsback` pushes and pops the codes with it).

:class:`Prior` itself is the standard normal N(0, I), the prior of every
model in chapters 3 to 9; it has no weights, so it leaves a model's weights
file as it was. A learned prior (a mixture, a VampPrior, the top of a
hierarchy) subclasses it and ``keras.layers.Layer`` and overrides the four
methods; its weights then belong to the model like any layer's (see
:meth:`vae.models.VAE.build_prior`).

Introduced in chapter 3.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from vae.checks import check_positive_int
from vae.losses import kl_standard_normal, log_normal_density
from vae.seeding import stateless_seed


class Prior:
    """The prior p(z) of a latent model; this class is the standard normal N(0, I).

    Subclasses (a mixture, a VampPrior, a top-down hierarchy) override
    :meth:`log_prob`, :meth:`sample`, :meth:`kl` (or fall back on
    :meth:`kl_monte_carlo`) and :meth:`quantized`. A prior with weights is
    also a Keras layer, ``class Mixture(Prior, keras.layers.Layer)``, so
    that its weights are trained and saved with the model's; the standard
    normal has none and is a plain object, so the weights files of the
    shipped models keep their layout.

    Args:
        latent_dim: size of z.

    Introduced in chapter 3.
    """

    def __init__(self, latent_dim: int, **kwargs):
        super().__init__(**kwargs)  # a Keras layer's arguments, for a learned prior
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")

    def log_prob(self, z) -> tf.Tensor:
        """``log p(z)`` in nats for codes ``(..., latent_dim)``; returns ``z.shape[:-1]``.

        Introduced in chapter 4.
        """
        return log_normal_density(z, 0.0, 0.0)

    def kl(self, mean, log_var, z=None) -> tf.Tensor:
        """``KL(q(z|x) || p(z))`` per example for a diagonal Gaussian q, in nats, ``(batch,)``.

        The standard normal's is the closed form
        ``0.5 * sum(exp(log_var) + mean**2 - 1 - log_var)``; ``z`` (a draw
        from q, ``(batch, latent_dim)``) is what a prior without a closed form
        needs for :meth:`kl_monte_carlo`, and is ignored here.

        Introduced in chapter 4.
        """
        return kl_standard_normal(mean, log_var)

    def kl_monte_carlo(self, mean, log_var, z) -> tf.Tensor:
        """The one-sample estimate ``log q(z|x) - log p(z)`` at a draw ``z ~ q``, ``(batch,)`` nats.

        Unbiased for the KL; what :meth:`kl` falls back on for a prior
        without a closed form. Introduced in chapter 4.
        """
        return log_normal_density(z, mean, log_var) - self.log_prob(z)

    def sample(self, n, seed=None) -> tf.Tensor:
        """``n`` codes drawn from p(z): ``(n, latent_dim)`` float32.

        Args:
            n: how many (an int, or a scalar int tensor inside ``tf.function``).
            seed: an int (or scalar int tensor) for a stateless, repeatable
                draw with the key ``stateless_seed(seed, 0)``, a
                ``keras.random.SeedGenerator`` that advances, or None for
                Keras's global generator.

        Introduced in chapter 5.
        """
        shape = tf.stack([tf.cast(n, tf.int32), self.latent_dim])
        if seed is None or isinstance(seed, keras.random.SeedGenerator):
            return keras.random.normal(shape, seed=seed)
        return tf.random.stateless_normal(shape, seed=stateless_seed(seed, 0))

    def quantized(self, grid, n: int) -> tuple:
        """p(z) of ``n`` codes on the bins of ``grid``, for bits-back coding.

        Returns one of two descriptions, per code number (``n * latent_dim``
        of them, row-major), that :mod:`vae.compression.bitsback` codes with:

        - ``("gaussian", mean, std)``: a Gaussian per code number, quantized
          to the bins; ``mean`` and ``std`` are float64 ``(n * latent_dim,)``
          in units of z (the standard normal's: zeros and ones);
        - ``("categorical", probabilities)``: float64
          ``(n * latent_dim, grid.bins)``, each row the probabilities of the
          bins ``-grid.max_bin .. grid.max_bin`` (a mixture's per dimension, say);

        or, for a prior that does not factorize over the latent axis:

        - ``("mixture", means, stds)``: the equal-weight mixture of ``K``
          diagonal Gaussians, float64 ``(K, latent_dim)`` each, in units of z,
          whatever ``n`` (the VampPrior's); the codec pushes each code under one
          component with bits back on which (:mod:`vae.compression._mixture`).

        Args:
            grid: a :class:`vae.compression.LatentGrid`.
            n: codes in the batch.

        Introduced in chapter 9.
        """
        size = n * self.latent_dim
        return ("gaussian", np.zeros(size), np.ones(size))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(latent_dim={self.latent_dim})"

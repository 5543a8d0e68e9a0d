"""Small laboratories for the objective: a model with an exact ELBO, and the sign of the KL.

:class:`LinearGaussianToy` is a one-dimensional latent-variable model in which
the evidence ``log p(x)``, the true posterior ``p(z|x)`` and the ELBO of any
Gaussian ``q(z|x)`` all have closed forms, so the identity
``log p(x) = ELBO + KL(q(z|x) || p(z|x))`` can be checked to rounding error.

:func:`kl_sign_experiment` trains a VAE for a few hundred steps on one batch
with the KL term added (the correct objective) or subtracted (the sign written
in the source article's formula) and records both terms at every step.

All numbers are in nats.
"""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np
import tensorflow as tf

from vae import losses
from vae.checks import check_images, check_number, check_positive_int


def _normal_log_density(x, mean, var):
    return -0.5 * (np.log(2.0 * np.pi * var) + (x - mean) ** 2 / var)


def gaussian_kl(mean_q, var_q, mean_p, var_p):
    """KL( N(mean_q, var_q) || N(mean_p, var_p) ) for one-dimensional Gaussians, in nats.

    Args:
        mean_q, var_q: mean and variance (> 0) of the first Gaussian; floats or
            NumPy arrays (broadcast together).
        mean_p, var_p: mean and variance (> 0) of the second Gaussian.

    Returns:
        ``0.5 * (log(var_p / var_q) + (var_q + (mean_q - mean_p)**2) / var_p - 1)``,
        a float or array, >= 0.

    Introduced in chapter 4.
    """
    mean_q, var_q, mean_p, var_p = (np.asarray(v, np.float64) for v in (mean_q, var_q, mean_p, var_p))
    if np.any(var_q <= 0) or np.any(var_p <= 0):
        raise ValueError("variances must be > 0")
    value = 0.5 * (np.log(var_p / var_q) + (var_q + (mean_q - mean_p) ** 2) / var_p - 1.0)
    return value if value.ndim else float(value)


@dataclasses.dataclass(frozen=True)
class LinearGaussianToy:
    """The model ``z ~ N(0, 1)``, ``x | z ~ N(weight * z + bias, noise_std**2)``, all in closed form.

    With a Gaussian ``q(z|x) = N(mean, var)`` every quantity of the objective
    is exact (float64, no sampling): the evidence :meth:`log_evidence`, the
    posterior :meth:`posterior`, the ELBO :meth:`elbo` and its β-weighted
    variant, and the gap :meth:`kl_to_posterior`.

    Args:
        weight: the decoder's slope ``w`` (float).
        bias: the decoder's offset ``b`` (float).
        noise_std: the decoder's standard deviation ``s`` (float, > 0).

    Introduced in chapter 4.
    """

    weight: float = 2.0
    bias: float = 0.5
    noise_std: float = 0.5

    def __post_init__(self):
        check_number(self.noise_std, "noise_std", strict=True)

    def log_evidence(self, x):
        """``log p(x) = log N(x; bias, weight**2 + noise_std**2)`` in nats. Introduced in chapter 4."""
        return _normal_log_density(np.asarray(x, np.float64), self.bias, self.weight ** 2 + self.noise_std ** 2)

    def posterior(self, x):
        """The exact posterior ``p(z|x) = N(mean, var)``: returns ``(mean, var)``. Introduced in chapter 4."""
        precision = 1.0 + self.weight ** 2 / self.noise_std ** 2
        var = 1.0 / precision
        mean = var * self.weight * (np.asarray(x, np.float64) - self.bias) / self.noise_std ** 2
        return mean, var

    def expected_log_likelihood(self, x, mean, var):
        """``E_{N(z; mean, var)}[log p(x|z)]`` in closed form, in nats. Introduced in chapter 4."""
        x, mean, var = (np.asarray(v, np.float64) for v in (x, mean, var))
        s2 = self.noise_std ** 2
        return -0.5 * np.log(2.0 * np.pi * s2) - ((x - self.bias - self.weight * mean) ** 2
                                                   + self.weight ** 2 * var) / (2.0 * s2)

    def elbo(self, x, mean, var, beta: float = 1.0):
        """``E_q[log p(x|z)] - beta * KL(q || N(0, 1))`` for ``q = N(mean, var)``, in nats.

        With ``beta == 1`` this is the ELBO, a lower bound on :meth:`log_evidence`.

        Introduced in chapter 4.
        """
        return self.expected_log_likelihood(x, mean, var) - beta * gaussian_kl(mean, var, 0.0, 1.0)

    def kl_to_posterior(self, x, mean, var):
        """``KL(N(mean, var) || p(z|x))``, the gap between the evidence and the ELBO. Introduced in chapter 4."""
        post_mean, post_var = self.posterior(x)
        return gaussian_kl(mean, var, post_mean, post_var)

    def best_q(self, x, beta: float = 1.0):
        """The Gaussian ``q = N(mean, var)`` that maximizes ``elbo(x, mean, var, beta)``.

        Setting the derivatives to zero gives ``var = beta / (beta + w**2/s**2)``
        and ``mean = w (x - b) / (w**2 + beta s**2)``; with ``beta == 1`` this
        is the exact posterior.

        Args:
            x: an observation (float).
            beta: the KL weight, > 0.

        Returns:
            ``(mean, var)``.

        Introduced in chapter 4.
        """
        beta = check_number(beta, "beta", strict=True)
        w2, s2 = self.weight ** 2, self.noise_std ** 2
        var = beta / (beta + w2 / s2)
        mean = self.weight * (np.asarray(x, np.float64) - self.bias) / (w2 + beta * s2)
        return mean, var


def kl_sign_experiment(model, images, kl_sign: int, steps: int = 300, learning_rate: float = 1e-3,
                       seed: int = 0) -> dict[str, np.ndarray]:
    """Train ``model`` on one fixed batch with the KL added (+1) or subtracted (-1); record both terms.

    Each step minimizes ``reconstruction + kl_sign * kl`` (batch means, nats
    per image; one reparameterized sample per image, drawn with the stateless
    seed ``(seed + step, 0)``) with Adam. (That additive derivation predates
    :func:`vae.seeding.stateless_seed`'s ``(seed, step)``; it is kept because
    chapter 4 prints the curves it draws. Runs with neighbouring seeds
    therefore share all but one step's noise.) ``kl_sign = +1`` is the negative
    ELBO; ``kl_sign = -1`` is the source article's ``L_rec - L_KL``. The run
    stops early, after recording it, at the first step whose loss is not finite
    (the wrong sign overflows float32 within a few dozen steps); the update of
    that last step has then been applied, so the model's weights may hold NaN.

    Args:
        model: a :class:`vae.models.VAE` (its weights are changed).
        images: the batch, ``(batch, 28, 28, 1)`` float32 in [0, 1].
        kl_sign: +1 or -1.
        steps: the most optimization steps to take (>= 1).
        learning_rate: Adam's step size.
        seed: base of the per-step noise seeds.

    Returns:
        ``{"step": (n,), "reconstruction": (n,), "kl": (n,)}`` NumPy arrays,
        the terms measured at each step before its update; ``n <= steps``, and
        ``n < steps`` only if the last recorded values are not finite.

    Introduced in chapter 4.
    """
    if kl_sign not in (1, -1):
        raise ValueError(f"kl_sign must be +1 (the ELBO) or -1 (the article's sign), got {kl_sign!r}")
    steps = check_positive_int(steps, "steps")
    x = check_images(images)
    optimizer = keras.optimizers.Adam(learning_rate)
    sign = tf.constant(float(kl_sign))

    @tf.function
    def step(noise_seed):
        with tf.GradientTape() as tape:
            terms = losses.elbo_terms(model, x, seed=noise_seed)
            reconstruction = -tf.reduce_mean(terms["log_likelihood"])
            kl = tf.reduce_mean(terms["kl"])
            loss = reconstruction + sign * kl
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return reconstruction, kl, loss

    records = []
    for index in range(steps):
        reconstruction, kl, loss = step(tf.constant(seed + index, tf.int64))
        records.append((index, float(reconstruction), float(kl)))
        if not math.isfinite(float(loss)):
            break
    record_array = np.array(records, dtype=np.float64)
    return {"step": record_array[:, 0].astype(np.int64), "reconstruction": record_array[:, 1],
            "kl": record_array[:, 2]}

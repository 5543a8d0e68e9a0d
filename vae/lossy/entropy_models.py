"""Entropy models of the learned codec: a factorized density per channel and a Gaussian conditional.

Both give the *likelihood* of a latent perturbed by uniform noise, i.e. the
probability mass of the unit interval around it, which for an integer
latent is the probability the entropy coder will use; ``-log2`` of it is
its rate in bits.

* :class:`FactorizedDensity` (the "entropy bottleneck" of Ballé et al.,
  2017/2018): for each channel a cumulative ``c(x) = sigmoid(f(x))`` where
  ``f`` is a small scalar network made monotone by positive (softplus)
  weights and gates ``x + tanh(a)·tanh(x)`` with ``|tanh(a)| < 1``. The
  density of ``y + u`` with ``u ~ U(-½, ½)`` is ``c(y + ½) - c(y - ½)``.
* :func:`gaussian_bits`: ``-log2`` of the mass of a zero-mean Gaussian of
  scale σ convolved with the same uniform, ``Φ((y + ½)/σ) - Φ((y - ½)/σ)``
  (the scale hyperprior of Ballé et al., 2018), computed in log space and
  capped at the 16 bits the coder's tables charge their rarest symbol.
* :class:`ScaleLadder`: the fixed, finite set of scales the coder uses for
  the Gaussian conditional, and the map from a predicted log σ to its index.

Introduced in chapter 10.
"""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np
import tensorflow as tf

TABLE_PRECISION_BITS = 16
"""The integer tables (:mod:`vae.lossy.tables`) count in units of ``2**-16``."""

LIKELIHOOD_FLOOR = 2.0 ** -TABLE_PRECISION_BITS
"""A likelihood never goes below this: the smallest probability an integer table gives a symbol,
so training charges a rare value what the coder will (16 bits), no more.

The floor makes the model heavy-tailed: a Gaussian plus a thin uniform
component, so a latent far out costs 16 bits instead of its Gaussian cost
(and, beyond the floor, feels no gradient). The price is that the coder's
tables must reach as far as the latents do
(:data:`vae.lossy.tables.GAUSSIAN_MIN_RADIUS`), or it clips them."""


class FactorizedDensity(keras.layers.Layer):
    """A learned univariate density per channel, for latents ``(..., channels)``.

    Args:
        channels: number of channels (each has its own density).
        filters: widths of the hidden layers of the cumulative's network.
        init_scale: rough initial width of the densities.

    Calling it on a float tensor ``(..., channels)`` returns the likelihoods
    ``c(y + ½) - c(y - ½)``, same shape, in (0, 1].

    Introduced in chapter 10.
    """

    def __init__(self, channels: int, filters=(3, 3, 3), init_scale: float = 10.0, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.filters, self.init_scale = int(channels), tuple(int(f) for f in filters), float(init_scale)
        widths = (1, *self.filters, 1)
        scale = self.init_scale ** (1.0 / (len(widths) - 1))
        self._matrices, self._biases, self._gates = [], [], []
        for k in range(len(widths) - 1):
            start = math.log(math.expm1(1.0 / scale / widths[k + 1]))
            self._matrices.append(self.add_weight(
                shape=(self.channels, widths[k + 1], widths[k]), name=f"matrix_{k}",
                initializer=keras.initializers.Constant(start)))
            self._biases.append(self.add_weight(
                shape=(self.channels, widths[k + 1], 1), name=f"bias_{k}",
                initializer=keras.initializers.RandomUniform(-0.5, 0.5)))
            if k < len(widths) - 2:
                self._gates.append(self.add_weight(
                    shape=(self.channels, widths[k + 1], 1), name=f"gate_{k}", initializer="zeros"))

    def cumulative_logits(self, values):
        """``f(x)`` for ``values`` shaped ``(channels, 1, n)``: logits of the cumulative, same shape."""
        x = values
        for k, matrix in enumerate(self._matrices):
            x = tf.linalg.matmul(tf.nn.softplus(matrix), x) + self._biases[k]
            if k < len(self._gates):
                x = x + tf.tanh(self._gates[k]) * tf.tanh(x)
        return x

    def _by_channel(self, y):
        """``(..., C)`` -> ``(C, 1, n)`` and the inverse shape."""
        y = tf.convert_to_tensor(y, tf.float32)
        flat = tf.reshape(y, (-1, self.channels))
        return tf.transpose(flat)[:, None, :], tf.shape(y)

    def call(self, y):
        return self.likelihood(y, LIKELIHOOD_FLOOR)

    def likelihood(self, y, floor: float = LIKELIHOOD_FLOOR):
        """``c(y + ½) - c(y - ½)`` for ``y`` ``(..., channels)``, floored at ``floor``, same shape."""
        values, shape = self._by_channel(y)
        lower = self.cumulative_logits(values - 0.5)
        upper = self.cumulative_logits(values + 0.5)
        # Work in the tail where the sigmoids are small, so the difference keeps its precision.
        sign = tf.stop_gradient(-tf.sign(lower + upper))
        likelihood = tf.abs(tf.sigmoid(sign * upper) - tf.sigmoid(sign * lower))
        likelihood = tf.maximum(likelihood, floor)
        return tf.reshape(tf.transpose(likelihood[:, 0, :]), shape)

    def integer_pmf(self, radius: int) -> np.ndarray:
        """Probabilities of the integers ``-radius..radius`` per channel: float64 ``(channels, 2 radius + 1)``.

        Computed once, when the integer tables are derived (:mod:`vae.lossy.tables`).
        """
        grid = np.arange(-radius, radius + 1, dtype=np.float32)
        values = np.tile(grid, (self.channels, 1))
        likelihood = self.likelihood(np.ascontiguousarray(values.T), floor=0.0).numpy().T
        return likelihood.astype(np.float64)

    def get_config(self) -> dict:
        return {**super().get_config(), "channels": self.channels, "filters": list(self.filters),
                "init_scale": self.init_scale}


def standard_normal_cdf(x):
    """Φ(x) through ``erfc``, accurate far into the lower tail. Introduced in chapter 10."""
    return 0.5 * tf.math.erfc(-x / math.sqrt(2.0))


_ASYMPTOTIC_BELOW = -5.0


def log_normal_cdf(x):
    """log Φ(x) for float32 tensors, finite and with a useful gradient however far into the lower tail.

    Above -5 it is ``log`` of :func:`standard_normal_cdf`; below, the
    asymptotic series ``-x²/2 - log(-x) - ½ log 2π + log(1 - 1/x² + 3/x⁴)``
    (relative error under 10⁻³ at -5, falling fast), where ``erfc`` would
    underflow to 0 near -13. Introduced in chapter 10.
    """
    near = tf.maximum(x, _ASYMPTOTIC_BELOW)   # each branch sees only safe inputs (no NaN gradients)
    far = tf.minimum(x, _ASYMPTOTIC_BELOW)
    inverse_square = 1.0 / tf.square(far)
    asymptotic = (-0.5 * tf.square(far) - tf.math.log(-far) - 0.5 * math.log(2 * math.pi)
                  + tf.math.log1p(-inverse_square + 3.0 * tf.square(inverse_square)))
    return tf.where(x < _ASYMPTOTIC_BELOW, asymptotic, tf.math.log(standard_normal_cdf(near)))


def gaussian_bits(y, scale):
    """Bits of ``[y - ½, y + ½]`` under N(0, scale²), capped at ``TABLE_PRECISION_BITS``: same shape as ``y``.

    The uncapped value is ``-log2(Φ((y+½)/σ) - Φ((y-½)/σ))``, computed on
    ``-|y|`` (the lower tail) in log space,
    ``log(Φ(u) - Φ(l)) = log Φ(u) + log(-expm1(log Φ(l) - log Φ(u)))``, so it
    is exact however far out ``y`` is; the cap (the likelihood floor
    :data:`LIKELIHOOD_FLOOR`) is what the coder's integer tables charge.
    Introduced in chapter 10.
    """
    y = tf.convert_to_tensor(y, tf.float32)
    values = -tf.abs(y)
    log_upper = log_normal_cdf((values + 0.5) / scale)
    log_lower = log_normal_cdf((values - 0.5) / scale)
    gap = tf.minimum(log_lower - log_upper, -1e-7)  # log Φ(l) < log Φ(u); keep expm1 away from 0
    bits = -(log_upper + tf.math.log(-tf.math.expm1(gap))) / math.log(2.0)
    return tf.minimum(bits, float(TABLE_PRECISION_BITS))


@dataclasses.dataclass(frozen=True)
class ScaleLadder:
    """The scales the coder knows: ``levels`` values of σ evenly spaced in log σ.

    ``σ_i = exp(log_min + i·step)``, ``step = (log_max - log_min)/(levels - 1)``.
    A predicted ``r = log σ`` maps to the nearest level; the boundaries
    between levels are fixed float64 numbers, so the index depends only on
    ``r``, and :mod:`vae.lossy.exact` makes ``r`` itself exact.

    Training clips log σ to ``[log_min, log_max]`` too, so training and coding
    agree on the range.

    Introduced in chapter 10.
    """

    minimum: float = 0.11
    maximum: float = 64.0
    levels: int = 64

    @property
    def log_scales(self) -> np.ndarray:
        """``(levels,)`` float64: log σ of each level."""
        return np.linspace(math.log(self.minimum), math.log(self.maximum), self.levels)

    @property
    def boundaries(self) -> np.ndarray:
        """``(levels - 1,)`` float64: log σ half-way between neighbouring levels."""
        log_scales = self.log_scales
        return (log_scales[1:] + log_scales[:-1]) / 2

    def indices(self, log_scale: np.ndarray) -> np.ndarray:
        """Level of each predicted log σ (float64 array, any shape) as int32, same shape."""
        return np.searchsorted(self.boundaries, np.asarray(log_scale, np.float64), side="right").astype(np.int32)

    def training_scale(self, log_scale):
        """σ for training: ``exp`` of log σ clipped to the ladder's range (a tensor)."""
        return tf.exp(tf.clip_by_value(log_scale, math.log(self.minimum), math.log(self.maximum)))

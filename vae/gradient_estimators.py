"""Two Monte Carlo estimators of the gradient of a Gaussian expectation.

The quantity is ``E_{z ~ N(mean, diag(exp(log_std))^2)}[f(z)]`` and its
gradient with respect to ``mean`` and ``log_std``. Both estimators return one
gradient estimate per sample (``(num_samples, dim)`` for each parameter), so
that a caller can average them, or measure their spread:

- the score-function estimator (REINFORCE, the log-derivative trick):
  ``(f(z) - baseline) * d log q(z) / d theta``; it needs only values of ``f``;
- the reparameterization estimator: write ``z = mean + exp(log_std) * eps``
  with ``eps ~ N(0, I)`` and differentiate ``f(z)`` through ``z``; it needs
  ``f`` to be differentiable (written with TensorFlow ops).

With the same ``seed`` both estimators use the same draws ``eps``, so a
comparison between them is paired. Everything is computed in float64.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import tensorflow as tf

from vae.checks import check_positive_int
from vae.seeding import stateless_seed


class GradientSamples(NamedTuple):
    """Per-sample gradient estimates, one row per draw of ``z``.

    Attributes:
        mean: ``(num_samples, dim)`` float64 array, estimates of d E[f] / d mean.
        log_std: ``(num_samples, dim)`` float64 array, estimates of d E[f] / d log_std.

    Introduced in chapter 3.
    """

    mean: np.ndarray
    log_std: np.ndarray


def _parameters(mean, log_std) -> tuple[tf.Tensor, tf.Tensor]:
    """``mean`` and ``log_std`` as float64 vectors ``(dim,)`` (a scalar becomes ``(1,)``)."""
    mean = np.atleast_1d(np.asarray(mean, np.float64))
    log_std = np.atleast_1d(np.asarray(log_std, np.float64))
    if mean.ndim != 1 or mean.shape != log_std.shape:
        raise ValueError(f"mean and log_std must be scalars or vectors of the same length; "
                         f"got shapes {mean.shape} and {log_std.shape}")
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(log_std))):
        raise ValueError("mean and log_std must be finite")
    return tf.constant(mean), tf.constant(log_std)


def standard_normal_draws(num_samples: int, dim: int, seed: int = 0) -> tf.Tensor:
    """The noise ``eps`` both estimators use: ``(num_samples, dim)`` float64, N(0, 1).

    Stateless: the same ``(num_samples, dim, seed)`` gives the same numbers,
    on every run.

    Introduced in chapter 3.
    """
    num_samples = check_positive_int(num_samples, "num_samples")
    dim = check_positive_int(dim, "dim")
    return tf.random.stateless_normal((num_samples, dim), seed=stateless_seed(seed, 0), dtype=tf.float64)


def _values_of(f: Callable, z: tf.Tensor) -> tf.Tensor:
    """``f(z)`` as a float64 ``(num_samples,)`` tensor, checked."""
    values = tf.cast(f(z), tf.float64)
    if values.shape.rank != 1 or values.shape[0] != z.shape[0]:
        raise ValueError(f"f must map z of shape (num_samples, dim) = {tuple(z.shape)} to one value per "
                         f"sample, shape ({z.shape[0]},); it returned shape {tuple(values.shape)}")
    return values


def _rows(vector: tf.Tensor, num_samples: int) -> tf.Tensor:
    """Repeat a ``(dim,)`` parameter once per sample: ``(num_samples, dim)``.

    Differentiating a sum over samples with respect to these copies gives
    each sample's own gradient in its own row.
    """
    return tf.tile(vector[None, :], [num_samples, 1])


def reparameterization_gradients(f: Callable, mean, log_std, num_samples: int,
                                 seed: int = 0) -> GradientSamples:
    """Per-sample reparameterization (pathwise) gradients of ``E[f(z)]``.

    Each row is the gradient of ``f(mean + exp(log_std) * eps_s)`` with
    respect to ``mean`` and ``log_std``, computed by automatic
    differentiation through ``z``.

    Args:
        f: a function of ``z``, a float64 tensor ``(num_samples, dim)``,
            returning ``(num_samples,)`` values, written with differentiable
            TensorFlow ops; each value must depend on its own row of ``z`` only.
        mean, log_std: the Gaussian's parameters, scalars or ``(dim,)`` vectors;
            the standard deviation is ``exp(log_std)``.
        num_samples: draws of ``z`` (>= 1).
        seed: int; the draws are :func:`standard_normal_draws` ``(num_samples, dim, seed)``.

    Returns:
        :class:`GradientSamples`, each field ``(num_samples, dim)``; the
        column means estimate the exact gradient without bias.

    Introduced in chapter 3.
    """
    mean, log_std = _parameters(mean, log_std)
    eps = standard_normal_draws(num_samples, int(mean.shape[0]), seed)
    mean_rows, log_std_rows = _rows(mean, num_samples), _rows(log_std, num_samples)
    with tf.GradientTape() as tape:
        tape.watch([mean_rows, log_std_rows])
        z = mean_rows + tf.exp(log_std_rows) * eps
        total = tf.reduce_sum(_values_of(f, z))
    grad_mean, grad_log_std = tape.gradient(total, [mean_rows, log_std_rows],
                                            unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return GradientSamples(grad_mean.numpy(), grad_log_std.numpy())


def score_function_gradients(f: Callable, mean, log_std, num_samples: int, seed: int = 0,
                             baseline: float = 0.0) -> GradientSamples:
    """Per-sample score-function (REINFORCE) gradients of ``E[f(z)]``.

    Each row is ``(f(z_s) - baseline) * grad log q(z_s)``, where ``q`` is the
    Gaussian and ``z_s = mean + exp(log_std) * eps_s`` is held fixed (no
    gradient flows through it). For a diagonal Gaussian the score is
    ``eps / std`` for the mean and ``eps**2 - 1`` for the log standard
    deviation; here it is obtained by differentiating ``log q``. A constant
    ``baseline`` leaves the estimator unbiased, because the score has
    expectation zero; a good one lowers its variance.

    Args:
        f: a function of ``z`` ``(num_samples, dim)`` (float64) returning
            ``(num_samples,)`` values; only its values are used.
        mean, log_std: scalars or ``(dim,)`` vectors; std is ``exp(log_std)``.
        num_samples: draws of ``z`` (>= 1).
        seed: int; the same draws as :func:`reparameterization_gradients` with this seed.
        baseline: a number subtracted from ``f(z)`` (0 gives plain REINFORCE).

    Returns:
        :class:`GradientSamples`, each field ``(num_samples, dim)``.

    Introduced in chapter 3.
    """
    mean, log_std = _parameters(mean, log_std)
    eps = standard_normal_draws(num_samples, int(mean.shape[0]), seed)
    z = tf.stop_gradient(mean[None, :] + tf.exp(log_std)[None, :] * eps)
    values = _values_of(f, z) - tf.constant(float(baseline), tf.float64)
    mean_rows, log_std_rows = _rows(mean, num_samples), _rows(log_std, num_samples)
    with tf.GradientTape() as tape:
        tape.watch([mean_rows, log_std_rows])
        log_q = tf.reduce_sum(-0.5 * np.log(2.0 * np.pi) - log_std_rows
                              - 0.5 * tf.square((z - mean_rows) * tf.exp(-log_std_rows)), axis=1)
        total = tf.reduce_sum(log_q)
    score_mean, score_log_std = tape.gradient(total, [mean_rows, log_std_rows])
    return GradientSamples((values[:, None] * score_mean).numpy(), (values[:, None] * score_log_std).numpy())


def summarize(per_sample) -> dict[str, np.ndarray]:
    """Mean, variance and standard error of per-sample estimates, column by column.

    Args:
        per_sample: ``(num_samples, ...)`` array, e.g. a field of :class:`GradientSamples`.

    Returns:
        ``{"mean", "variance", "standard_error"}``, each shaped ``per_sample.shape[1:]``:
        the sample mean, the unbiased sample variance of ONE sample's
        estimate, and the standard error of the mean, ``sqrt(variance / num_samples)``.

    Introduced in chapter 3.
    """
    per_sample = np.asarray(per_sample, np.float64)
    if per_sample.ndim < 1 or per_sample.shape[0] < 2:
        raise ValueError(f"need at least two samples along the first axis, got shape {per_sample.shape}")
    variance = per_sample.var(axis=0, ddof=1)
    return {"mean": per_sample.mean(axis=0), "variance": variance,
            "standard_error": np.sqrt(variance / per_sample.shape[0])}


def variance_of_averages(per_sample, batch_size: int) -> np.ndarray:
    """Measured variance of the estimate that averages ``batch_size`` samples.

    The rows are split into consecutive groups of ``batch_size`` (left-over
    rows are dropped), each group is averaged, and the unbiased variance of
    those averages is returned. For independent samples it is close to the
    one-sample variance divided by ``batch_size``.

    Args:
        per_sample: ``(num_samples, ...)`` array.
        batch_size: samples per average (>= 1); needs at least two groups.

    Returns:
        array shaped ``per_sample.shape[1:]``.

    Introduced in chapter 3.
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    per_sample = np.asarray(per_sample, np.float64)
    groups = per_sample.shape[0] // batch_size
    if groups < 2:
        raise ValueError(f"{per_sample.shape[0]} samples make fewer than two groups of {batch_size}")
    averages = per_sample[:groups * batch_size].reshape(groups, batch_size, *per_sample.shape[1:]).mean(axis=1)
    return averages.var(axis=0, ddof=1)

"""The latent space: posterior means, grids on the prior, interpolation, figures.

Tools for looking at what a trained encoder does with the data and what a
decoder makes of the codes it was never shown:

- :func:`encode_means` and :func:`posterior_mean_variance` (per-unit
  variance of E_q[z] over the data, the active-units statistic);
- :func:`prior_quantiles` and :func:`prior_quantile_grid`: codes laid on the
  quantiles of the N(0, 1) prior, for the "manifold" picture of a 2-D model;
- :func:`decode_to_canvas`: decode a batch of codes into one tiled image;
- :func:`linear_interpolation` and :func:`spherical_interpolation`;
- figures: :func:`scatter_latents`, :func:`show_manifold`,
  :func:`plot_unit_variances`.

Introduced in chapters 6 and 7.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from vae.checks import check_images, check_int, check_positive_int
from vae.plotting import tile_images

ACTIVE_UNIT_THRESHOLD = 0.01
"""Burda et al. (2016): unit u is active if ``Var_x(E_q[z_u|x]) > 0.01``."""


# -- posterior means ----------------------------------------------------------------
def encode_means(model, images, batch_size: int = 500) -> np.ndarray:
    """Posterior means E_q[z|x] of many images, encoded batch by batch.

    Args:
        model: anything with ``encode(x) -> (mean, log_var)`` (a :class:`vae.models.VAE`).
        images: ``(N, 28, 28, 1)`` float images in [0, 1].
        batch_size: images encoded at once.

    Returns:
        ``(N, latent_dim)`` float32 NumPy array.

    Introduced in chapter 6.
    """
    images = check_images(images)
    batch_size = check_positive_int(batch_size, "batch_size")
    means = [model.encode(images[start:start + batch_size])[0].numpy()
             for start in range(0, int(images.shape[0]), batch_size)]
    return np.concatenate(means).astype(np.float32)


def posterior_mean_variance(model, images, batch_size: int = 500) -> np.ndarray:
    """Per-unit variance over the data of the posterior mean, ``Var_x(E_q[z_u|x])``.

    This is the statistic of Burda et al. (2016): unit ``u`` is *active* when
    it exceeds 0.01 (:data:`ACTIVE_UNIT_THRESHOLD`); an inactive unit's mean
    barely moves whatever the image, so it carries no information about x.
    The variance is the population one (``ddof=0``), as in
    :func:`vae.evaluation.active_units`, which counts with the same means.

    Args:
        model: a :class:`vae.models.VAE`.
        images: ``(N, 28, 28, 1)`` float images in [0, 1].

    Returns:
        ``(latent_dim,)`` float64 array of variances (units of z squared).

    Introduced in chapter 6.
    """
    return np.var(encode_means(model, images, batch_size).astype(np.float64), axis=0)


# -- a grid laid on the prior -------------------------------------------------------
def _standard_normal_quantile(probabilities) -> np.ndarray:
    """Inverse CDF of N(0, 1) (``tf.math.ndtri``), as a float64 NumPy array."""
    return tf.math.ndtri(tf.constant(probabilities, tf.float64)).numpy()


def prior_quantiles(n: int, low: float | None = None, high: float | None = None) -> np.ndarray:
    """``n`` values of a standard-normal coordinate at evenly spaced probabilities.

    By default the probabilities are the midpoints ``(i + 0.5) / n``: the real
    line is cut into ``n`` slices of equal prior mass ``1 / n`` and each value
    sits at the median of its slice. With ``low`` and ``high`` the
    probabilities run evenly from ``low`` to ``high`` instead. The values are
    ``Phi^{-1}(p)``, the Gaussian inverse CDF (``tf.math.ndtri``).

    Args:
        n: number of values (>= 1).
        low, high: optional probabilities with ``0 < low < high < 1``; give both or neither.

    Returns:
        ``(n,)`` float64 array, increasing (for ``n > 1``), symmetric about 0
        when ``low == 1 - high`` (always for the default).

    Introduced in chapter 7.
    """
    n = check_positive_int(n, "n")
    if (low is None) != (high is None):
        raise ValueError("give both low and high, or neither")
    if low is None:
        probabilities = (np.arange(n) + 0.5) / n
    else:
        if not 0.0 < low < high < 1.0:
            raise ValueError(f"need 0 < low < high < 1, got low={low!r}, high={high!r}")
        probabilities = np.linspace(low, high, n) if n > 1 else np.array([0.5 * (low + high)])
    values = _standard_normal_quantile(probabilities)
    if low is None or math.isclose(low, 1.0 - high):
        values = 0.5 * (values - values[::-1])  # exact symmetry despite rounding
    return values


def prior_quantile_grid(n: int, low: float | None = None, high: float | None = None) -> np.ndarray:
    """An ``n x n`` grid of 2-D codes on the prior's quantiles, in reading order.

    Row ``r`` of the picture has ``z2 = q[n - 1 - r]`` (top row largest, as on
    a plot's vertical axis) and column ``c`` has ``z1 = q[c]``, where
    ``q = prior_quantiles(n, low, high)``. Decoding the codes and tiling them
    ``n`` per row therefore draws the decoder's output over the (z1, z2) plane
    with the usual orientation.

    Args:
        n: points per axis.
        low, high: see :func:`prior_quantiles`.

    Returns:
        ``(n * n, 2)`` float32 array of codes ``(z1, z2)``.

    Introduced in chapter 7.
    """
    values = prior_quantiles(n, low, high)
    z1, z2 = np.meshgrid(values, values[::-1])  # z2 decreases down the rows
    return np.stack([z1.ravel(), z2.ravel()], axis=1).astype(np.float32)


def decode_to_canvas(model, codes, columns: int, padding: int = 0, batch_size: int = 500) -> np.ndarray:
    """Decode codes to Bernoulli means and tile them into one 2-D image.

    Args:
        model: anything with ``decode(z) -> logits`` ``(batch, 28, 28, 1)``.
        codes: ``(n, latent_dim)`` codes, in reading order.
        columns: images per row.
        padding: pixels between tiles (0 gives one continuous canvas).

    Returns:
        ``(rows * (28 + padding) - padding, columns * (28 + padding) - padding)``
        float32 array in [0, 1], ink 1 and background 0 (as MNIST).

    Introduced in chapter 7.
    """
    codes = np.asarray(codes, np.float32)
    columns = check_positive_int(columns, "columns")
    images = np.concatenate([tf.sigmoid(model.decode(codes[start:start + batch_size])).numpy()
                             for start in range(0, len(codes), batch_size)])
    return tile_images(images, columns=columns, padding=padding)


# -- interpolation ------------------------------------------------------------------
def _endpoints(z_start, z_end, steps):
    start = np.asarray(z_start, np.float64)
    end = np.asarray(z_end, np.float64)
    if start.shape != end.shape or start.ndim == 0:
        raise ValueError(f"endpoints must be arrays of the same shape (..., latent_dim), got "
                         f"{start.shape} and {end.shape}")
    steps = check_int(steps, "steps", minimum=2)  # the two endpoints at least
    t = np.linspace(0.0, 1.0, steps).reshape((steps,) + (1,) * start.ndim)
    return start, end, t


def linear_interpolation(z_start, z_end, steps: int) -> np.ndarray:
    """Points evenly spaced on the straight segment from ``z_start`` to ``z_end``.

    ``z(t) = (1 - t) z_start + t z_end`` for ``t = 0, 1/(steps-1), ..., 1``.

    Args:
        z_start, z_end: codes of the same shape, ``(latent_dim,)`` or
            ``(batch, latent_dim)``.
        steps: number of points including both ends (>= 2).

    Returns:
        ``(steps,) + z_start.shape`` float32 array; index 0 is ``z_start`` and
        index ``steps - 1`` is ``z_end``.

    Introduced in chapter 7.
    """
    start, end, t = _endpoints(z_start, z_end, steps)
    path = (1.0 - t) * start + t * end
    path[0], path[-1] = start, end
    return path.astype(np.float32)


def spherical_interpolation(z_start, z_end, steps: int) -> np.ndarray:
    """Points on the great-circle arc from ``z_start`` to ``z_end`` (slerp).

    ``z(t) = sin((1 - t) w) / sin(w) z_start + sin(t w) / sin(w) z_end`` where
    ``w`` is the angle between the two codes (over the last axis). When the
    two have equal norms every point keeps that norm; a straight line instead
    cuts inside the sphere, towards the origin, where a high-dimensional
    Gaussian has almost no mass. Nearly parallel codes (``w < 1e-6``) fall back
    to the straight line.

    Args:
        z_start, z_end: codes of the same shape, ``(latent_dim,)`` or
            ``(batch, latent_dim)``.
        steps: number of points including both ends (>= 2).

    Returns:
        ``(steps,) + z_start.shape`` float32 array; index 0 is ``z_start`` and
        index ``steps - 1`` is ``z_end``.

    Introduced in chapter 7.
    """
    start, end, t = _endpoints(z_start, z_end, steps)
    norms = np.linalg.norm(start, axis=-1, keepdims=True) * np.linalg.norm(end, axis=-1, keepdims=True)
    cosine = np.sum(start * end, axis=-1, keepdims=True) / np.maximum(norms, 1e-12)
    angle = np.arccos(np.clip(cosine, -1.0, 1.0))
    sin_angle = np.sin(angle)
    safe = sin_angle > 1e-6
    denominator = np.where(safe, sin_angle, 1.0)
    weight_start = np.where(safe, np.sin((1.0 - t) * angle) / denominator, 1.0 - t)
    weight_end = np.where(safe, np.sin(t * angle) / denominator, t)
    path = weight_start * start + weight_end * end
    path[0], path[-1] = start, end
    return path.astype(np.float32)


# -- figures ------------------------------------------------------------------------
def scatter_latents(means, labels, ax=None, size: float = 3.0, alpha: float = 0.6, prior_circles=(1.0, 2.0)):
    """Scatter 2-D posterior means coloured by digit label, with a colour legend.

    Args:
        means: ``(N, 2)`` codes (e.g. :func:`encode_means` of a 2-D model).
        labels: ``(N,)`` integer labels 0-9.
        ax: matplotlib Axes (a new square figure if None).
        size, alpha: marker area and opacity.
        prior_circles: radii of dashed reference circles (the prior's 1 and 2
            standard deviations); ``()`` draws none.

    Returns:
        the matplotlib ``Axes`` (axes labelled z1 and z2, equal aspect).

    Introduced in chapter 7.
    """
    import matplotlib.pyplot as plt

    means = np.asarray(means)
    labels = np.asarray(labels)
    if means.ndim != 2 or means.shape[1] != 2:
        raise ValueError(f"expected 2-D codes shaped (N, 2), got shape {means.shape}")
    if labels.shape != (len(means),):
        raise ValueError(f"expected one label per code, shape ({len(means)},), got {labels.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6))
    colours = plt.get_cmap("tab10")
    for digit in np.unique(labels):
        chosen = labels == digit
        ax.scatter(means[chosen, 0], means[chosen, 1], s=size, alpha=alpha, color=colours(int(digit) % 10),
                   label=str(digit), rasterized=True)
    for radius in prior_circles:
        ax.add_patch(plt.Circle((0, 0), radius, fill=False, linestyle="--", color="0.3", linewidth=1))
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    legend = ax.legend(title="digit", markerscale=12 / max(size, 1e-3) ** 0.5, loc="center left",
                       bbox_to_anchor=(1.02, 0.5), frameon=False)
    for handle in legend.legend_handles:
        handle.set_alpha(1.0)
    return ax


def show_manifold(model, n: int = 20, low: float | None = None, high: float | None = None, ax=None,
                  tick_every: int = 4):
    """Decode a 2-D model on an ``n x n`` prior-quantile grid and draw the canvas.

    Ticks are placed at tile centres and labelled with the codes' values, so
    the axes read in units of z (the prior's standard deviations).

    Args:
        model: a model with ``latent_dim == 2``.
        n: tiles per axis.
        low, high: see :func:`prior_quantiles`.
        ax: matplotlib Axes (a new figure if None).
        tick_every: label every ``tick_every``-th tile, counted from both edges
            so that the labels are symmetric about 0.

    Returns:
        the matplotlib ``Axes``.

    Introduced in chapter 7.
    """
    import matplotlib.pyplot as plt

    if getattr(model, "latent_dim", None) != 2:
        raise ValueError(f"show_manifold needs a model with a 2-D latent space, got latent_dim="
                         f"{getattr(model, 'latent_dim', None)}")
    values = prior_quantiles(n, low, high)
    canvas = decode_to_canvas(model, prior_quantile_grid(n, low, high), columns=n)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 7))
    ax.imshow(1.0 - canvas, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    step = max(1, int(tick_every))
    left = list(range(0, (n + 1) // 2, step))
    positions = np.array(sorted(set(left) | {n - 1 - i for i in left}))  # symmetric about the centre
    centres = positions * 28 + 13.5
    ax.set_xticks(centres, [f"{values[i]:.2f}" for i in positions])
    ax.set_yticks(centres, [f"{values[n - 1 - i]:.2f}" for i in positions])
    ax.set_xlabel("$z_1$ (at prior quantiles)")
    ax.set_ylabel("$z_2$ (at prior quantiles)")
    return ax


def plot_unit_variances(variances, threshold: float = ACTIVE_UNIT_THRESHOLD, ax=None):
    """Bar chart of ``Var_x(E_q[z_u|x])`` per latent unit, with the active-unit threshold.

    The vertical axis is logarithmic, since inactive units sit orders of
    magnitude below active ones. Bars above the threshold are dark, below it light.

    Args:
        variances: ``(latent_dim,)`` from :func:`posterior_mean_variance`.
        threshold: the line drawn (0.01, Burda et al. 2016).
        ax: matplotlib Axes (a new figure if None).

    Returns:
        the matplotlib ``Axes``.

    Introduced in chapter 6.
    """
    import matplotlib.pyplot as plt

    variances = np.asarray(variances, np.float64)
    if variances.ndim != 1 or variances.size == 0:
        raise ValueError(f"expected a (latent_dim,) array of variances, got shape {variances.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.2))
    units = np.arange(variances.size)
    active = variances > threshold
    ax.bar(units[active], variances[active], color="tab:blue", label="active")
    ax.bar(units[~active], np.maximum(variances[~active], 1e-12), color="tab:gray", alpha=0.6, label="inactive")
    ax.axhline(threshold, color="tab:red", linestyle="--", linewidth=1.2, label=f"threshold {threshold:g}")
    ax.set_yscale("log")
    ax.set_ylim(bottom=max(min(float(variances.min()), threshold) / 3.0, 1e-12))
    ax.set_xticks(units)
    ax.set_xlabel("latent unit $u$")
    ax.set_ylabel(r"$\mathrm{Var}_x(\mathbb{E}_q[z_u])$")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return ax

"""Figures: image grids and their files.

Introduced in chapter 1; the later chapters add their own figures.
"""

from __future__ import annotations

import math

import numpy as np

from vae.checks import check_images


def tile_images(images, columns: int | None = None, padding: int = 1, padding_value: float = 0.3) -> np.ndarray:
    """Lay ``(n, 28, 28, 1)`` images in [0, 1] out as one grey 2-D array.

    Args:
        images: the images, in reading order.
        columns: images per row (default: a near-square grid).
        padding: pixels between images.
        padding_value: grey level of the padding (a faint line between digits).

    Returns:
        ``(rows * (28 + padding) - padding, columns * (28 + padding) - padding)``
        float array in [0, 1]; ink is 1 and background 0, as in MNIST.

    Introduced in chapter 1.
    """
    images = check_images(images).numpy()[..., 0]
    count = len(images)
    if count == 0:
        raise ValueError("no images to tile")
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    height, width = images.shape[1:]
    canvas = np.full((rows * (height + padding) - padding, columns * (width + padding) - padding),
                     padding_value, np.float32)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        top, left = row * (height + padding), column * (width + padding)
        canvas[top:top + height, left:left + width] = image
    return canvas


def save_image_grid(images, path, columns: int | None = None) -> None:
    """Write images as one PNG grid, ink dark on white (as digits are drawn).

    Introduced in chapter 5.
    """
    import matplotlib.image

    matplotlib.image.imsave(path, 1.0 - tile_images(images, columns), cmap="gray", vmin=0.0, vmax=1.0,
                            format="png")


def show_images(images, title: str | None = None, columns: int | None = None, ax=None):
    """Draw images as one grid, ink dark on white, on ``ax`` (a new figure if None).

    Args:
        images: ``(n, 28, 28, 1)`` in [0, 1].
        title: what the grid shows; say whether they are data, reconstructions
            or samples from the prior.
        columns: images per row.

    Returns:
        the matplotlib ``Axes``.

    Introduced in chapter 1.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(1.0 - tile_images(images, columns), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax


def show_rows(rows: dict, title: str | None = None, width: float = 8.0):
    """One labelled row of images per entry, e.g. ``{"data": x, "reconstruction": r}``.

    Every row should hold the same number of images, so that columns line up
    (column j of each row is about the same digit).

    Returns:
        the matplotlib ``Figure``.

    Introduced in chapter 2.
    """
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("rows must name at least one row of images")
    counts = {len(images) for images in rows.values()}
    if len(counts) != 1:
        raise ValueError(f"every row must hold the same number of images, got {sorted(counts)}")
    (count,) = counts
    figure, axes = plt.subplots(len(rows), 1, figsize=(width, width / count * len(rows) * 1.15 + 0.3),
                                squeeze=False)
    for ax, (label, images) in zip(axes[:, 0], rows.items()):
        show_images(images, columns=count, ax=ax)
        ax.set_ylabel(label, rotation=0, ha="right", va="center")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_history(history, keys=("loss", "val_loss"), ax=None, ylabel: str = "nats per image"):
    """Training curves: one line per key against the epoch.

    Args:
        history: a Keras ``History.history`` dict, or a manifest's ``history``
            (a list of per-epoch records).
        keys: which series to draw.

    Returns:
        the matplotlib ``Axes``.

    Introduced in chapter 5.
    """
    import matplotlib.pyplot as plt

    if isinstance(history, list):
        history = {key: [record[key] for record in history] for key in keys}
    missing = [key for key in keys if key not in history]
    if missing:
        raise ValueError(f"history has no series {missing}; it has {sorted(history)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    for key in keys:
        values = history[key]
        ax.plot(range(1, len(values) + 1), values, marker="o" if len(values) < 15 else None,
                label=key.replace("_", " "))
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def latent_traversals(model, image, units, values) -> np.ndarray:
    """Vary one code number at a time around one image's code; decode each variant.

    The code is the encoder's posterior mean for ``image``; for each unit in
    ``units`` that one number is set to each of ``values`` while all the
    others are held, and the decoder's pixel probabilities are returned.

    Args:
        model: a :class:`vae.models.VAE` with ``encode`` and ``decode``.
        image: one image ``(28, 28, 1)`` in [0, 1].
        units: the latent units to vary, in the order of the rows.
        values: the values each unit takes, in the order of the columns
            (prior standard deviations, since p(z) = N(0, I)).

    Returns:
        ``(len(units) * len(values), 28, 28, 1)`` float array in [0, 1],
        row by row, ready for :func:`tile_images` with ``columns=len(values)``.

    Introduced in chapter 7.
    """
    import tensorflow as tf

    mean, _ = model.encode(np.asarray(image, np.float32)[None])
    values = np.asarray(values, np.float32)
    codes = np.repeat(mean.numpy(), len(units) * len(values), axis=0)
    for row, unit in enumerate(units):
        codes[row * len(values):(row + 1) * len(values), unit] = values
    return tf.sigmoid(model.decode(codes)).numpy()

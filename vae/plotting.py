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

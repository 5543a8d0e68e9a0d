"""Input checks that turn the usual mistakes into clear ``ValueError``s.

Images enter the models as ``float32`` in ``[0, 1]``, shaped
``(batch, 28, 28, 1)``. The most common mistake is raw ``uint8`` pixels in
``0..255``; the second is a missing channel axis ``(batch, 28, 28)``.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

IMAGE_SHAPE = (28, 28, 1)
EXPECTED_IMAGES = "float images in [0, 1] shaped (batch, 28, 28, 1)"


def _is_symbolic(x) -> bool:
    return isinstance(x, tf.Tensor) and not hasattr(x, "numpy")


def _check_static(dtype: tf.DType, shape: tf.TensorShape) -> None:
    if not dtype.is_floating:
        hint = " (raw 0-255 pixels? divide by 255 or use vae.data.load_mnist)" if dtype == tf.uint8 else ""
        raise ValueError(f"expected {EXPECTED_IMAGES}; got dtype {dtype.name}{hint}")
    if shape.rank is not None and (shape.rank != 4 or tuple(shape[1:]) != IMAGE_SHAPE):
        hint = " (add the channel axis: x[..., None])" if tuple(shape[1:]) == (28, 28) else ""
        raise ValueError(f"expected {EXPECTED_IMAGES}; got shape {tuple(shape)}{hint}")


def check_images(x) -> tf.Tensor:
    """Check that ``x`` holds float images in [0, 1] shaped ``(batch, 28, 28, 1)``.

    Eager inputs (NumPy arrays, eager tensors) are checked fully and a
    ``ValueError`` says what was expected and what came. Inside a
    ``tf.function`` the dtype and shape are checked when the function is
    traced, and the value range by a graph assertion.

    Args:
        x: candidate images.

    Returns:
        ``x`` as a ``float32`` tensor.

    Introduced in chapter 5.
    """
    if _is_symbolic(x):
        _check_static(x.dtype, x.shape)
        x = tf.cast(x, tf.float32)
        tf.debugging.assert_greater_equal(x, 0.0, message=f"expected {EXPECTED_IMAGES}; got values below 0")
        tf.debugging.assert_less_equal(x, 1.0, message=f"expected {EXPECTED_IMAGES}; got values above 1")
        return x
    array = np.asarray(x)
    _check_static(tf.as_dtype(array.dtype) if array.dtype != object else tf.string, tf.TensorShape(array.shape))
    if array.size:
        low, high = float(np.min(array)), float(np.max(array))
        if not (np.isfinite(low) and np.isfinite(high)):
            raise ValueError(f"expected {EXPECTED_IMAGES}; got NaN or infinite values")
        if low < 0.0 or high > 1.0:
            hint = " (raw 0-255 pixels? divide by 255)" if high > 1.0 else ""
            raise ValueError(f"expected {EXPECTED_IMAGES}; got values in [{low:g}, {high:g}]{hint}")
    return tf.convert_to_tensor(array, tf.float32)


def check_latents(z, latent_dim: int) -> tf.Tensor:
    """Check that ``z`` is float ``(batch, latent_dim)``; return it as float32.

    Introduced in chapter 5.
    """
    dtype = z.dtype if isinstance(z, tf.Tensor) else tf.as_dtype(np.asarray(z).dtype)
    shape = z.shape if isinstance(z, tf.Tensor) else tf.TensorShape(np.shape(z))
    if not dtype.is_floating:
        raise ValueError(f"expected float latent codes shaped (batch, {latent_dim}); got dtype {dtype.name}")
    if shape.rank is not None and (shape.rank != 2 or shape[1] not in (None, latent_dim)):
        raise ValueError(f"expected latent codes shaped (batch, {latent_dim}); got shape {tuple(shape)}")
    return tf.cast(z, tf.float32)


def check_positive_int(value, name: str) -> int:
    """Return ``value`` if it is an int >= 1, else raise a ``ValueError`` naming it.

    Introduced in chapter 5.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)

"""Argument checks: the one place where the package says what it expected and what came.

Every public entry point checks its arguments with these functions, so every
mistake is a ``ValueError`` in the same style, ``"NAME must be ..., got
VALUE"`` or ``"expected ...; got ..."``. Inside a compiled step
(``train_step``, a ``tf.function``) the package trusts its data: the checks
run once, where the data enters.

Images enter the models as ``float32`` in ``[0, 1]``, shaped
``(batch, 28, 28, 1)``. The most common mistake is raw ``uint8`` pixels in
``0..255``; the second is a missing channel axis ``(batch, 28, 28)``.
"""

from __future__ import annotations

import math
import operator

import numpy as np

# TensorFlow is imported by the checks that need it, when they run: the command
# line checks its numbers with check_int and check_number before it loads TensorFlow.

IMAGE_SHAPE = (28, 28, 1)
"""Shape of one image as the models see it: height, width, channels."""

PIXELS = 28 * 28
"""Pixels per image (784): the dimensions of one data point."""

EXPECTED_IMAGES = "float images in [0, 1] shaped (batch, 28, 28, 1)"


# -- numbers -------------------------------------------------------------------------
def _int_requirement(minimum: int, maximum: int | None) -> str:
    if maximum is not None:
        return f"an int in [{minimum}, {maximum}]"
    return {0: "a non-negative int", 1: "a positive int"}.get(minimum, f"an int >= {minimum}")


def check_int(value, name: str, minimum: int = 0, maximum: int | None = None) -> int:
    """Return ``value`` as an int if it is one in ``[minimum, maximum]``, else a ``ValueError`` naming it.

    Python and NumPy integers are accepted; ``bool``, floats (even ``2.0``)
    and strings are not. The message reads e.g. ``"seed must be a
    non-negative int, got -3"``.

    Args:
        value: the candidate.
        name: the argument's name, for the message.
        minimum: the smallest valid value.
        maximum: the largest valid value, or None for no bound.

    Introduced in chapter 5.
    """
    if not isinstance(value, bool):
        try:
            number = operator.index(value)
        except TypeError:
            number = None
        if number is not None and number >= minimum and (maximum is None or number <= maximum):
            return int(number)
    raise ValueError(f"{name} must be {_int_requirement(minimum, maximum)}, got {value!r}")


def check_positive_int(value, name: str) -> int:
    """Return ``value`` if it is an int >= 1, else raise a ``ValueError`` naming it.

    Introduced in chapter 5.
    """
    return check_int(value, name, minimum=1)


def check_number(value, name: str, minimum: float = 0.0, strict: bool = False) -> float:
    """Return ``value`` as a float if it is a finite real number >= ``minimum`` (> if ``strict``).

    Python and NumPy reals are accepted; ``bool``, strings, NaN and
    infinities are not. The message reads e.g. ``"beta must be a finite
    number >= 0, got -1"``.

    Introduced in chapter 8.
    """
    if not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
        if math.isfinite(number) and (number > minimum if strict else number >= minimum):
            return number
    relation = ">" if strict else ">="
    raise ValueError(f"{name} must be a finite number {relation} {minimum:g}, got {value!r}")


# -- images --------------------------------------------------------------------------
def _is_symbolic(x) -> bool:
    import tensorflow as tf
    return isinstance(x, tf.Tensor) and not hasattr(x, "numpy")


def _check_static(dtype: tf.DType, shape: tf.TensorShape | None, expected: str) -> None:
    """The dtype, and the shape unless ``shape`` is None."""
    import tensorflow as tf
    if not dtype.is_floating:
        hint = " (raw 0-255 pixels? divide by 255 or use vae.data.load_mnist)" if dtype == tf.uint8 else ""
        raise ValueError(f"expected {expected}; got dtype {dtype.name}{hint}")
    if shape is not None and shape.rank is not None and (shape.rank != 4 or tuple(shape[1:]) != IMAGE_SHAPE):
        hint = " (add the channel axis: x[..., None])" if tuple(shape[1:]) == (28, 28) else ""
        raise ValueError(f"expected {expected}; got shape {tuple(shape)}{hint}")


def _check_values(low: float, high: float, expected: str) -> None:
    """The range of eager values: finite and in [0, 1]."""
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(f"expected {expected}; got NaN or infinite values")
    if low < 0.0 or high > 1.0:
        hint = " (raw 0-255 pixels? divide by 255)" if high > 1.0 else ""
        raise ValueError(f"expected {expected}; got values in [{low:g}, {high:g}]{hint}")


def check_images(x, batch_axis: str = "batch", allow_empty: bool = True, any_shape: bool = False) -> tf.Tensor:
    """Check that ``x`` holds float images in [0, 1] shaped ``(batch, 28, 28, 1)``.

    Eager inputs (NumPy arrays, eager tensors) are checked fully and a
    ``ValueError`` says what was expected and what came. Inside a
    ``tf.function`` the dtype and shape are checked when the function is
    traced, and the value range by a graph assertion. An eager ``float32``
    tensor is returned as it is, not copied.

    Args:
        x: candidate images.
        batch_axis: how the message names the first axis (``"N"`` for a
            data set, ``"batch"`` for a model's input).
        allow_empty: accept zero images.
        any_shape: accept float values in [0, 1] of any shape (grey levels
            for :func:`vae.data.binarize`, say).

    Returns:
        ``x`` as a ``float32`` tensor.

    Introduced in chapter 5.
    """
    import tensorflow as tf
    expected = "float grey levels in [0, 1]" if any_shape else EXPECTED_IMAGES.replace("(batch,", f"({batch_axis},")
    if _is_symbolic(x):
        _check_static(x.dtype, None if any_shape else x.shape, expected)
        x = tf.cast(x, tf.float32)
        tf.debugging.assert_greater_equal(x, 0.0, message=f"expected {expected}; got values below 0")
        tf.debugging.assert_less_equal(x, 1.0, message=f"expected {expected}; got values above 1")
        return x
    if isinstance(x, tf.Tensor) and x.dtype == tf.float32:  # eager: check without copying
        _check_static(x.dtype, None if any_shape else x.shape, expected)
        tensor, array = x, x.numpy()  # a view of the tensor's memory on the CPU
    else:
        array = np.asarray(x)
        _check_static(tf.as_dtype(array.dtype) if array.dtype != object else tf.string,
                      None if any_shape else tf.TensorShape(array.shape), expected)
        tensor = None
    count = len(array) if array.ndim else 1
    if array.size:
        _check_values(float(np.min(array)), float(np.max(array)), expected)
    if not allow_empty and count == 0:
        raise ValueError(f"expected {expected} with {batch_axis} >= 1; got no images")
    return tensor if tensor is not None else tf.convert_to_tensor(array, tf.float32)


def check_latents(z, latent_dim: int) -> tf.Tensor:
    """Check that ``z`` is float ``(batch, latent_dim)``; return it as float32.

    Introduced in chapter 5.
    """
    import tensorflow as tf
    dtype = z.dtype if isinstance(z, tf.Tensor) else tf.as_dtype(np.asarray(z).dtype)
    shape = z.shape if isinstance(z, tf.Tensor) else tf.TensorShape(np.shape(z))
    if not dtype.is_floating:
        raise ValueError(f"expected float latent codes shaped (batch, {latent_dim}); got dtype {dtype.name}")
    if shape.rank is not None and (shape.rank != 2 or shape[1] not in (None, latent_dim)):
        raise ValueError(f"expected latent codes shaped (batch, {latent_dim}); got shape {tuple(shape)}")
    return tf.cast(z, tf.float32)


# -- labels --------------------------------------------------------------------------
EXPECTED_LABELS = "integer labels (batch,) in [0, {k}) or one-hot rows (batch, {k})"


def one_hot_labels(labels, num_classes: int = 10) -> tf.Tensor:
    """Check labels and return them one-hot, ``float32`` ``(batch, num_classes)``.

    Eager inputs are checked fully: integer labels must lie in
    ``[0, num_classes)``; one-hot input must be a float array of 0s and 1s
    with exactly one 1 per row. Inside a ``tf.function`` the dtype and shape
    are checked when tracing and the range by a graph assertion.

    Args:
        labels: ``(batch,)`` integers, or ``(batch, num_classes)`` one-hot floats.
        num_classes: number of classes (10 for digits).

    Returns:
        ``(batch, num_classes)`` float32 one-hot rows.

    Raises:
        ValueError: floats where integers belong, labels out of range, a
            wrong shape, or rows that are not one-hot.

    Introduced in chapter 7.
    """
    import tensorflow as tf
    num_classes = check_positive_int(num_classes, "num_classes")
    expected = EXPECTED_LABELS.format(k=num_classes)
    if isinstance(labels, tf.Tensor) and not hasattr(labels, "numpy"):  # symbolic, inside tf.function
        return _symbolic_one_hot(labels, num_classes, expected)
    array = np.asarray(labels)
    if array.ndim == 1 and (np.issubdtype(array.dtype, np.integer) and not np.issubdtype(array.dtype, np.bool_)):
        if array.size and (array.min() < 0 or array.max() >= num_classes):
            raise ValueError(f"expected {expected}; got labels in [{array.min()}, {array.max()}]")
        return tf.one_hot(tf.convert_to_tensor(array, tf.int64), num_classes, dtype=tf.float32)
    if array.ndim == 2 and array.shape[1] == num_classes and np.issubdtype(array.dtype, np.floating):
        is_binary = np.all((array == 0.0) | (array == 1.0))
        if not (is_binary and np.all(array.sum(axis=1) == 1.0)):
            raise ValueError(f"expected {expected}; got rows that are not one-hot")
        return tf.convert_to_tensor(array, tf.float32)
    raise ValueError(f"expected {expected}; got dtype {array.dtype} and shape {array.shape}")


def _symbolic_one_hot(labels: tf.Tensor, num_classes: int, expected: str) -> tf.Tensor:
    import tensorflow as tf
    rank = labels.shape.rank
    if labels.dtype.is_integer and rank == 1:
        tf.debugging.assert_non_negative(labels, message=f"expected {expected}; got a negative label")
        tf.debugging.assert_less(labels, tf.cast(num_classes, labels.dtype),
                                 message=f"expected {expected}; got a label >= {num_classes}")
        return tf.one_hot(labels, num_classes, dtype=tf.float32)
    if labels.dtype.is_floating and rank == 2 and labels.shape[1] == num_classes:
        return tf.cast(labels, tf.float32)
    raise ValueError(f"expected {expected}; got dtype {labels.dtype.name} and shape {tuple(labels.shape)}")

"""Seeds for TensorFlow's stateless random ops.

A stateless op (``tf.random.stateless_normal`` and friends) takes a pair of
integers and returns the same numbers for the same pair, on every run and
inside or outside ``tf.function``. The package derives such pairs from a
user's seed and an index (a chunk, a batch, an epoch).
"""

from __future__ import annotations

import tensorflow as tf


def stateless_seed(seed, index) -> tf.Tensor:
    """The int64 pair ``[seed, index]`` for a stateless random op.

    Args:
        seed: an int or a scalar integer tensor.
        index: an int or a scalar integer tensor that tells draws apart.

    Returns:
        a ``(2,)`` int64 tensor.

    Introduced in chapter 3.
    """
    return tf.stack([tf.cast(seed, tf.int64), tf.cast(index, tf.int64)])

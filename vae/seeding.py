"""Seeds for TensorFlow's stateless random ops: the one way the package derives them.

A stateless op (``tf.random.stateless_normal`` and friends) takes a pair of
integers, a *key*, and returns the same numbers for the same key, on every
run and inside or outside ``tf.function``. The package derives every key with
:func:`stateless_seed`:

* from a user's seed and an index (a chunk, a batch, an epoch), the pair
  ``[seed, index]``;
* from a key and an index, a new key (``stateless_fold_in``), so that
  streams nest: the key of epoch ``e`` of a run, then the key of batch ``b``
  within it, and so on. Keys derived from different indices are
  independent, whatever the indices.

Where a figure recorded in the book depends on an older derivation (seed
*plus* an index), the function that computes it keeps that derivation and
says so in its docstring.
"""

from __future__ import annotations

import tensorflow as tf


def stateless_seed(seed, index) -> tf.Tensor:
    """The key for a stateless random op: ``[seed, index]``, or ``index`` folded into a key.

    Args:
        seed: an int or a scalar integer tensor (a user's seed), or a
            ``(2,)`` integer key made by this function (to derive a sub-key).
        index: an int or a scalar integer tensor that tells draws apart.

    Returns:
        a ``(2,)`` int64 tensor: ``[seed, index]`` for a scalar ``seed``;
        ``tf.random.experimental.stateless_fold_in(seed, index)`` (Philox)
        for a key.

    Introduced in chapter 3.
    """
    seed = tf.convert_to_tensor(seed)
    index = tf.cast(index, tf.int64)
    if seed.shape.rank == 1:
        return tf.random.experimental.stateless_fold_in(tf.cast(seed, tf.int64), index, alg="philox")
    return tf.stack([tf.cast(seed, tf.int64), index])

"""Silence TensorFlow's start-up chatter and make runs repeatable.

TensorFlow writes several lines to the C-level standard error while it is
imported (oneDNN notices, CUDA probes, CPU-feature hints). They come before
Python's logging is set up, so the only way to keep them out of a notebook is
to point file descriptor 2 somewhere else for the duration of the import.
Importing this module does exactly that, once; every other module of the
package imports TensorFlow after it.

Introduced in chapter 1.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide C++ INFO and WARNING after import


@contextlib.contextmanager
def silenced_stderr():
    """Redirect the process-level standard error (fd 2) to /dev/null.

    Python's ``sys.stderr`` is flushed first so nothing of ours is lost.
    Introduced in chapter 1.
    """
    sys.stderr.flush()
    saved_fd = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved_fd, 2)
        os.close(saved_fd)
        os.close(devnull)


with silenced_stderr():
    import tensorflow as tf  # noqa: E402
    import keras  # noqa: E402

    # Probing for CUDA logs an error on a machine without a GPU: list the
    # devices now, while fd 2 is still silenced. Listing does not start the
    # runtime, so a user can still configure devices (GPU memory growth,
    # logical CPUs for tf.distribute) after importing vae.
    tf.config.list_physical_devices()

tf.get_logger().setLevel("ERROR")


def quiet(seed: int = 0, deterministic: bool = True) -> int:
    """Seed Python, NumPy, TensorFlow and Keras, and switch on op determinism.

    Call it at the top of a notebook or script: ``import vae; vae.quiet(0)``.
    TensorFlow was already imported silently when ``vae`` was imported.

    Args:
        seed: the global seed for every random number generator.
        deterministic: also make TensorFlow ops deterministic (slightly slower
            on some kernels, identical results on a re-run).

    Returns:
        The seed, so a notebook can print what it used.

    Introduced in chapter 1.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    keras.utils.set_random_seed(seed)  # seeds Python, NumPy and TensorFlow
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    return seed

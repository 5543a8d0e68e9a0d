"""Batches padded for the networks, so that both ends of a compressed file compute the same bits.

Bits back is exact only if the receiver's probabilities equal the sender's to
the last bit. oneDNN splits a batch over its threads, and for some batch
sizes (odd ones, measured here) a sender with two threads and a receiver
with one computed network outputs that differ in the last bit: files made on
one machine failed to decode on another, for the conv, ladder and PixelVAE
codecs alike. With the batch a multiple of the thread count, each image's
arithmetic is the same whatever the number of threads, so every network call
of the codec sees its batch padded with blank rows to a multiple of
:data:`BATCH_MULTIPLE` (1, 2, 4 or 8 threads split it evenly; checked here for
one and two). The images' checksum in each file's header catches any platform
where this is not enough. The codec (:mod:`vae.compression`) pads its batches
of images and codes, the VampPrior its pseudo-inputs.

Introduced in chapter 9.
"""

from __future__ import annotations

import numpy as np

BATCH_MULTIPLE = 8
"""The networks see batches padded to a multiple of this."""


def padded(array: np.ndarray) -> np.ndarray:
    """``array`` with zero rows appended along axis 0 up to a multiple of :data:`BATCH_MULTIPLE`.

    Introduced in chapter 9.
    """
    missing = -len(array) % BATCH_MULTIPLE
    return np.concatenate([array, np.zeros((missing, *array.shape[1:]), array.dtype)]) if missing else array

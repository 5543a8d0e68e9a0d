"""The checks both lossy decoders (hyperprior, VQ) run on a file: its model, and the images it decodes to.

A lossy file's header (:mod:`vae.lossy.container`) names the model, the
SHA-256 of its weights and integer tables, and the SHA-256 of the
encoder's reconstruction; :class:`vae.lossy.coding.LossyCodec` and
:class:`vae.vq.coding.VQCodec` check them with these functions before and
after decoding. Errors are :class:`vae.compression.CompressionError`.

Not public (the codecs are); introduced in chapter 10.
"""

from __future__ import annotations

import hashlib

import numpy as np

from vae.compression.container import CompressionError


def check_same_model(header: dict, name: str, weights_sha256: str, tables_sha256: str) -> None:
    """Refuse a file's header that names another model, checkpoint or tables than the decoder's.

    Args:
        header: an unpacked header with ``model``, ``weights_sha256`` and ``tables_sha256``.
        name, weights_sha256, tables_sha256: the decoder's model name and its
            weights' and integer tables' SHA-256 (hex).

    Raises:
        CompressionError: any of the three differs; the sentence says which
            checkpoint the file needs.

    Introduced in chapter 10.
    """
    if header["model"] != name or header["weights_sha256"] != weights_sha256 \
            or header["tables_sha256"] != tables_sha256:
        raise CompressionError(
            f"this file was compressed with lossy model {header['model']!r} (weights "
            f"{str(header['weights_sha256'])[:12]}..., tables {str(header['tables_sha256'])[:12]}...), not with "
            f"{name!r} (weights {weights_sha256[:12]}..., tables {tables_sha256[:12]}...); "
            "decompress it with that checkpoint")


def reconstruction_sha256(images: np.ndarray) -> str:
    """SHA-256 (hex) of decoded images' bytes as stored: the header's ``reconstruction_sha256``.

    Introduced in chapter 10.
    """
    return hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest()


def check_reconstruction(images: np.ndarray, header: dict, name: str) -> None:
    """Refuse decoded ``images`` ``(count, 28, 28, 1)`` float32 that are not the encoder's reconstruction.

    Raises:
        CompressionError: their SHA-256 is not the header's ``reconstruction_sha256``
            (other tables than model ``name``'s, or a damaged file).

    Introduced in chapter 10.
    """
    if reconstruction_sha256(images) != header["reconstruction_sha256"]:
        raise CompressionError(f"decoding with model {name!r} did not reproduce the encoder's "
                               "reconstruction: the file was made with other tables or is damaged")

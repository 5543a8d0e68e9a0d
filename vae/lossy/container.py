"""The lossy file format: a checked header followed by the range coder's words.

Layout (all integers little-endian), in the style of :mod:`vae.compression.container`::

    8 bytes   magic  b"VAELOSSY"
    4 bytes   header length H (uint32)
    H bytes   header, UTF-8 JSON: "lossy": true, the model's name, its weights'
              and tables' SHA-256, λ, the image count and shape, the latent
              shapes, the payload length, and the SHA-256 of the body and of
              the encoder's reconstruction
    4 bytes   CRC-32 of the header bytes
    rest      body: the range coder's words as uint32

A truncated or damaged file is refused before any decoding starts; a
lossless bits-back file (:mod:`vae.compression`) is recognized by its magic
and refused with a sentence saying which decoder it needs. Errors are
:class:`vae.compression.CompressionError`.

Introduced in chapter 10.
"""

from __future__ import annotations

from vae.compression import container as checked_file
from vae.compression.container import MAGIC as LOSSLESS_MAGIC
from vae.compression.container import CompressionError
from vae.compression.direct import MAGIC as DIRECT_MAGIC

MAGIC = b"VAELOSSY"
KIND = "VAE lossy"


def pack(header: dict, body: bytes) -> bytes:
    """``header`` (JSON-able) and ``body`` as one file; adds ``lossy``, the version, the body's length and SHA-256.

    Introduced in chapter 10.
    """
    return checked_file.pack({**header, "lossy": True}, body, magic=MAGIC)


def unpack(blob: bytes) -> tuple[dict, bytes]:
    """Split a file made by :func:`pack` into ``(header, body)``, checking everything.

    Raises:
        CompressionError: a lossless file, not a file of this format, a newer
            version, a damaged header, or a truncated, over-long or corrupted body.

    Introduced in chapter 10.
    """
    blob = bytes(blob)
    if blob.startswith(LOSSLESS_MAGIC):
        raise CompressionError("this is a lossless bits-back file (chapter 9), not a lossy one: "
                               "decompress it with vae.compression.decompress")
    if blob.startswith(DIRECT_MAGIC):
        raise CompressionError("this is a lossless file in the direct code of few digits (chapter 9), not a "
                               "lossy one: decompress it with vae.compression.decompress")
    header, body = checked_file.unpack(blob, magic=MAGIC, kind=KIND)
    if header.get("lossy") is not True:
        raise CompressionError("damaged file: the header lacks the lossy flag")
    return header, body


def header_bytes(blob: bytes) -> int:
    """Bytes of a lossy file outside its body (magic, length, header, CRC). Introduced in chapter 10."""
    return checked_file.header_bytes(blob, magic=MAGIC)

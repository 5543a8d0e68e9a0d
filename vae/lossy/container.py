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
lossless bits-back file (:mod:`vae.compression`) is recognised by its magic
and refused with a sentence saying which decoder it needs. Errors are
:class:`vae.compression.CompressionError`.

Introduced in chapter 11.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib

from vae.compression.container import MAGIC as LOSSLESS_MAGIC
from vae.compression.container import CompressionError

MAGIC = b"VAELOSSY"
FORMAT_VERSION = 1
_LENGTH = struct.Struct("<I")
MAX_HEADER_BYTES = 1 << 20


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def pack(header: dict, body: bytes) -> bytes:
    """``header`` (JSON-able) and ``body`` as one file; adds ``lossy``, the version, the body's length and SHA-256.

    Introduced in chapter 11.
    """
    header = {**header, "lossy": True, "format_version": FORMAT_VERSION, "body_bytes": len(body),
              "body_sha256": _sha256(body)}
    encoded = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    return MAGIC + _LENGTH.pack(len(encoded)) + encoded + _LENGTH.pack(zlib.crc32(encoded)) + body


def unpack(blob: bytes) -> tuple[dict, bytes]:
    """Split a file made by :func:`pack` into ``(header, body)``, checking everything.

    Raises:
        CompressionError: a lossless file, not a file of this format, a newer
            version, a damaged header, or a truncated, over-long or corrupted body.

    Introduced in chapter 11.
    """
    blob = bytes(blob)
    if blob.startswith(LOSSLESS_MAGIC):
        raise CompressionError("this is a lossless bits-back file (chapter 9), not a lossy one: "
                               "decompress it with vae.compression.decompress")
    if not blob.startswith(MAGIC):
        raise CompressionError("not a VAE lossy file (bad magic bytes)")
    start = len(MAGIC) + _LENGTH.size
    if len(blob) < start:
        raise CompressionError("truncated file: the header is incomplete")
    (length,) = _LENGTH.unpack_from(blob, len(MAGIC))
    if length > MAX_HEADER_BYTES or len(blob) < start + length + _LENGTH.size:
        raise CompressionError("truncated or damaged file: the header is incomplete")
    encoded = blob[start:start + length]
    (crc,) = _LENGTH.unpack_from(blob, start + length)
    if zlib.crc32(encoded) != crc:
        raise CompressionError("damaged file: the header's CRC-32 does not match")
    try:
        header = json.loads(encoded)
    except ValueError:
        raise CompressionError("damaged file: the header is not valid JSON") from None
    if not isinstance(header, dict) or not isinstance(header.get("body_bytes"), int) \
            or not isinstance(header.get("body_sha256"), str) or header.get("lossy") is not True:
        raise CompressionError("damaged file: the header lacks the lossy flag or the body's length and checksum")
    if header.get("format_version") != FORMAT_VERSION:
        raise CompressionError(f"unsupported lossy format version {header.get('format_version')!r} "
                               f"(this package reads version {FORMAT_VERSION})")
    body = blob[start + length + _LENGTH.size:]
    if len(body) != header["body_bytes"]:
        kind = "truncated" if len(body) < header["body_bytes"] else "over-long"
        raise CompressionError(f"{kind} file: the body has {len(body)} bytes, the header says "
                               f"{header['body_bytes']}")
    if _sha256(body) != header["body_sha256"]:
        raise CompressionError("corrupted file: the body's SHA-256 does not match the header")
    return header, body


def header_bytes(blob: bytes) -> int:
    """Bytes of a lossy file outside its body (magic, length, header, CRC). Introduced in chapter 11."""
    (length,) = _LENGTH.unpack_from(blob, len(MAGIC))
    return len(MAGIC) + 2 * _LENGTH.size + length

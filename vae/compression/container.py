"""The compressed file: a checked header followed by the ANS words.

Layout (all integers little-endian)::

    8 bytes   magic  b"VAEBBANS"
    4 bytes   header length H (uint32)
    H bytes   header, UTF-8 JSON (see :func:`vae.compression.codec` for its fields)
    4 bytes   CRC-32 of the header bytes
    rest      body: ANS words as uint32, then the optional file names (LZMA)

The header records the body's length and SHA-256, so a truncated or
corrupted file is refused before any decoding starts, and the SHA-256 of the
original images, so a wrong model (or a platform whose arithmetic differs)
is caught after decoding instead of returning wrong images.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib

MAGIC = b"VAEBBANS"
FORMAT_VERSION = 1
_LENGTH = struct.Struct("<I")
MAX_HEADER_BYTES = 1 << 20


class CompressionError(ValueError):
    """A compressed file that cannot be decoded: not ours, damaged, or for another model.

    Introduced in chapter 9.
    """


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def pack(header: dict, body: bytes, magic: bytes = MAGIC) -> bytes:
    """``header`` (JSON-able) and ``body`` as one file, with length and checksums added.

    ``magic`` names the format: the bits-back files of chapter 9 by default;
    :mod:`vae.lossy.container` passes its own.
    """
    header = {**header, "format_version": FORMAT_VERSION, "body_bytes": len(body), "body_sha256": _sha256(body)}
    encoded = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    return magic + _LENGTH.pack(len(encoded)) + encoded + _LENGTH.pack(zlib.crc32(encoded)) + body


def unpack(blob: bytes, magic: bytes = MAGIC, kind: str = "VAE bits-back") -> tuple[dict, bytes]:
    """Split a file made by :func:`pack` into ``(header, body)``, checking everything.

    ``magic`` and ``kind`` name the format (``kind`` is how messages call it).

    Raises:
        CompressionError: not a file of this format, a newer version, a
            damaged header, or a body that is truncated, too long or corrupted.
    """
    blob = bytes(blob)
    if not blob.startswith(magic):
        raise CompressionError(f"not a {kind} file (bad magic bytes)")
    start = len(magic) + _LENGTH.size
    if len(blob) < start:
        raise CompressionError("truncated file: the header is incomplete")
    (length,) = _LENGTH.unpack_from(blob, len(magic))
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
            or not isinstance(header.get("body_sha256"), str):
        raise CompressionError("damaged file: the header lacks the body's length and checksum")
    if header.get("format_version") != FORMAT_VERSION:
        raise CompressionError(f"unsupported {kind} format version {header.get('format_version')!r} "
                               f"(this package reads version {FORMAT_VERSION})")
    body = blob[start + length + _LENGTH.size:]
    if len(body) != header["body_bytes"]:
        kind = "truncated" if len(body) < header["body_bytes"] else "over-long"
        raise CompressionError(f"{kind} file: the body has {len(body)} bytes, the header says "
                               f"{header['body_bytes']}")
    if _sha256(body) != header["body_sha256"]:
        raise CompressionError("corrupted file: the body's SHA-256 does not match the header")
    return header, body


def header_bytes(blob: bytes, magic: bytes = MAGIC) -> int:
    """Bytes of a file made by :func:`pack` outside its body (magic, length, header, CRC)."""
    (length,) = _LENGTH.unpack_from(blob, len(magic))
    return len(magic) + 2 * _LENGTH.size + length

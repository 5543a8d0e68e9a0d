"""The small-file fallback: binary digits coded directly, without a model, when that is smaller than bits back.

Bits back pays a fixed cost that does not shrink with the number of images:
the initial words on the ANS stack and a JSON header with checksums. Below
about a hundred digits a classical compressor of the packed pixels beats it
(one digit: about 520 bytes with bits back, under 100 with bz2). The codec
(:meth:`vae.compression.BitsBackCodec.compress`) therefore also makes this
direct file and keeps whichever is smaller; :func:`vae.compression.decompress`
reads both.

The direct file is compact, since its whole point is small inputs (all
integers little-endian)::

    8 bytes   magic  b"VAEDIRCT"
    1 byte    format version (1)
    1 byte    method: 0 raw packed bits, 1 raw DEFLATE, 2 bz2, 3 raw LZMA2, 4 context model
    4 bytes   count of images (uint32)
    4 bytes   length of the optional file names, LZMA-packed (uint32)
    ...       the method's code of the pixels packed 8 to a byte, then the names
    4 bytes   CRC-32 of everything before it

22 bytes around the method's own output: the CRC refuses a damaged or
truncated file, and the decoded pixel count is checked against ``count``.

Introduced in chapter 9.
"""

from __future__ import annotations

import bz2
import lzma
import struct
import zlib

import constriction
import numpy as np

from vae.compression.container import CompressionError

MAGIC = b"VAEDIRCT"
FORMAT_VERSION = 1
PIXELS = 28 * 28
_FIELDS = struct.Struct("<BBII")  # version, method, count, names_bytes
_CRC = struct.Struct("<I")
OVERHEAD_BYTES = len(MAGIC) + _FIELDS.size + _CRC.size
"""Bytes of a direct file outside its method's code and the names: 22."""
_LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]

METHODS = ("raw", "deflate", "bz2", "lzma", "context")
"""The direct codes, by their number in the file: the packed bits as they are, raw DEFLATE (zlib -9, no
wrapper), bz2 -9, raw LZMA2 (xz -9e, no container), and an adaptive context model of the pixels
(:func:`context_probabilities`, coded with ANS). The smallest output wins; ties go to the lower number."""

CONTEXT_TEMPLATE = ((-2, -1), (-2, 0), (-2, 1), (-1, -2), (-1, -1), (-1, 0), (-1, 1), (-1, 2), (0, -2), (0, -1))
"""The context model's causal neighbours, ``(row, column)`` offsets from a pixel (JBIG's ten-pixel template);
pixels outside the image count as 0. A pixel's context is their ten bits: ``2**10`` contexts."""


def _encoders():
    return {
        "raw": lambda data: data,
        "deflate": lambda data: _deflate(data),
        "bz2": lambda data: bz2.compress(data, compresslevel=9),
        "lzma": lambda data: lzma.compress(data, format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS),
        "context": None,  # codes the images, not their packed bytes: see encode_direct
    }


def _contexts(images: np.ndarray) -> np.ndarray:
    """The context number of every pixel, ``(count * 784,)`` int64 in image, row, column order."""
    count = len(images)
    padded = np.zeros((count, 28 + 2, 28 + 4), dtype=np.int64)
    padded[:, 2:, 2:30] = images
    contexts = np.zeros((count, 28, 28), dtype=np.int64)
    for bit, (row, column) in enumerate(CONTEXT_TEMPLATE):
        contexts |= padded[:, 2 + row:30 + row, 2 + column:30 + column] << bit
    return contexts.ravel()


def context_probabilities(images: np.ndarray) -> np.ndarray:
    """P(pixel = 1) of every pixel under the adaptive context model, ``(count * 784,)`` float64.

    The pixels are read image by image, row by row; each context keeps the
    counts of the pixels seen in it so far, ``seen`` of them ``ones`` on,
    and predicts ``(ones + 1/2) / (seen + 1)`` (the Krichevsky-Trofimov
    estimator), so the decoder, which sees the same pixels in the same
    order, predicts the same. Computed here for all pixels at once from
    running counts grouped by context.

    Args:
        images: binary images ``(count, 28, 28)``.

    Introduced in chapter 9.
    """
    contexts = _contexts(images)
    bits = images.astype(np.int64).ravel()
    order = np.argsort(contexts, kind="stable")
    sorted_contexts, sorted_bits = contexts[order], bits[order]
    position = np.arange(len(order))
    starts = np.flatnonzero(np.r_[True, sorted_contexts[1:] != sorted_contexts[:-1]])
    group_start = starts[np.searchsorted(starts, position, side="right") - 1]
    ones_before = np.cumsum(sorted_bits) - sorted_bits
    seen, ones = np.empty_like(bits), np.empty_like(bits)
    seen[order] = position - group_start
    ones[order] = ones_before - ones_before[group_start]
    return _kt(ones, seen)


def _kt(ones, seen):
    """The Krichevsky-Trofimov estimate: one float64 expression for the encoder and the decoder."""
    return (ones + 0.5) / (seen + 1.0)


def _bernoulli():
    return constriction.stream.model.Bernoulli(perfect=True)


def _encode_context(images: np.ndarray) -> bytes:
    coder = constriction.stream.stack.AnsCoder()
    coder.encode_reverse(images.astype(np.int32).ravel(), _bernoulli(), context_probabilities(images))
    return coder.get_compressed().astype("<u4").tobytes()


def _decode_context(code: bytes, count: int) -> bytes:
    """The mirror of :func:`_encode_context`, pixel by pixel (each prediction needs every pixel before)."""
    if len(code) % 4:
        raise ValueError("the context code is not a whole number of 32-bit words")
    coder = constriction.stream.stack.AnsCoder(np.frombuffer(code, "<u4").astype(np.uint32))
    padded = np.zeros((28 + 2, 28 + 4), dtype=np.int64)
    counts = np.zeros((2, 2 ** len(CONTEXT_TEMPLATE)), dtype=np.int64)
    family, images = _bernoulli(), np.zeros((count, 28, 28), dtype=np.uint8)
    for index in range(count):
        padded[:] = 0
        for row in range(28):
            for column in range(28):
                context = 0
                for bit, (r, c) in enumerate(CONTEXT_TEMPLATE):
                    context |= int(padded[2 + row + r, 2 + column + c]) << bit
                ones, seen = counts[1, context], counts[0, context] + counts[1, context]
                pixel = int(coder.decode(family, np.array([_kt(ones, seen)]))[0])
                counts[pixel, context] += 1
                padded[2 + row, 2 + column] = pixel
        images[index] = padded[2:, 2:30]
    if not coder.is_empty():
        raise ValueError("the context code has words left over")
    return np.packbits(images.reshape(count, PIXELS), axis=1).tobytes()


def _deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def _decoders():
    return {
        "raw": lambda data: data,
        "deflate": lambda data: zlib.decompress(data, -15),
        "bz2": bz2.decompress,
        "lzma": lambda data: lzma.decompress(data, format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS),
    }


def is_direct(blob: bytes) -> bool:
    """True if ``blob`` starts like a direct file (its checks come when it is read).

    Introduced in chapter 9.
    """
    return bytes(blob[:len(MAGIC)]) == MAGIC


def encode_direct(images: np.ndarray, names_blob: bytes = b"") -> bytes:
    """The smallest direct file of binary images ``(count, 28, 28)`` uint8 (0/1) and LZMA-packed names.

    Args:
        images: checked binary images (see :func:`vae.compression.binary_images`).
        names_blob: the file names as the bits-back file stores them (``b""`` for none).

    Introduced in chapter 9.
    """
    packed = np.packbits(images.astype(np.uint8).reshape(len(images), PIXELS), axis=1).tobytes()
    codes = {method: (_encode_context(images.astype(np.uint8)) if encode is None else encode(packed))
             for method, encode in _encoders().items()}
    method = min(METHODS, key=lambda name: (len(codes[name]), METHODS.index(name)))
    head = MAGIC + _FIELDS.pack(FORMAT_VERSION, METHODS.index(method), len(images), len(names_blob))
    content = head + codes[method] + names_blob
    return content + _CRC.pack(zlib.crc32(content))


def decode_direct(blob: bytes) -> tuple[np.ndarray, bytes, dict]:
    """Read a direct file: ``(images, names_blob, header)``.

    ``images`` are uint8 ``(count, 28, 28)`` 0/1; ``header`` is
    ``{"method", "count", "names_bytes", "format_version"}``.

    Raises:
        CompressionError: not a direct file, damaged or truncated (CRC-32),
            a newer version, or a code that does not decode to ``count`` digits.

    Introduced in chapter 9.
    """
    blob = bytes(blob)
    if not is_direct(blob):
        raise CompressionError("not a direct-coded file (bad magic bytes)")
    start = len(MAGIC) + _FIELDS.size
    if len(blob) < start + _CRC.size:
        raise CompressionError("truncated file: the header is incomplete")
    content, (crc,) = blob[:-_CRC.size], _CRC.unpack(blob[-_CRC.size:])
    if zlib.crc32(content) != crc:
        raise CompressionError("damaged or truncated file: the CRC-32 does not match")
    version, method_number, count, names_bytes = _FIELDS.unpack_from(blob, len(MAGIC))
    if version != FORMAT_VERSION:
        raise CompressionError(f"unsupported direct-file format version {version} "
                               f"(this package reads version {FORMAT_VERSION})")
    if method_number >= len(METHODS) or names_bytes > len(content) - start:
        raise CompressionError("damaged file: the header names no known method or too many name bytes")
    method = METHODS[method_number]
    code, names_blob = content[start:len(content) - names_bytes], content[len(content) - names_bytes:]
    try:
        packed = _decode_context(code, count) if method == "context" else _decoders()[method](code)
    except (OSError, ValueError, AssertionError, RuntimeError, lzma.LZMAError, zlib.error) as error:
        raise CompressionError(f"damaged file: the {method} code does not decode ({error})") from None
    row = PIXELS // 8
    if len(packed) != count * row:
        raise CompressionError(f"damaged file: {len(packed)} bytes of pixels for {count} digits")
    pixels = np.frombuffer(packed, dtype=np.uint8).reshape(count, row)
    images = np.unpackbits(pixels, axis=1).reshape(count, 28, 28)
    header = {"method": method, "count": count, "names_bytes": names_bytes, "format_version": version}
    return images, names_blob, header

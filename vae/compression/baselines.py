"""General-purpose lossless compressors on the same binary digits, for comparison.

Each function returns the compressed size in bytes of a set of binary images
``(count, 28, 28)``. The byte-stream compressors (gzip, bz2, LZMA) get the
pixels packed 8 to a byte, their best input; the image formats get each
digit as its own 1-bit (PNG) or lossless (WebP) file, the way digits would
be stored one per file, and also all digits tiled into one sheet, which lets
them exploit the similarity between digits. Every compressor runs at its
strongest setting (gzip and bz2 level 9, xz preset 9 extreme, PNG optimize,
WebP lossless method 6), however slow, so the comparison flatters none of them.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma

import numpy as np
from PIL import Image

from vae.compression.codec import binary_images


def packed_pixels(images) -> bytes:
    """The images' pixels, row by row, 8 pixels a byte (the uncompressed size: 98 bytes a digit)."""
    images = binary_images(images)
    return np.packbits(images.reshape(len(images), -1), axis=1).tobytes()


def _image_bytes(image: Image.Image, format: str) -> int:
    buffer = io.BytesIO()
    if format == "WEBP":
        image.save(buffer, format="WEBP", lossless=True, quality=100, method=6)  # the strongest effort
    else:
        image.save(buffer, format="PNG", optimize=True)
    return len(buffer.getvalue())


def _one_bit(image: np.ndarray) -> Image.Image:
    return Image.fromarray(image.astype(bool))


def _sheet(images: np.ndarray) -> np.ndarray:
    """All digits tiled into one image, 100 to a row."""
    columns = min(100, len(images))
    rows = -(-len(images) // columns)
    padded = np.zeros((rows * columns, 28, 28), dtype=np.uint8)
    padded[:len(images)] = images
    return padded.reshape(rows, columns, 28, 28).transpose(0, 2, 1, 3).reshape(rows * 28, columns * 28)


def baseline_sizes(images) -> dict[str, int]:
    """Compressed sizes in bytes, by compressor, for the same binary images.

    Keys: ``raw (packed bits)``, ``gzip -9``, ``bz2 -9``, ``lzma (xz -9e)``,
    ``PNG 1-bit, one file per digit``, ``PNG 1-bit, one sheet``,
    ``WebP lossless, one file per digit``, ``WebP lossless, one sheet``.

    Introduced in chapter 9.
    """
    images = binary_images(images)
    raw = packed_pixels(images)
    sheet = _sheet(images)
    return {
        "raw (packed bits)": len(raw),
        "gzip -9": len(gzip.compress(raw, compresslevel=9, mtime=0)),
        "bz2 -9": len(bz2.compress(raw, compresslevel=9)),
        "lzma (xz -9e)": len(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME)),
        "PNG 1-bit, one file per digit": sum(_image_bytes(_one_bit(image), "PNG") for image in images),
        "PNG 1-bit, one sheet": _image_bytes(_one_bit(sheet), "PNG"),
        "WebP lossless, one file per digit": sum(_image_bytes(Image.fromarray(image * 255), "WEBP")
                                                 for image in images),
        "WebP lossless, one sheet": _image_bytes(Image.fromarray(sheet * 255), "WEBP"),
    }

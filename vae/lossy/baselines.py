"""Classical lossy image codecs through Pillow: JPEG, WebP, AVIF and JPEG 2000, on the same grey digits.

Fairness rules (chapter 10):

* each codec runs at its strongest setting: JPEG with optimized Huffman
  tables, baseline or progressive, whichever file is smaller (they decode
  to the same pixels); WebP lossy with ``method=6``; AVIF with ``speed=0``;
  JPEG 2000 with the irreversible 9/7 wavelet, a raw codestream
  (``no_jp2``, no JP2 boxes) and the target compression ratio as its one
  quality layer;
* the digits are coded as **mosaics** of ``per_side × per_side`` digits
  (10 × 10 by default, 280 × 280 pixels), so each file's header is shared by
  100 digits; the last mosaic has as many rows as it needs (its empty
  places black);
* the rate is the files' total size in bits per pixel *of the digits*
  (``8·bytes / (count·784)``), and the distortion is computed per digit,
  after cropping each decoded mosaic back into digits
  (:func:`vae.lossy.quality.distortion`: PSNR, MSE, SSIM).

:func:`per_digit_sizes` codes each digit as its own file instead, to show
what headers cost. Which codecs this Pillow can write: :func:`available_codecs`.

Introduced in chapter 10.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, features

from vae.lossy.coding import grey_images
from vae.lossy.quality import distortion

PIXELS = 28 * 28
SWEEPS = {
    "JPEG": [5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 95],
    "WebP": [0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100],
    "AVIF": [0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95],
    "JPEG 2000": [200, 150, 100, 75, 50, 35, 25, 18, 12, 8, 5, 3],
}
"""The quality parameter each codec sweeps: Pillow's ``quality`` (0..100, higher is better), and for
JPEG 2000 the compression ratio (higher is smaller)."""

_FEATURES = {"JPEG": "jpg", "WebP": "webp", "AVIF": "avif", "JPEG 2000": "jpg_2000"}


def available_codecs() -> list[str]:
    """The codecs of :data:`SWEEPS` that this Pillow can write and read. Introduced in chapter 10."""
    return [name for name, feature in _FEATURES.items() if features.check(feature)]


def _encode(image: Image.Image, codec: str, parameter) -> bytes:
    """One grey image as a file of ``codec`` at quality ``parameter``, at the codec's strongest setting."""
    def saved(**options) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, **options)
        return buffer.getvalue()

    if codec == "JPEG":
        return min((saved(format="JPEG", quality=int(parameter), optimize=True, progressive=progressive)
                    for progressive in (False, True)), key=len)
    if codec == "WebP":
        return saved(format="WEBP", quality=int(parameter), method=6, lossless=False)
    if codec == "AVIF":
        return saved(format="AVIF", quality=int(parameter), speed=0)
    if codec == "JPEG 2000":
        return saved(format="JPEG2000", quality_mode="rates", quality_layers=[float(parameter)],
                     irreversible=True, no_jp2=True)
    raise ValueError(f"codec must be one of {sorted(SWEEPS)}, got {codec!r}")


def _decode(content: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(content)) as image:
        return np.asarray(image.convert("L"), dtype=np.uint8)


def mosaics(images, per_side: int = 10) -> list[np.ndarray]:
    """uint8 grey mosaics of ``per_side × per_side`` digits (row-major), the last one only as tall as needed.

    Introduced in chapter 10.
    """
    grey = np.rint(grey_images(images)[..., 0] * 255).astype(np.uint8)
    sheets = []
    for start in range(0, len(grey), per_side * per_side):
        chunk = grey[start:start + per_side * per_side]
        rows = -(-len(chunk) // per_side)
        padded = np.zeros((rows * per_side, 28, 28), np.uint8)
        padded[:len(chunk)] = chunk
        sheets.append(padded.reshape(rows, per_side, 28, 28).transpose(0, 2, 1, 3).reshape(rows * 28, per_side * 28))
    return sheets


def _digits_of(sheets: list[np.ndarray], count: int, per_side: int) -> np.ndarray:
    """The digits ``(count, 28, 28)`` cut back out of decoded mosaics."""
    digits = [sheet.reshape(sheet.shape[0] // 28, 28, per_side, 28).transpose(0, 2, 1, 3).reshape(-1, 28, 28)
              for sheet in sheets]
    return np.concatenate(digits)[:count]


def code_mosaics(images, codec: str, parameter, per_side: int = 10) -> dict:
    """Code digits as mosaics with one codec setting; measure rate and per-digit distortion.

    Args:
        images: grey digits ``(count, 28, 28[, 1])`` in [0, 1] (or uint8).
        codec: a key of :data:`SWEEPS`.
        parameter: its quality parameter.
        per_side: digits per mosaic side.

    Returns:
        ``{"codec", "parameter", "bytes" (all files), "files", "bpp", "psnr" (mean per-digit dB),
        "mse" (0..255), "psnr_of_mean_mse", "ssim", "reconstruction" float32 (count, 28, 28, 1)}``.

    Introduced in chapter 10.
    """
    original = grey_images(images)[..., 0]
    files = [_encode(Image.fromarray(sheet), codec, parameter) for sheet in mosaics(images, per_side)]
    decoded = _digits_of([_decode(f) for f in files], len(original), per_side).astype(np.float32) / 255.0
    size = sum(len(f) for f in files)
    return {"codec": codec, "parameter": parameter, "bytes": size, "files": len(files),
            "bpp": 8 * size / (len(original) * PIXELS), **distortion(original, decoded),
            "reconstruction": decoded[..., None]}


def sweep(images, codec: str, parameters=None, per_side: int = 10) -> list[dict]:
    """:func:`code_mosaics` at every setting of ``parameters`` (default :data:`SWEEPS` ``[codec]``),
    without the reconstructions, sorted by rate. Introduced in chapter 10."""
    points = []
    for parameter in (SWEEPS[codec] if parameters is None else parameters):
        point = code_mosaics(images, codec, parameter, per_side)
        point.pop("reconstruction")
        points.append(point)
    return sorted(points, key=lambda p: p["bpp"])


def per_digit_sizes(images, codec: str, parameter) -> dict:
    """Each digit as its own file: ``{"sizes" int (count,) bytes, "bpp", "psnr", "mse", ...}``. Introduced in chapter 10."""
    original = grey_images(images)[..., 0]
    grey = np.rint(original * 255).astype(np.uint8)
    files = [_encode(Image.fromarray(digit), codec, parameter) for digit in grey]
    decoded = np.stack([_decode(f) for f in files]).astype(np.float32) / 255.0
    sizes = np.array([len(f) for f in files])
    return {"codec": codec, "parameter": parameter, "sizes": sizes,
            "bpp": 8 * sizes.sum() / (len(original) * PIXELS), **distortion(original, decoded)}


def rate_at_psnr(points: list[dict], psnr: float) -> float | None:
    """The bpp a sweep needs for a mean PSNR of ``psnr`` dB, interpolated in (PSNR, log bpp);
    None outside the sweep's range. Introduced in chapter 10."""
    ordered = sorted(points, key=lambda p: p["psnr"])
    quality = np.array([p["psnr"] for p in ordered])
    log_rate = np.log([p["bpp"] for p in ordered])
    if psnr < quality[0] or psnr > quality[-1]:
        return None
    keep = np.concatenate([[True], np.diff(quality) > 0])  # np.interp needs increasing x
    return float(np.exp(np.interp(psnr, quality[keep], log_rate[keep])))

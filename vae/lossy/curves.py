"""Rate–distortion curves of the learned codecs and the classical ones on the same digits, recorded once.

:func:`measure` codes the same grey test digits with every shipped learned
codec (one file per codec, all digits in it) and with each classical codec
across its quality sweep (mosaics, :mod:`vae.lossy.baselines`), and measures
each point with :func:`vae.lossy.quality.distortion`. AVIF at its strongest
setting takes seconds per mosaic, so the full measurement takes a while: it
is run once by ``benchmarks/lossy_rate_distortion.py --record`` and stored in
``vae/checkpoints/lossy/rate_distortion.json``, which chapter 10 reads
(:func:`recorded`) and spot-checks live on fewer digits.

:func:`bd_rates` summarizes the learned curve against each classical one as
a Bjøntegaard delta rate over the PSNR range the learned codec covers
(:func:`anchor_points` chooses the classical points that bracket it).

Introduced in chapter 10.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Callable

import numpy as np

from vae import checkpoint
from vae.lossy import baselines, bd_rate, storage
from vae.lossy.coding import LossyCodec, grey_images, rates
from vae.lossy.quality import distortion

RECORD_FILE = storage.SHIPPED / "rate_distortion.json"
"""Where the recorded curves live (package data)."""


def learned_point(codec: LossyCodec, images) -> dict:
    """Code ``images`` in one file with a learned codec and measure it.

    Returns:
        ``{"codec", "lmbda", "bytes", "bpp" (whole file), "payload_bpp", "header_bytes", "clipped",
        "psnr", "mse", "psnr_of_mean_mse", "ssim"}``.

    Introduced in chapter 10.
    """
    images = grey_images(images)
    encoded = codec.encode(images)
    rate = rates(encoded.blob)
    return {"codec": codec.name, "lmbda": codec.lmbda, "bytes": len(encoded.blob), "bpp": rate["total"],
            "payload_bpp": rate["payload"], "header_bytes": rate["header_bytes"], "clipped": encoded.clipped,
            **distortion(images, encoded.reconstruction)}


def per_digit_bytes(codec: LossyCodec, images) -> np.ndarray:
    """Bytes of each digit compressed alone into its own file, int ``(count,)``. Introduced in chapter 10."""
    return np.array([len(codec.compress(image[None])) for image in grey_images(images)])


def measure(images, learned: dict[str, LossyCodec], classical: list[str] | None = None, per_side: int = 10,
            progress: Callable[[str], None] | None = None) -> dict:
    """Every learned codec's point and every classical codec's sweep on the same digits.

    Args:
        images: grey digits ``(count, 28, 28[, 1])`` in [0, 1].
        learned: codecs by name (e.g. the shipped ones).
        classical: codecs of :data:`vae.lossy.baselines.SWEEPS` (default: all this Pillow writes).
        per_side: mosaic size of the classical codecs.
        progress: called with the name of each curve as it starts.

    Returns:
        ``{"digits", "per_side", "learned": [point, ...] by rate, "classical": {codec: [point, ...]},
        "seconds": {curve: wall seconds}}``.

    Introduced in chapter 10.
    """
    images = grey_images(images)
    result = {"digits": len(images), "per_side": per_side, "learned": [], "classical": {}, "seconds": {}}
    for name, codec in learned.items():
        if progress is not None:
            progress(name)
        start = time.perf_counter()
        result["learned"].append(learned_point(codec, images))
        result["seconds"][name] = round(time.perf_counter() - start, 2)
    result["learned"].sort(key=lambda point: point["bpp"])
    for codec in (baselines.available_codecs() if classical is None else classical):
        if progress is not None:
            progress(codec)
        start = time.perf_counter()
        result["classical"][codec] = baselines.sweep(images, codec, per_side=per_side)
        result["seconds"][codec] = round(time.perf_counter() - start, 2)
    return result


def anchor_points(points: list[dict], low: float, high: float) -> list[dict]:
    """The consecutive points of a classical sweep (sorted by PSNR) that bracket ``[low, high]`` dB.

    The Bjøntegaard cubic is a local fit: the anchor curve is fitted on the
    points from the last one at or below ``low`` to the first one at or
    above ``high`` (widened to 4 points if fewer), not on a sweep that runs
    from 12 dB to 50 dB.

    Introduced in chapter 10.
    """
    ordered = sorted(points, key=lambda point: point["psnr"])
    quality = np.array([point["psnr"] for point in ordered])
    first = max(int(np.searchsorted(quality, low, side="right")) - 1, 0)
    last = min(int(np.searchsorted(quality, high, side="left")), len(ordered) - 1)
    while last - first + 1 < 4 and (first > 0 or last < len(ordered) - 1):
        if first > 0:
            first -= 1
        if last - first + 1 < 4 and last < len(ordered) - 1:
            last += 1
    return ordered[first:last + 1]


def bd_rates(curves: dict) -> dict:
    """The learned curve's Bjøntegaard delta rate against each classical codec, in percent.

    Returns:
        ``{codec: {"bd_rate" (%), "psnr_range" [low, high] dB, "anchor_points" (how many)}}``;
        negative is better than the classical codec. Codecs whose range does
        not cover the learned one's at all are left out.

    Introduced in chapter 10.
    """
    test_rate = [point["bpp"] for point in curves["learned"]]
    test_psnr = [point["psnr"] for point in curves["learned"]]
    low, high = min(test_psnr), max(test_psnr)
    result = {}
    for codec, points in curves["classical"].items():
        anchor = anchor_points(points, low, high)
        try:
            value = bd_rate.bd_rate([p["bpp"] for p in anchor], [p["psnr"] for p in anchor], test_rate, test_psnr)
        except ValueError:
            continue
        result[codec] = {"bd_rate": value,
                         "psnr_range": list(bd_rate.overlap([p["psnr"] for p in anchor], test_psnr)),
                         "anchor_points": len(anchor)}
    return result


def record(curves: dict, command: str, path=RECORD_FILE) -> dict:
    """Store measured curves with the command that made them, the software versions and the date.

    Introduced in chapter 10.
    """
    import PIL

    from vae.training import versions

    document = {"command": command, **curves, "versions": {**versions(), "pillow": PIL.__version__,
                                                          "machine": platform.machine()},
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    checkpoint.write_json_atomic(Path(path), document)
    return document


def recorded(path=RECORD_FILE) -> dict:
    """The curves stored by :func:`record` (raises ``FileNotFoundError`` when none are). Introduced in chapter 10."""
    return json.loads(Path(path).read_text())

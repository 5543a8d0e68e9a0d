"""The VQ-VAE's points on chapter 10's recorded rate–distortion plot.

The hyperprior's curve and the classical sweeps are stored once in
``vae/checkpoints/lossy/rate_distortion.json`` (:mod:`vae.lossy.curves`).
:func:`record_points` adds the shipped VQ-VAEs' points to that document
under ``"vqvae"`` (with their own command and date) and leaves the rest as
it is, so the slow classical sweeps are not measured again. Each point
codes the same first test digits into one real file
(:meth:`vae.vq.coding.VQCodec.measure`).

Introduced in chapter 10.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from vae import checkpoint
from vae.lossy.curves import RECORD_FILE
from vae.vq.coding import VQCodec


def measure_shipped(images, names: list[str] | None = None) -> list[dict]:
    """The points of the shipped VQ-VAEs (default: all) on ``images``, sorted by rate. Introduced in chapter 10."""
    from vae.vq import storage

    names = storage.shipped_vqvaes() if names is None else names
    return sorted((VQCodec.pretrained(name).measure(images) for name in names), key=lambda p: p["bpp"])


def record_points(points: list[dict], command: str, path=RECORD_FILE) -> dict:
    """Store ``points`` under ``"vqvae"`` in the recorded curves, keeping everything else; returns the document.

    Raises:
        ValueError: the points were measured on another number of digits than the recorded curves.

    Introduced in chapter 10.
    """
    path = Path(path)
    document = json.loads(path.read_text())
    if any(point["digits"] != document["digits"] for point in points):
        raise ValueError(f"the recorded curves are on {document['digits']} digits; measure the VQ-VAE on as many")
    document = {**document, "vqvae": points, "vqvae_command": command,
                "vqvae_created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    checkpoint.write_json_atomic(path, document)
    return document

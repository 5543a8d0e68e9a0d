"""The checkpoints shipped inside the package, loaded with their manifests.

Each shipped model is a folder ``vae/checkpoints/NAME/`` holding
``model.weights.h5`` and ``manifest.json``: the command that trained it, its
configuration, the data hash, epochs, CPU seconds, versions and metrics. The
weights' SHA-256 is checked against the manifest before they are loaded.
"""

from __future__ import annotations

from pathlib import Path

from vae import checkpoint
from vae.models import VAE

CHECKPOINTS = Path(__file__).parent / "checkpoints"


def available() -> list[str]:
    """Names of the shipped models, sorted. Introduced in chapter 5."""
    if not CHECKPOINTS.is_dir():
        return []
    return sorted(p.name for p in CHECKPOINTS.iterdir() if (p / checkpoint.MANIFEST_FILE).is_file())


def checkpoint_dir(name: str) -> Path:
    """The folder of shipped model ``name``; a ``ValueError`` lists the names if unknown.

    Introduced in chapter 5.
    """
    names = available()
    if name not in names:
        raise ValueError(f"no shipped model named {name!r}; available: {', '.join(names) or 'none'}")
    return CHECKPOINTS / name


def manifest(name: str) -> dict:
    """The manifest of shipped model ``name`` (a dict parsed from JSON). Introduced in chapter 5."""
    return checkpoint.read_manifest(checkpoint_dir(name))


def recorded_evaluation(name: str, k: int, n_images: int, seed: int = 0) -> dict | None:
    """The figures ``evaluate --record`` stored for shipped model ``name`` at one setting.

    A dict (nll, nll_stderr, elbo, kl, reconstruction, ... in nats per image) for
    ``k`` importance samples on the first ``n_images`` test digits, or None if
    that setting was never recorded. Introduced in chapter 6.
    """
    evaluations = manifest(name).get("evaluations", {})
    return evaluations.get(checkpoint.evaluation_key(k, n_images, seed))


def load(name: str) -> VAE:
    """The shipped model ``name``, its weights verified against the manifest's SHA-256.

    Raises:
        ValueError: the name is unknown.
        vae.checkpoint.CheckpointError: the weights file is missing, truncated
            or does not match the manifest.

    Introduced in chapter 5.
    """
    model, _ = checkpoint.load_checkpoint(checkpoint_dir(name))
    return model

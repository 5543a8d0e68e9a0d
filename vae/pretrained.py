"""The checkpoints shipped inside the package, loaded with their manifests, and their recorded figures.

Each shipped model is a folder ``vae/checkpoints/NAME/`` holding
``model.weights.h5`` and ``manifest.json``: the command that trained it, its
configuration, the data hash, epochs, CPU seconds, versions and metrics. The
weights' SHA-256 is checked against the manifest before they are loaded.

A *control* is a checkpoint trained only to be compared with a shipped
model: the same command without the one change the comparison is about
(a folder ``vae/checkpoints/controls/NAME/``, :data:`CONTROLS`). It is not in
:func:`available` nor in chapter 11's table, and its manifest records
figures at ``k = 100`` only; :func:`load`, :func:`manifest` and
:func:`recorded_evaluation` take its folder, ``CONTROLS / NAME``.

A manifest's ``evaluations`` keep the figures of ``python -m vae evaluate
--record``, one entry per setting (:func:`vae.checkpoint.evaluation_key`):
:func:`record_evaluation` writes one, :func:`recorded_evaluation` reads it.
"""

from __future__ import annotations

import os
from pathlib import Path

from vae import checkpoint
from vae.models import VAE

CHECKPOINTS = Path(__file__).parent / "checkpoints"
CONTROLS = CHECKPOINTS / "controls"


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


def manifest(name) -> dict:
    """The manifest of shipped model ``name``, or of a checkpoint folder (a ``Path``), parsed from JSON.

    Introduced in chapter 5.
    """
    return checkpoint.read_manifest(_directory_of(name))


def recorded_evaluation(name, k: int, n_images: int, seed: int = 0) -> dict | None:
    """The figures ``evaluate --record`` stored for a model at one setting.

    Args:
        name: a shipped model's name, or a checkpoint folder (a ``Path``).
        k, n_images, seed: the setting: ``k`` importance samples on the first
            ``n_images`` test digits with sampling seed ``seed``.

    Returns:
        a dict (nll, nll_stderr, elbo, kl, reconstruction, ... in nats per
        image), or None if that setting was never recorded.

    Introduced in chapter 6.
    """
    evaluations = checkpoint.read_manifest(_directory_of(name)).get("evaluations", {})
    return evaluations.get(checkpoint.evaluation_key(k, n_images, seed))


def record_evaluation(directory, figures: dict, seed: int, replace: bool = False) -> str:
    """Store an evaluation's figures in the manifest of the checkpoint folder ``directory``.

    What ``python -m vae evaluate --record`` does; :func:`recorded_evaluation`
    reads them back. The manifest is rewritten atomically.

    Args:
        directory: a checkpoint folder (a shipped model's is :func:`checkpoint_dir`).
        figures: :meth:`vae.evaluation.Evaluation.as_dict`; its ``k`` and
            ``n_images`` name the setting. The CLI adds ``batch_size``, the
            images per batch, without which the same draws cannot be made
            again (:func:`vae.evaluation.evaluate` seeds each batch).
            Older records do not say; those of the models shipped before
            chapter 11 used the default, 50.
        seed: the sampling seed the figures were computed with.
        replace: overwrite figures already recorded for this setting
            (otherwise that is a ``ValueError``).

    Returns:
        the key the figures are stored under, e.g. ``"k=5000,n=10000,seed=0"``.

    Introduced in chapter 6.
    """
    directory = Path(directory)
    key = checkpoint.evaluation_key(figures["k"], figures["n_images"], seed)
    recorded = checkpoint.read_manifest(directory)
    if key in recorded.get("evaluations", {}) and not replace:
        raise ValueError(f"{directory / checkpoint.MANIFEST_FILE} already holds the evaluation {key}")
    recorded.setdefault("evaluations", {})[key] = dict(figures)
    checkpoint.write_json_atomic(directory / checkpoint.MANIFEST_FILE, recorded)
    return key


def _directory_of(name) -> Path:
    """A shipped model's folder for a name, the folder itself for a path."""
    return Path(name) if isinstance(name, os.PathLike) else checkpoint_dir(name)


def load(name) -> VAE:
    """The shipped model ``name``, or the checkpoint in a folder (a ``Path``), its weights verified.

    The weights' SHA-256 is checked against the manifest's.

    Raises:
        ValueError: the name is unknown.
        vae.checkpoint.CheckpointError: the weights file is missing, truncated
            or does not match the manifest.

    Introduced in chapter 5.
    """
    model, _ = checkpoint.load_checkpoint(_directory_of(name))
    return model

"""Checkpoints of the learned codec, in the package's convention (:mod:`vae.checkpoint`).

A codec checkpoint is a folder holding::

    model.weights.h5     the Keras weights (no optimizer state), written atomically
    codec_tables.npz     the integer tables and decoder networks (:mod:`vae.lossy.tables`), written atomically
    manifest.json        how it was built and trained, with "model" (the config),
                         "weights_sha256" and "tables_sha256"; written last

:func:`vae.checkpoint.save_checkpoint` builds a :class:`vae.models.VAE` from
the config, so the codec keeps its own two functions here and reuses the
atomic writers, the hashing and :class:`vae.checkpoint.CheckpointError`.

Introduced in chapter 10.
"""

from __future__ import annotations

from pathlib import Path

from vae import checkpoint, defaults
from vae.checkpoint import CheckpointError
from vae.lossy.codec_model import LearnedCodec
from vae.lossy.tables import TABLES_FILE, CodecTables, derive_tables

WEIGHTS_FILE = checkpoint.WEIGHTS_FILE
MANIFEST_FILE = checkpoint.MANIFEST_FILE
SHIPPED = Path(__file__).resolve().parent.parent / "checkpoints" / defaults.LOSSY_CHECKPOINTS
"""The folder of the shipped codecs, ``vae/checkpoints/lossy/NAME/``."""


def shipped_codecs() -> list[str]:
    """Names of the learned codecs shipped in the package, sorted. Introduced in chapter 10."""
    if not SHIPPED.is_dir():
        return []
    return sorted(p.name for p in SHIPPED.iterdir() if (p / MANIFEST_FILE).is_file())


def shipped_codec_dir(name: str) -> Path:
    """The checkpoint folder of the shipped codec ``name``.

    Raises:
        ValueError: no shipped codec of that name (the message lists them).

    Introduced in chapter 10.
    """
    if name not in shipped_codecs():
        raise ValueError(f"no shipped lossy codec named {name!r}; available: {', '.join(shipped_codecs()) or 'none'}")
    return SHIPPED / name


def save_weights_atomic(model: LearnedCodec, path) -> str:
    """The model's own weights (never the optimizer's) to ``path`` atomically; returns the SHA-256.

    Introduced in chapter 10.
    """
    bare = LearnedCodec.from_config(model.get_config())
    bare.set_weights(model.get_weights())
    with checkpoint.atomic_path(path, suffix=".weights.h5") as temporary:
        Path(temporary).unlink()  # Keras refuses to overwrite without asking
        bare.save_weights(temporary)
    return checkpoint.sha256_file(path)


def load_weights_into(model: LearnedCodec, path) -> None:
    """Load a file written by :func:`save_weights_atomic` into ``model`` (compiled or not).

    Introduced in chapter 10.
    """
    bare = LearnedCodec.from_config(model.get_config())
    bare.load_weights(path)
    model.set_weights(bare.get_weights())


def save_codec(model: LearnedCodec, directory, manifest: dict, tables: CodecTables | None = None) -> dict:
    """Write weights, integer tables (derived now unless given) and manifest into ``directory``.

    Returns:
        the manifest as written (with ``model``, ``weights_sha256``, ``tables_sha256``).

    Introduced in chapter 10.
    """
    directory = Path(directory)
    digest = save_weights_atomic(model, directory / WEIGHTS_FILE)
    tables = tables if tables is not None else derive_tables(model)
    with checkpoint.atomic_path(directory / TABLES_FILE) as temporary:
        temporary.write_bytes(tables.to_bytes())
    manifest = {**manifest, "model": model.get_config(), "weights_sha256": digest,
                "tables_sha256": checkpoint.sha256_file(directory / TABLES_FILE)}
    checkpoint.write_json_atomic(directory / MANIFEST_FILE, manifest)
    return manifest


def load_codec(directory) -> tuple[LearnedCodec, CodecTables, dict]:
    """Rebuild a codec checkpoint with its verified weights and tables: ``(model, tables, manifest)``.

    Raises:
        CheckpointError: a missing file, or a weights or tables file whose
            SHA-256 differs from the manifest's.

    Introduced in chapter 10.
    """
    directory = Path(directory)
    manifest = checkpoint.read_manifest(directory)
    if "tables_sha256" not in manifest:
        raise CheckpointError(f"{directory / MANIFEST_FILE} lacks the field 'tables_sha256' (not a lossy codec)")
    checkpoint.verify_file(directory / WEIGHTS_FILE, manifest["weights_sha256"])
    checkpoint.verify_file(directory / TABLES_FILE, manifest["tables_sha256"])
    model = LearnedCodec.from_config(manifest["model"])
    model.load_weights(directory / WEIGHTS_FILE)
    tables = CodecTables.from_bytes((directory / TABLES_FILE).read_bytes())
    return model, tables, manifest

"""Checkpoints of the VQ-VAE, in the package's convention (:mod:`vae.checkpoint`).

A VQ-VAE checkpoint is a folder holding::

    model.weights.npz    the weights (encoder, codebook, decoder, prior; no optimizer state) as float16,
                         in the order of ``get_weights()`` (or ``model.weights.h5``, float32 Keras weights,
                         when exported with ``weights_dtype="float32"``)
    vq_tables.npz        the integer decoder, codebook, prior and exponential table (:mod:`vae.vq.tables`)
    manifest.json        how it was built and trained, with "model" (the config),
                         "weights_sha256", "tables_sha256" and the measured figures; written last

Shipped ones live in ``vae/checkpoints/vq/NAME/``.

Introduced in chapter 10.
"""

from __future__ import annotations

from pathlib import Path

from vae import checkpoint
from vae.checkpoint import CheckpointError
from vae.vq.model import VQVAE

WEIGHTS_FILE = checkpoint.WEIGHTS_FILE
HALF_WEIGHTS_FILE = "model.weights.npz"
WEIGHTS_DTYPES = ("float16", "float32")
MANIFEST_FILE = checkpoint.MANIFEST_FILE
TABLES_FILE = "vq_tables.npz"
SHIPPED = Path(__file__).resolve().parent.parent / "checkpoints" / "vq"
"""The folder of the shipped VQ-VAEs, ``vae/checkpoints/vq/NAME/``."""


def shipped_vqvaes() -> list[str]:
    """Names of the VQ-VAEs shipped in the package, sorted. Introduced in chapter 10."""
    if not SHIPPED.is_dir():
        return []
    return sorted(p.name for p in SHIPPED.iterdir() if (p / MANIFEST_FILE).is_file())


def shipped_vqvae_dir(name: str) -> Path:
    """The checkpoint folder of the shipped VQ-VAE ``name`` (``ValueError`` listing them if none). Introduced in chapter 10."""
    if name not in shipped_vqvaes():
        raise ValueError(f"no shipped VQ-VAE named {name!r}; available: {', '.join(shipped_vqvaes()) or 'none'}")
    return SHIPPED / name


def save_weights_atomic(model: VQVAE, path) -> str:
    """The model's own weights (never the optimizer's) to ``path`` atomically; returns the SHA-256. Introduced in chapter 10."""
    bare = VQVAE.from_config(model.get_config())
    bare.set_weights(model.get_weights())
    with checkpoint.atomic_path(path, suffix=".weights.h5") as temporary:
        Path(temporary).unlink()  # Keras refuses to overwrite without asking
        bare.save_weights(temporary)
    return checkpoint.sha256_file(path)


def load_weights_into(model: VQVAE, path) -> None:
    """Load a file written by :func:`save_weights_atomic` into ``model`` (compiled or not). Introduced in chapter 10."""
    bare = VQVAE.from_config(model.get_config())
    bare.load_weights(path)
    model.set_weights(bare.get_weights())


def _save_half_weights(model: VQVAE, path) -> str:
    """The model's weights as float16 arrays ``w000, w001, ...`` (``get_weights()`` order) in an ``.npz``."""
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, **{f"w{i:03d}": np.asarray(w, np.float16) for i, w in enumerate(model.get_weights())})
    with checkpoint.atomic_path(path) as temporary:
        temporary.write_bytes(buffer.getvalue())
    return checkpoint.sha256_file(path)


def _load_half_weights(model: VQVAE, path) -> None:
    import numpy as np

    with np.load(path, allow_pickle=False) as store:
        arrays = [store[f"w{i:03d}"] for i in range(len(store.files))]
    model.set_weights([a.astype(np.float32) for a in arrays])


def save_vqvae(model: VQVAE, directory, manifest: dict, tables=None, weights_dtype: str = "float16") -> dict:
    """Write weights, integer tables (derived now unless given) and manifest into ``directory``.

    With ``weights_dtype="float16"`` (the default) the weights are rounded to
    float16 first and the tables derived from the rounded model, so the
    checkpoint is what it measures; ``"float32"`` keeps the Keras ``.h5``.

    Returns:
        the manifest as written (with ``model``, ``weights_sha256``, ``weights_dtype``, ``tables_sha256``).

    Introduced in chapter 10.
    """
    import numpy as np

    from vae.vq.tables import derive_tables

    if weights_dtype not in WEIGHTS_DTYPES:
        raise ValueError(f"weights_dtype must be one of {WEIGHTS_DTYPES}, got {weights_dtype!r}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if weights_dtype == "float16":
        rounded = VQVAE.from_config(model.get_config())
        rounded.set_weights([np.asarray(w).astype(np.float16).astype(np.float32) for w in model.get_weights()])
        model = rounded
        digest = _save_half_weights(model, directory / HALF_WEIGHTS_FILE)
        weights_file = HALF_WEIGHTS_FILE
    else:
        digest = save_weights_atomic(model, directory / WEIGHTS_FILE)
        weights_file = WEIGHTS_FILE
    tables = tables if tables is not None else derive_tables(model)
    with checkpoint.atomic_path(directory / TABLES_FILE) as temporary:
        temporary.write_bytes(tables.to_bytes())
    manifest = {**manifest, "model": model.get_config(), "weights_file": weights_file, "weights_sha256": digest,
                "weights_dtype": weights_dtype, "tables_sha256": checkpoint.sha256_file(directory / TABLES_FILE)}
    checkpoint.write_json_atomic(directory / MANIFEST_FILE, manifest)
    return manifest


def load_vqvae(directory):
    """Rebuild a VQ-VAE checkpoint with verified weights and tables: ``(model, tables, manifest)``.

    Raises:
        CheckpointError: a missing file, a file whose SHA-256 differs from the manifest's, or not a VQ-VAE.

    Introduced in chapter 10.
    """
    from vae.vq.tables import VQTables

    directory = Path(directory)
    manifest = checkpoint.read_manifest(directory)
    if manifest.get("model", {}).get("architecture") != VQVAE.architecture or "tables_sha256" not in manifest:
        raise CheckpointError(f"{directory / MANIFEST_FILE} is not a VQ-VAE checkpoint's manifest")
    weights_file = manifest.get("weights_file", WEIGHTS_FILE)
    if weights_file not in (WEIGHTS_FILE, HALF_WEIGHTS_FILE):
        raise CheckpointError(f"{directory / MANIFEST_FILE} names an unknown weights file {weights_file!r}")
    checkpoint.verify_file(directory / weights_file, manifest["weights_sha256"])
    checkpoint.verify_file(directory / TABLES_FILE, manifest["tables_sha256"])
    model = VQVAE.from_config(manifest["model"])
    if weights_file == HALF_WEIGHTS_FILE:
        _load_half_weights(model, directory / weights_file)
    else:
        model.load_weights(directory / weights_file)
    tables = VQTables.from_bytes((directory / TABLES_FILE).read_bytes())
    return model, tables, manifest

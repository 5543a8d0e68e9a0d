"""Checkpoints: Keras ``.weights.h5`` files plus a JSON manifest, written atomically.

A checkpoint is a folder holding ``model.weights.h5`` (HDF5, no pickle) and
``manifest.json``, which records how the model was built and trained and the
SHA-256 of the weights file. Every file is first written under a temporary
name in the same folder and then renamed over the target, so a run killed
mid-write leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

from vae.models import VAE, build_model

WEIGHTS_FILE = "model.weights.h5"
MANIFEST_FILE = "manifest.json"


class CheckpointError(ValueError):
    """A checkpoint is missing, incomplete, or does not match its manifest."""


def evaluation_key(k: int, n_images: int, seed: int) -> str:
    """The key under which a manifest's ``evaluations`` keeps one setting's figures.

    ``k`` importance samples per image on the first ``n_images`` test digits with
    sampling seed ``seed``, e.g. ``evaluation_key(5000, 10_000, 0)`` is
    ``"k=5000,n=10000,seed=0"`` (Burda et al.'s protocol). ``python -m vae
    evaluate --record`` writes under it; chapter 6 and the tests read with it.

    Introduced in chapter 6.
    """
    return f"k={k},n={n_images},seed={seed}"


def sha256_file(path) -> str:
    """Hex SHA-256 of a file's bytes. Introduced in chapter 5."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_path(target, suffix: str = ""):
    """Yield a temporary path beside ``target``; rename it over ``target`` on success.

    On an exception the temporary file is removed and ``target`` is untouched.
    ``suffix`` keeps file-type endings that writers insist on (``.weights.h5``).

    Introduced in chapter 5.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=target.parent)
    os.close(handle)
    os.chmod(temporary, 0o666 & ~_current_umask())  # mkstemp makes 0600; give what open() would
    try:
        yield Path(temporary)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json_atomic(path, data: dict) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically. Introduced in chapter 5."""
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


FLOAT16_MAX = 65504.0
"""The largest finite float16: a weight beyond it cannot be stored in half precision."""


def save_weights_atomic(model: VAE, path, dtype: str = "float32") -> str:
    """Save the model's weights to ``path`` (a ``.weights.h5``) atomically; return its SHA-256.

    Only the model's own variables are written, never an optimizer's: a
    compiled Keras model would otherwise add Adam's two moment estimates and
    triple the file. With ``dtype="float16"`` every float32 array is stored
    rounded to half precision (half the bytes); Keras loads such a file into
    the model's float32 variables, which then hold the rounded values exactly.

    Introduced in chapter 5.
    """
    if dtype not in ("float32", "float16"):
        raise ValueError(f"dtype must be 'float32' or 'float16', got {dtype!r}")
    bare = build_model(model.get_config())
    bare.set_weights(model.get_weights())
    with atomic_path(path, suffix=".weights.h5") as temporary:
        os.remove(temporary)  # Keras refuses to overwrite without asking
        bare.save_weights(temporary)
        if dtype == "float16":
            _rewrite_in_float16(temporary)
    return sha256_file(path)


def _rewrite_in_float16(path: Path) -> None:
    """Rewrite the HDF5 file ``path`` with its float32 datasets in float16; groups and attributes unchanged.

    A new file is written (HDF5 does not give back the space of a deleted
    dataset), holding the same tree.
    """
    import h5py  # Keras' own dependency for .weights.h5 files
    import numpy as np

    entries = []  # (name, attributes, data or None for a group), parents first
    with h5py.File(path, "r") as source:
        root_attributes = dict(source.attrs)

        def read(name, item):
            data = item[()] if isinstance(item, h5py.Dataset) else None
            entries.append((name, dict(item.attrs), data))

        source.visititems(read)
    with h5py.File(path, "w") as target:
        target.attrs.update(root_attributes)
        for name, attributes, data in entries:
            if data is None:
                item = target.require_group(name)
            else:
                if getattr(data, "dtype", None) == np.float32:
                    data = data.astype(np.float16)
                item = target.create_dataset(name, data=data)
            item.attrs.update(attributes)


def load_weights_into(model: VAE, path) -> None:
    """Load a ``.weights.h5`` written by :func:`save_weights_atomic` into ``model``.

    Works for a compiled model too (the file holds no optimizer state, which
    Keras would otherwise warn about). Introduced in chapter 5.
    """
    bare = build_model(model.get_config())
    bare.load_weights(path)
    model.set_weights(bare.get_weights())


def save_checkpoint(model: VAE, directory, manifest: dict) -> dict:
    """Write ``model.weights.h5`` and ``manifest.json`` into ``directory``.

    The manifest gains ``model`` (the model's config) and ``weights_sha256``;
    the weights are written first, the manifest last, so a manifest on disk
    always describes the weights beside it.

    Returns:
        the manifest as written.

    Introduced in chapter 5.
    """
    directory = Path(directory)
    digest = save_weights_atomic(model, directory / WEIGHTS_FILE)
    manifest = {**manifest, "model": model.get_config(), "weights_sha256": digest}
    write_json_atomic(directory / MANIFEST_FILE, manifest)
    return manifest


def store_weights_in_float16(directory) -> dict:
    """Rewrite a checkpoint's weights in float16, about halving the file; return the new manifest.

    What ``python -m vae store-float16`` does, before a model ships. The
    model still computes in float32, from weights rounded to the nearest
    float16 (a relative change of at most 2**-11; weights smaller than about
    6e-5 round to multiples of 2**-24). The manifest gains
    ``weights_dtype: "float16"``, the new ``weights_sha256`` and
    ``float32_weights_sha256`` (the file replaced). Figures measured with the
    float32 weights no longer describe the checkpoint: ``evaluations`` and
    ``compression`` move under ``float32_figures``, to be compared with the
    same figures measured again.

    Raises:
        CheckpointError: the weights are in float16 already, or a weight is
            beyond float16's range (:data:`FLOAT16_MAX`).

    Introduced in chapter 11.
    """
    import numpy as np

    directory = Path(directory)
    model, manifest = load_checkpoint(directory)
    if manifest.get("weights_dtype") == "float16":
        raise CheckpointError(f"the weights of {directory} are stored in float16 already")
    largest = max(float(np.max(np.abs(weight), initial=0.0)) for weight in model.get_weights())
    if largest > FLOAT16_MAX:
        raise CheckpointError(f"a weight of {directory} is {largest:.4g}, beyond float16's range "
                              f"({FLOAT16_MAX:g}): it cannot be stored in half precision")
    digest = save_weights_atomic(model, directory / WEIGHTS_FILE, dtype="float16")
    moved = {key: manifest.pop(key) for key in ("evaluations", "compression") if key in manifest}
    manifest = {**manifest, "weights_sha256": digest, "weights_dtype": "float16",
                "float32_weights_sha256": manifest["weights_sha256"]}
    if moved:
        manifest["float32_figures"] = moved
    write_json_atomic(directory / MANIFEST_FILE, manifest)
    return manifest


def read_manifest(directory) -> dict:
    """The parsed ``manifest.json`` of a checkpoint folder. Introduced in chapter 5."""
    path = Path(directory) / MANIFEST_FILE
    if not path.is_file():
        raise CheckpointError(f"no {MANIFEST_FILE} in {directory}")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path} is not valid JSON: {error}") from None
    for key in ("model", "weights_sha256"):
        if key not in manifest:
            raise CheckpointError(f"{path} lacks the field {key!r}")
    return manifest


def verify_file(path, expected_sha256: str) -> None:
    """Check that a checkpoint's file exists and has the SHA-256 its manifest records.

    Raises:
        CheckpointError: the file is missing, or its digest differs (a truncated,
            corrupted or swapped file).

    Introduced in chapter 5.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no {path.name} in {path.parent}")
    found = sha256_file(path)
    if found != expected_sha256:
        raise CheckpointError(f"{path} does not match its manifest (sha256 {found[:12]}..., expected "
                              f"{expected_sha256[:12]}...): the file is corrupted or was replaced")


def load_checkpoint(directory) -> tuple[VAE, dict]:
    """Rebuild the model of a checkpoint folder and load its verified weights.

    The weights file's SHA-256 must equal the manifest's ``weights_sha256``:
    a truncated, corrupted or swapped file is a :class:`CheckpointError`.

    Returns:
        ``(model, manifest)``.

    Introduced in chapter 5.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    weights = directory / WEIGHTS_FILE
    verify_file(weights, manifest["weights_sha256"])
    model = build_model(manifest["model"])
    model.load_weights(weights)
    return model, manifest

"""The resume state of a training run: written after every epoch, read when the run is started again.

A run folder holds one complete state at a time::

    run_dir/latest.json          {"state": "state-0007"}, written last (atomically)
    run_dir/state-0007/          the state after epoch 7:
        model.weights.h5         the model's own weights
        optimizer.npz            Adam's variables (moments, step count)
        noise_state.npy          the model's Keras seed generator
        progress.json            epochs done, history, seconds
    run_dir/<config file>        the run's options (``train_config.json`` for the VAEs)

A new state is written in full in a fresh folder before ``latest.json``
points at it, so a run killed at any moment resumes from the last finished
epoch. The three trainers use it through ``vae._resumable.fit_resumably``
(:func:`vae.training.train` for the VAEs, :func:`vae.lossy.training.train_codec`
for the learned codec, :func:`vae.vq.training.train_vqvae` for the VQ-VAE);
each passes its own weight writer and reader and its own config file.

Introduced in chapter 5.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from vae import checkpoint

LATEST_FILE = "latest.json"


def save_state(model: keras.Model, run_dir, progress: dict,
               save_weights: Callable[[keras.Model, Path], object]) -> Path:
    """Write a complete resume state in a new folder, point ``latest.json`` at it, remove older states.

    Args:
        model: a compiled model with ``optimizer`` and ``seed_generator``.
        run_dir: the run folder.
        progress: JSON-serializable record with ``epochs_done`` (int).
        save_weights: ``save_weights(model, path)`` writing the model's own weights atomically.

    Returns:
        the new state folder.

    Introduced in chapter 5.
    """
    run_dir = Path(run_dir)
    state_dir = run_dir / f"state-{progress['epochs_done']:04d}"
    if state_dir.exists():
        shutil.rmtree(state_dir)
    state_dir.mkdir(parents=True)
    save_weights(model, state_dir / checkpoint.WEIGHTS_FILE)
    optimizer_store: dict = {}
    model.optimizer.save_own_variables(optimizer_store)
    np.savez(state_dir / "optimizer.npz", **optimizer_store)
    np.save(state_dir / "noise_state.npy", np.asarray(model.seed_generator.state.numpy()))
    checkpoint.write_json_atomic(state_dir / "progress.json", progress)
    checkpoint.write_json_atomic(run_dir / LATEST_FILE, {"state": state_dir.name})
    for old in run_dir.glob("state-*"):
        if old != state_dir:
            shutil.rmtree(old, ignore_errors=True)
    return state_dir


def load_state(model: keras.Model, run_dir, load_weights: Callable[[keras.Model, Path], object]) -> dict | None:
    """Restore the last finished epoch into ``model``; ``None`` when the run folder has no state yet.

    Args:
        model: a compiled model of the run's configuration, optimizer built.
        run_dir: the run folder.
        load_weights: ``load_weights(model, path)`` reading what ``save_weights`` wrote.

    Returns:
        the ``progress`` record saved with the state.

    Introduced in chapter 5.
    """
    run_dir = Path(run_dir)
    pointer = run_dir / LATEST_FILE
    if not pointer.is_file():
        return None
    state_dir = run_dir / json.loads(pointer.read_text())["state"]
    load_weights(model, state_dir / checkpoint.WEIGHTS_FILE)
    with np.load(state_dir / "optimizer.npz", allow_pickle=False) as store:
        model.optimizer.load_own_variables({key: store[key] for key in store.files})
    model.seed_generator.state.assign(np.load(state_dir / "noise_state.npy", allow_pickle=False))
    return json.loads((state_dir / "progress.json").read_text())

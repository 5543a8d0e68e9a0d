"""A resumable training run of the learned codec, ready for the command line.

``train_codec(CodecTrainConfig(lmbda=0.01), "runs/codec-0.01")`` trains a
:class:`~vae.lossy.codec_model.LearnedCodec` on the grey MNIST training
digits (no binarization: the codec codes grey levels) with the package's
epoch loop (:func:`vae.training.fit_epochs`). After every epoch it saves a
resume state (weights, Adam's variables, the noise generator, the history)
in a fresh folder and then points ``run_dir/latest.json`` at it, so calling
it again continues a stopped run. At the end it derives the integer tables
and writes the checkpoint (:func:`vae.lossy.storage.save_codec`) with a
manifest recording the config, the data, the time and the last epoch's
metrics (``val_`` ones on rounded latents of test digits).

Introduced in chapter 11.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from vae import checkpoint, data
from vae.checks import check_int, check_number
from vae.lossy import storage
from vae.lossy.codec_model import LearnedCodec
from vae.training import fit_epochs, versions

LATEST_FILE = "latest.json"


@dataclasses.dataclass(frozen=True)
class CodecTrainConfig:
    """Everything that determines a codec's training run (recorded in its manifest).

    Attributes:
        lmbda: λ of ``loss = bpp + λ·MSE₂₅₅``.
        channels, hyper_channels, filters, hyper_filters: the model's sizes (:class:`LearnedCodec`).
        epochs: passes over the training digits.
        batch_size: images per step.
        learning_rate: Adam's step size.
        seed: seeds the weights, the shuffling and the noise.
        validation_images: test digits measured after every epoch (the first ones).

    Introduced in chapter 11.
    """

    lmbda: float = 0.01
    channels: int = 16
    hyper_channels: int = 8
    filters: int = 64
    hyper_filters: int = 32
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    seed: int = 0
    validation_images: int = 1000

    def __post_init__(self):
        check_number(self.lmbda, "lmbda", strict=True)
        check_number(self.learning_rate, "learning_rate", strict=True)
        for name in ("channels", "hyper_channels", "filters", "hyper_filters", "epochs", "batch_size",
                     "validation_images"):
            check_int(getattr(self, name), name, 1)
        check_int(self.seed, "seed", 0)

    def model_config(self) -> dict:
        return {"channels": self.channels, "hyper_channels": self.hyper_channels, "filters": self.filters,
                "hyper_filters": self.hyper_filters, "lmbda": self.lmbda, "seed": self.seed}

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def new_codec(config: CodecTrainConfig) -> LearnedCodec:
    """A freshly initialised, compiled codec; the weights depend only on ``config.seed``. Introduced in chapter 11."""
    keras.utils.set_random_seed(config.seed)
    model = LearnedCodec(**config.model_config())
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate))
    model.optimizer.build(model.trainable_variables)
    return model


def _save_state(model: LearnedCodec, run_dir: Path, progress: dict) -> None:
    state_dir = run_dir / f"state-{progress['epochs_done']:04d}"
    if state_dir.exists():
        shutil.rmtree(state_dir)
    state_dir.mkdir(parents=True)
    storage.save_weights_atomic(model, state_dir / storage.WEIGHTS_FILE)
    optimizer_store: dict = {}
    model.optimizer.save_own_variables(optimizer_store)
    np.savez(state_dir / "optimizer.npz", **optimizer_store)
    np.save(state_dir / "noise_state.npy", np.asarray(model.seed_generator.state.numpy()))
    checkpoint.write_json_atomic(state_dir / "progress.json", progress)
    checkpoint.write_json_atomic(run_dir / LATEST_FILE, {"state": state_dir.name})
    for old in run_dir.glob("state-*"):
        if old != state_dir:
            shutil.rmtree(old, ignore_errors=True)


def _load_state(model: LearnedCodec, run_dir: Path) -> dict | None:
    pointer = run_dir / LATEST_FILE
    if not pointer.is_file():
        return None
    state_dir = run_dir / json.loads(pointer.read_text())["state"]
    storage.load_weights_into(model, state_dir / storage.WEIGHTS_FILE)
    with np.load(state_dir / "optimizer.npz", allow_pickle=False) as store:
        model.optimizer.load_own_variables({key: store[key] for key in store.files})
    model.seed_generator.state.assign(np.load(state_dir / "noise_state.npy", allow_pickle=False))
    return json.loads((state_dir / "progress.json").read_text())


def _claim_run_dir(run_dir: Path, config: CodecTrainConfig) -> None:
    """Record the config; refuse a folder holding another run (only ``epochs`` may grow)."""
    config_file = run_dir / "codec_config.json"
    wanted = json.loads(json.dumps(config.as_dict()))
    if config_file.is_file():
        recorded = json.loads(config_file.read_text())
        if {**recorded, "epochs": None} != {**wanted, "epochs": None}:
            raise ValueError(f"{run_dir} holds a run with another configuration ({config_file}); "
                             "choose a new folder or delete it")
    checkpoint.write_json_atomic(config_file, wanted)


def train_codec(config: CodecTrainConfig, run_dir, train_images=None, test_images=None,
                command: str | None = None, export_dir=None,
                progress: Callable[[dict], None] | None = None) -> tuple[LearnedCodec, dict]:
    """Train (or resume) a learned codec and write its checkpoint.

    Args:
        config: the run's :class:`CodecTrainConfig`.
        run_dir: folder for the resume state (and the checkpoint unless ``export_dir``).
        train_images: grey images ``(N, 28, 28, 1)`` in [0, 1]; default the 60,000 MNIST training digits.
        test_images: grey validation images; default the first ``config.validation_images`` MNIST test digits.
        command: the command line to record.
        export_dir: where to write the checkpoint (default ``run_dir``).
        progress: called after each epoch with its record.

    Returns:
        ``(model, manifest)``.

    Introduced in chapter 11.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    _claim_run_dir(run_dir, config)
    uses_mnist = train_images is None
    if train_images is None:
        train_images, _ = data.load_mnist("train")
    if test_images is None:
        test_images = data.load_mnist("test")[0][:config.validation_images]
    model = new_codec(config)
    state = _load_state(model, run_dir) or {"epochs_done": 0, "history": [], "seconds": 0.0}
    pixels = tf.constant(np.asarray(train_images, dtype=np.float32))
    clock = {}

    def save_state(record: dict) -> None:
        nonlocal state
        state = {"epochs_done": record["epoch"], "history": state["history"] + [record],
                 "seconds": state["seconds"] + time.perf_counter() - clock["wall"]}
        _save_state(model, run_dir, state)
        if progress is not None:
            progress(record)

    fit_epochs(model, lambda epoch: data.training_batches(pixels, config.batch_size, epoch=epoch, seed=config.seed,
                                                          binarize=False),
               config.epochs, initial_epoch=state["epochs_done"],
               validation=data.evaluation_batches(np.asarray(test_images, np.float32), batch_size=500),
               on_epoch_begin=lambda epoch: clock.update(wall=time.perf_counter()), on_epoch_end=save_state)
    manifest = {
        "command": command,
        "kind": "lossy codec (scale hyperprior)",
        "train_config": config.as_dict(),
        "data": {"train": "MNIST training digits, grey levels" if uses_mnist else "caller-supplied",
                 "train_sha256": data.MNIST_SHA256["x_train"] if uses_mnist else None,
                 "train_images": int(len(train_images)), "validation_images": int(len(test_images))},
        "units": {"loss": "bpp + lmbda * MSE on grey levels 0..255", "bpp": "bits per pixel",
                  "mse": "grey levels 0..255 squared", "psnr": "dB, peak 1"},
        "epochs": state["epochs_done"],
        "seconds": round(state["seconds"], 1),
        "metrics": state["history"][-1] if state["history"] else {},
        "history": state["history"],
        "versions": versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    manifest = storage.save_codec(model, export_dir or run_dir, manifest)
    return model, manifest

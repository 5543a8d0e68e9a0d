"""The resumable training run the package's three checkpoint-writing trainers share.

:func:`vae.training.train` (the VAEs), :func:`vae.lossy.training.train_codec`
(the learned codec) and :func:`vae.vq.training.train_vqvae` (the VQ-VAE and
its prior) each build their model and write their own checkpoint; between
the two they do the same things, which live here once:

* :func:`claim_run_dir`: record the run's options in its folder, refuse a
  folder of another run;
* :func:`fit_resumably`: :func:`vae.training.fit_epochs` from the folder's
  last resume state (:mod:`vae.resume`), a new state after every epoch;
* :func:`initialise_once`: a new run's start from another checkpoint's
  weights (``--init-from``), which a resumed run does not repeat;
* :func:`run_summary`: the manifest's epochs, times, history and versions;
* :func:`grey_digits`, :func:`fit_grey_digits`: the grey-digit data and
  loop of the two lossy trainers.

Not public (the trainers are); introduced in chapter 5 with the VAE trainer.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from vae import checkpoint, data, resume
from vae.training import BetaSchedule, fit_epochs, versions


def claim_run_dir(run_dir, config_file: str, config, older_defaults: dict | None = None,
                  record: bool = True) -> Path:
    """Make the run folder and record the run's options in ``run_dir/config_file``; refuse a folder of another run.

    Only ``epochs`` may differ from the recorded options, so that a finished
    run can be extended, and only with a constant learning rate: a cosine
    schedule is shaped by the number of epochs.

    Args:
        run_dir: the run folder (made, with its parents, if missing).
        config_file: the JSON file's name, e.g. ``"train_config.json"``.
        config: the run's config dataclass, with ``as_dict()`` and ``learning_rate_schedule``.
        older_defaults: values of options that files written before those
            options existed lack (e.g. ``{"precision": "float32"}``).
        record: False to only check the folder (made and recorded by a later
            call), e.g. before a run is refused for a reason of its own.

    Returns:
        ``run_dir`` as a ``Path``.

    Raises:
        ValueError: the folder holds a run with other options.

    Introduced in chapter 5.
    """
    run_dir = Path(run_dir)
    path = run_dir / config_file
    wanted = json.loads(json.dumps(config.as_dict()))
    if path.is_file():
        recorded = {**(older_defaults or {}), **json.loads(path.read_text())}
        free = {"epochs": None} if config.learning_rate_schedule == "constant" else {}
        if {**recorded, **free} != {**wanted, **free}:
            raise ValueError(f"{run_dir} holds a run with another configuration ({path}); "
                             "choose a new folder or delete it")
    if record:
        run_dir.mkdir(parents=True, exist_ok=True)
        checkpoint.write_json_atomic(path, wanted)
    return run_dir


def fit_resumably(model: keras.Model, run_dir, batches: Callable[[int], tf.data.Dataset], epochs: int,
                  validation, save_weights: Callable[[keras.Model, Path], object],
                  load_weights: Callable[[keras.Model, Path], object], schedule: BetaSchedule | None = None,
                  measure: Callable[[dict], None] | None = None,
                  progress: Callable[[dict], None] | None = None) -> dict:
    """:func:`vae.training.fit_epochs` from the run folder's last resume state, saving a new state after every epoch.

    This is what makes the three trainers resumable (:func:`vae.training.train`,
    :func:`vae.lossy.training.train_codec`, :func:`vae.vq.training.train_vqvae`):
    the model gets the state of ``run_dir`` (:func:`vae.resume.load_state`)
    if there is one, trains on from the epoch after it, and after each epoch
    the record is measured, the state written (:func:`vae.resume.save_state`),
    and only then is ``progress`` told, so a run stopped by ``progress``
    resumes after that epoch.

    Args:
        model: a compiled model, optimizer built, with a ``seed_generator``.
        run_dir: the run folder.
        batches, epochs, validation, schedule: as for :func:`vae.training.fit_epochs`.
        save_weights, load_weights: the model's own weight writer and
            reader (``save_weights(model, path)``, ``load_weights(model, path)``).
        measure: called with each epoch's record, which it may extend
            (e.g. per-unit KL), before the state is saved; its time counts.
        progress: called with each epoch's record once its state is saved.

    Returns:
        the last state's progress record: ``{"epochs_done", "history" (one
        record per epoch, the first included), "seconds" (wall clock of the
        epochs, s), "cpu_seconds" (process CPU time, s)}``.

    Introduced in chapter 5.
    """
    state = (resume.load_state(model, run_dir, load_weights)
             or {"epochs_done": 0, "history": [], "seconds": 0.0, "cpu_seconds": 0.0})
    clock = {}

    def start_clock(epoch: int) -> None:
        clock.update(wall=time.perf_counter(), cpu=time.process_time())

    def save_state(record: dict) -> None:
        nonlocal state
        if measure is not None:
            measure(record)
        state = {"epochs_done": record["epoch"], "history": state["history"] + [record],
                 "seconds": state["seconds"] + time.perf_counter() - clock["wall"],
                 "cpu_seconds": state.get("cpu_seconds", 0.0) + time.process_time() - clock["cpu"]}
        resume.save_state(model, run_dir, state, save_weights)
        if progress is not None:
            progress(record)

    fit_epochs(model, batches, epochs, initial_epoch=state["epochs_done"], schedule=schedule,
               validation=validation, on_epoch_begin=start_clock, on_epoch_end=save_state)
    return state


INITIALISED_FROM_FILE = "initialised_from.json"
"""The run folder's record of the checkpoint a run started from (see :func:`initialise_once`)."""


def initialise_once(model: keras.Model, run_dir, directory: str | None,
                    copy_weights: Callable[[keras.Model, str], dict]) -> dict | None:
    """Start a new run from a checkpoint's weights; a resumed run keeps its resume state's and reads no checkpoint.

    The ``--init-from`` of ``train`` and ``train-codec`` (:func:`vae.training.train`,
    :func:`vae.lossy.training.train_codec`). A new run (no resume state in
    ``run_dir``) calls ``copy_weights(model, directory)``, which checks and copies the
    weights and returns what the manifest records, and keeps that record in
    ``run_dir/initialised_from.json``; a resumed run returns the kept record
    without calling it: the checkpoint is read once per run (it may have
    changed or gone since), and the resume state restores the weights and
    the optimizer, which a new run starts fresh.

    A trainer calls it after checking its run folder and before recording
    its options there (:func:`claim_run_dir` with ``record=False``, then
    ``True``), so a run refused for its checkpoint leaves no options behind
    that would refuse the corrected command.

    Args:
        model: the run's freshly built model.
        run_dir: the run folder.
        directory: the checkpoint folder to start from, or None (then nothing happens).
        copy_weights: ``copy_weights(model, directory)`` -> the manifest's record (JSON types).

    Returns:
        the manifest's ``initialised_from`` record, or None without ``directory``.

    Introduced in chapter 10 with the learned codec's low-rate runs.
    """
    if directory is None:
        return None
    run_dir = Path(run_dir)
    kept = run_dir / INITIALISED_FROM_FILE
    if (run_dir / resume.LATEST_FILE).is_file() and kept.is_file():
        return json.loads(kept.read_text())
    record = copy_weights(model, directory)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint.write_json_atomic(kept, record)
    return record


def run_summary(state: dict, train_images: int, cpu_minutes: bool = False) -> dict:
    """The manifest's record of a finished run, from its last resume state (see :func:`fit_resumably`).

    Args:
        state: the progress record :func:`fit_resumably` returned.
        train_images: images in one epoch.
        cpu_minutes: also give the CPU time in minutes (the VQ-VAE's manifests do).

    Returns:
        ``{"epochs", "seconds" (wall clock, s), "cpu_seconds", ["cpu_minutes"],
        "images_per_second", "metrics" (the last epoch's record, ``{}`` if
        none), "history", "versions", "created" (UTC)}``, in this order.

    Introduced in chapter 5.
    """
    summary = {"epochs": state["epochs_done"], "seconds": round(state["seconds"], 1),
               "cpu_seconds": round(state.get("cpu_seconds", 0.0), 1)}
    if cpu_minutes:
        summary["cpu_minutes"] = round(state["cpu_seconds"] / 60, 1)
    return {**summary,
            "images_per_second": round(state["epochs_done"] * train_images / max(state["seconds"], 1e-9), 1),
            "metrics": state["history"][-1] if state["history"] else {},
            "history": state["history"],
            "versions": versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def grey_digits(config, train_images=None, test_images=None) -> tuple[np.ndarray, np.ndarray, dict]:
    """The grey digits a lossy model trains and is validated on, and the manifest's record of them.

    Args:
        config: a run's config with ``validation_images`` (:class:`vae.lossy.training.CodecTrainConfig`,
            :class:`vae.vq.training.VQTrainConfig`).
        train_images: grey images ``(N, 28, 28, 1)`` in [0, 1]; default the 60,000 MNIST training digits.
        test_images: grey validation images; default the first ``config.validation_images`` MNIST test digits.

    Returns:
        ``(train_images, test_images, record)``, the record ``{"train", "train_sha256"
        (of MNIST's file, None for the caller's images), "train_images", "validation_images"}``.

    Introduced in chapter 10.
    """
    uses_mnist = train_images is None
    if train_images is None:
        train_images, _ = data.load_mnist("train")
    if test_images is None:
        test_images = data.load_mnist("test")[0][:config.validation_images]
    record = {"train": "MNIST training digits, grey levels" if uses_mnist else "caller-supplied",
              "train_sha256": data.MNIST_SHA256["x_train"] if uses_mnist else None,
              "train_images": int(len(train_images)), "validation_images": int(len(test_images))}
    return train_images, test_images, record


def fit_grey_digits(model: keras.Model, run_dir, config, train_images, test_images,
                    save_weights: Callable, load_weights: Callable, measure: Callable[[dict], None] | None = None,
                    progress: Callable[[dict], None] | None = None) -> dict:
    """:func:`fit_resumably` on grey digits (no binarization), shuffled by ``config.seed`` each epoch.

    Args:
        model: a compiled lossy model (a :class:`vae.lossy.codec_model.LearnedCodec`, a :class:`vae.vq.model.VQVAE`).
        run_dir: the run folder.
        config: the run's config, with ``batch_size``, ``seed`` and ``epochs``.
        train_images, test_images: grey images ``(N, 28, 28, 1)`` in [0, 1] (see :func:`grey_digits`).
        save_weights, load_weights, measure, progress: as for :func:`fit_resumably`.

    Returns:
        the last resume state's progress record (see :func:`fit_resumably`).

    Introduced in chapter 10.
    """
    pixels = tf.constant(np.asarray(train_images, dtype=np.float32))
    return fit_resumably(
        model, run_dir,
        lambda epoch: data.training_batches(pixels, config.batch_size, epoch=epoch, seed=config.seed, binarize=False),
        config.epochs, data.evaluation_batches(np.asarray(test_images, np.float32), batch_size=500),
        save_weights, load_weights, measure=measure, progress=progress)

"""A resumable training run of the learned codec, ready for the command line.

``train_codec(CodecTrainConfig(lmbda=0.01), "runs/codec-0.01")`` trains a
:class:`~vae.lossy.codec_model.LearnedCodec` on the grey MNIST training
digits (no binarization: the codec codes grey levels) with the package's
resumable epoch loop (:mod:`vae._resumable`). After every epoch it saves a
resume state (weights, Adam's variables, the noise generator, the history)
in a fresh folder and then points ``run_dir/latest.json`` at it, so calling
it again continues a stopped run. At the end it derives the integer tables
and writes the checkpoint (:func:`vae.lossy.storage.save_codec`) with a
manifest recording the config, the data, the time and the last epoch's
metrics (``val_`` ones on rounded latents of test digits).

Introduced in chapter 10.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import keras

from vae import defaults
from vae._resumable import claim_run_dir, fit_grey_digits, grey_digits, initialise_once, run_summary
from vae.checks import check_int, check_number
from vae.lossy import storage
from vae.lossy.codec_model import LearnedCodec
from vae.training import learning_rate_schedule

_DEFAULT = defaults.CODEC_TRAINING


@dataclasses.dataclass(frozen=True)
class CodecTrainConfig:
    """Everything that determines a codec's training run (recorded in its manifest).

    Attributes:
        lmbda: λ of ``loss = bpp + λ·MSE₂₅₅``.
        channels, hyper_channels, filters, hyper_filters: the model's sizes (:class:`LearnedCodec`).
        epochs: passes over the training digits.
        batch_size: images per step.
        learning_rate: Adam's (initial) step size.
        learning_rate_schedule: "constant" or "cosine" (:func:`vae.training.learning_rate_schedule`).
        seed: seeds the weights, the shuffling and the noise.
        validation_images: test digits measured after every epoch (the first ones).
        init_from: a codec checkpoint folder of the same sizes to start from
            instead of random weights (e.g. one trained at a larger λ, the
            usual way to train the low-rate codecs), or None.

    Introduced in chapter 10.
    """

    lmbda: float = 0.01
    channels: int = _DEFAULT["channels"]
    hyper_channels: int = _DEFAULT["hyper_channels"]
    filters: int = _DEFAULT["filters"]
    hyper_filters: int = _DEFAULT["hyper_filters"]
    epochs: int = _DEFAULT["epochs"]
    batch_size: int = _DEFAULT["batch_size"]
    learning_rate: float = _DEFAULT["learning_rate"]
    learning_rate_schedule: str = _DEFAULT["learning_rate_schedule"]
    seed: int = _DEFAULT["seed"]
    validation_images: int = _DEFAULT["validation_images"]
    init_from: str | None = None

    def __post_init__(self):
        check_number(self.lmbda, "lmbda", strict=True)
        check_number(self.learning_rate, "learning_rate", strict=True)
        for name in ("channels", "hyper_channels", "filters", "hyper_filters", "epochs", "batch_size",
                     "validation_images"):
            check_int(getattr(self, name), name, 1)
        check_int(self.seed, "seed", 0)
        if self.init_from is not None and not isinstance(self.init_from, str):
            raise ValueError(f"init_from must be a folder name (str) or None, got {self.init_from!r}")
        if self.learning_rate_schedule not in defaults.LEARNING_RATE_SCHEDULES:
            raise ValueError(f"learning_rate_schedule must be one of {defaults.LEARNING_RATE_SCHEDULES}, "
                             f"got {self.learning_rate_schedule!r}")

    def model_config(self) -> dict:
        return {"channels": self.channels, "hyper_channels": self.hyper_channels, "filters": self.filters,
                "hyper_filters": self.hyper_filters, "lmbda": self.lmbda, "seed": self.seed}

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def new_codec(config: CodecTrainConfig, steps_per_epoch: int = -(-60000 // 32)) -> LearnedCodec:
    """A freshly initialized, compiled codec; the weights depend only on ``config.seed``.

    ``steps_per_epoch`` shapes a cosine learning-rate schedule (default: the
    60,000 training digits in batches of 32). Introduced in chapter 10.
    """
    keras.utils.set_random_seed(config.seed)
    model = LearnedCodec(**config.model_config())
    model.compile(optimizer=keras.optimizers.Adam(learning_rate_schedule(
        config.learning_rate_schedule, config.learning_rate, config.epochs, steps_per_epoch)))
    model.optimizer.build(model.trainable_variables)
    return model


def _initialise_from(model: LearnedCodec, directory: str) -> dict:
    """Copy the weights of the (verified) codec checkpoint ``directory`` into ``model``; what the manifest records."""
    source, _, manifest = storage.load_codec(directory)
    sizes = ("channels", "hyper_channels", "filters", "hyper_filters")
    if any(getattr(source, size) != getattr(model, size) for size in sizes):
        raise ValueError(f"{directory} holds a codec of other sizes "
                         f"({', '.join(f'{s}={getattr(source, s)}' for s in sizes)}) than this run's")
    model.set_weights(source.get_weights())
    return {"checkpoint": str(directory), "lmbda": source.lmbda, "weights_sha256": manifest["weights_sha256"]}


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

    Introduced in chapter 10.
    """
    older_defaults = {"learning_rate_schedule": "constant"}
    run_dir = claim_run_dir(run_dir, "codec_config.json", config, older_defaults, record=False)
    train_images, test_images, data_record = grey_digits(config, train_images, test_images)
    model = new_codec(config, -(-len(train_images) // config.batch_size))
    initial = initialise_once(model, run_dir, config.init_from, _initialise_from)  # not again on resuming
    claim_run_dir(run_dir, "codec_config.json", config, older_defaults)
    state = fit_grey_digits(model, run_dir, config, train_images, test_images, storage.save_weights_atomic,
                            storage.load_weights_into, progress=progress)
    manifest = {
        "command": command,
        "kind": "lossy codec (scale hyperprior)",
        "train_config": config.as_dict(),
        "initialised_from": initial,
        "data": data_record,
        "units": {"loss": "bpp + lmbda * MSE on grey levels 0..255", "bpp": "bits per pixel",
                  "mse": "grey levels 0..255 squared", "psnr": "dB, peak 1"},
        **run_summary(state, len(train_images)),
    }
    manifest = storage.save_codec(model, export_dir or run_dir, manifest)
    return model, manifest

"""A resumable training run of the VQ-VAE and its prior, ready for the command line.

``train_vqvae(VQTrainConfig(), "runs/vqvae-k256")`` trains a
:class:`~vae.vq.model.VQVAE` on the grey MNIST training digits (no
binarization) with the package's resumable epoch loop on grey digits
(:mod:`vae._resumable`).
The prior is trained in the same steps on the current encoder's indices
(its cross-entropy is part of the loss; the indices are constants to it);
the cosine learning-rate schedule lets the code settle in the last epochs,
so the prior ends on the indices it will code. After every epoch a resume
state is saved (:mod:`vae.resume`), so running the same command again
continues a stopped run. At the end the checkpoint is written
(``_export``): weights, integer tables, and a
manifest with the command, the CPU time, the images per second and the
figures measured on the test digits.

Introduced in chapter 10.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import keras

from vae import checkpoint, data, defaults
from vae._resumable import claim_run_dir, fit_grey_digits, grey_digits, run_summary
from vae.checks import check_int, check_number
from vae.training import learning_rate_schedule
from vae.vq.model import VQVAE

DEFAULTS = defaults.VQ_TRAINING


@dataclasses.dataclass(frozen=True)
class VQTrainConfig:
    """Everything that determines a VQ-VAE's training run (recorded in its manifest).

    Attributes:
        codebook_size, code_dim, filters, beta: the VQ-VAE's sizes (:class:`VQVAE`).
        prior_embedding, prior_filters, prior_layers: the PixelCNN's sizes.
        restarts: dead-code restarts (the cure of codebook collapse) on or off.
        epochs, batch_size, learning_rate, learning_rate_schedule: the optimization.
        seed: seeds the weights, the shuffling and the restarts.
        validation_images: test digits measured after every epoch (the first ones).

    Introduced in chapter 10.
    """

    codebook_size: int = DEFAULTS["codebook_size"]
    code_dim: int = DEFAULTS["code_dim"]
    filters: int = DEFAULTS["filters"]
    beta: float = 0.25
    prior_embedding: int = DEFAULTS["prior_embedding"]
    prior_filters: int = DEFAULTS["prior_filters"]
    prior_layers: int = DEFAULTS["prior_layers"]
    restarts: bool = True
    epochs: int = DEFAULTS["epochs"]
    batch_size: int = DEFAULTS["batch_size"]
    learning_rate: float = DEFAULTS["learning_rate"]
    learning_rate_schedule: str = DEFAULTS["learning_rate_schedule"]
    seed: int = DEFAULTS["seed"]
    validation_images: int = DEFAULTS["validation_images"]

    def __post_init__(self):
        check_number(self.learning_rate, "learning_rate", strict=True)
        check_number(self.beta, "beta")
        for name in ("codebook_size", "code_dim", "filters", "prior_embedding", "prior_filters", "prior_layers",
                     "epochs", "batch_size", "validation_images"):
            check_int(getattr(self, name), name, 1)
        check_int(self.seed, "seed", 0)
        if self.learning_rate_schedule not in defaults.LEARNING_RATE_SCHEDULES:
            raise ValueError(f"learning_rate_schedule must be one of {defaults.LEARNING_RATE_SCHEDULES}, "
                             f"got {self.learning_rate_schedule!r}")

    def model_config(self) -> dict:
        return {"codebook_size": self.codebook_size, "code_dim": self.code_dim, "filters": self.filters,
                "beta": self.beta, "prior_embedding": self.prior_embedding, "prior_filters": self.prior_filters,
                "prior_layers": self.prior_layers, "restarts": self.restarts, "seed": self.seed}

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def new_vqvae(config: VQTrainConfig, steps_per_epoch: int = -(-60000 // 64)) -> VQVAE:
    """A freshly initialized, compiled VQ-VAE; the weights depend only on ``config.seed``. Introduced in chapter 10."""
    keras.utils.set_random_seed(config.seed)
    model = VQVAE(**config.model_config())
    model.compile(optimizer=keras.optimizers.Adam(learning_rate_schedule(
        config.learning_rate_schedule, config.learning_rate, config.epochs, steps_per_epoch)))
    model.optimizer.build(model.trainable_variables)
    return model


def train_vqvae(config: VQTrainConfig, run_dir, train_images=None, test_images=None, command: str | None = None,
                export_dir=None, name: str | None = None, evaluation_images: int = 2000,
                progress: Callable[[dict], None] | None = None) -> tuple[VQVAE, dict]:
    """Train (or resume) a VQ-VAE with its prior and write its checkpoint.

    Args:
        config: the run's :class:`VQTrainConfig`.
        run_dir: folder for the resume state (and the checkpoint unless ``export_dir``).
        train_images: grey images ``(N, 28, 28, 1)`` in [0, 1]; default the 60,000 MNIST training digits.
        test_images: grey validation images; default the first ``config.validation_images`` MNIST test digits.
        command: the command line to record.
        export_dir: where to write the checkpoint (default ``run_dir``).
        name: the model's name (written into its files; default the export folder's name).
        evaluation_images: how many of the first MNIST test digits the manifest's figures are measured on
            (coded into one real file); 0 skips the measurement.
        progress: called after each epoch with its record.

    Returns:
        ``(model, manifest)``.

    Introduced in chapter 10.
    """
    from vae.vq import storage

    run_dir = claim_run_dir(run_dir, "vqvae_config.json", config)
    train_images, test_images, data_record = grey_digits(config, train_images, test_images)
    model = new_vqvae(config, -(-len(train_images) // config.batch_size))

    def measure(record: dict) -> None:
        record["restarted"] = float(model.restarted.numpy())

    state = fit_grey_digits(model, run_dir, config, train_images, test_images, storage.save_weights_atomic,
                            storage.load_weights_into, measure=measure, progress=progress)
    export_dir = Path(export_dir or run_dir)
    manifest = {
        "command": command,
        "kind": "VQ-VAE with a PixelCNN prior (lossy codec and generator)",
        "train_config": config.as_dict(),
        "data": data_record,
        "units": {"loss": "MSE on [0, 1] + codebook + beta * commitment + prior cross-entropy (nats per index)",
                  "mse": "grey levels 0..255 squared", "psnr": "dB, peak 1", "prior_bits": "bits per index",
                  "bpp": "bits per pixel"},
        **run_summary(state, len(train_images), cpu_minutes=True),
    }
    manifest = _export(model, export_dir, manifest, name=name or export_dir.name,
                       evaluation_images=evaluation_images)
    return model, manifest


def _export(model: VQVAE, directory, manifest: dict, name: str, evaluation_images: int = 2000) -> dict:
    """Save the checkpoint, then measure it on the first ``evaluation_images`` MNIST test digits and record that.

    The figures (``manifest["test"]``): the digits coded into one real file
    (bytes, bits per pixel), PSNR/SSIM of the decoded digits
    (:func:`vae.lossy.quality.distortion`), codebook usage and the prior's
    NLL in bits per index.
    """
    from vae.vq import storage

    manifest = storage.save_vqvae(model, directory, manifest)
    if evaluation_images:
        from vae.vq.coding import VQCodec

        codec = VQCodec.from_checkpoint(directory, name=name)
        images = data.load_mnist("test")[0][:evaluation_images]
        manifest = {**manifest, "name": name, "test": codec.measure(images)}
        checkpoint.write_json_atomic(Path(directory) / storage.MANIFEST_FILE, manifest)
    return manifest

"""Training: β schedules, the one epoch loop, a resumable training run, and its manifest.

:func:`fit_epochs` is the epoch loop every trainer of the package runs (this
module's :func:`train`, :func:`vae.rate_distortion.train_in_memory`,
:func:`vae.autoencoders.train_autoencoder`; chapter 7's conditional VAE
trains the same way): ``model.fit`` once per epoch on that epoch's freshly
shuffled batches, with the β schedule as a Keras callback and what differs
between trainers (a resume state, a per-epoch measurement) as callbacks.

``train(config, run_dir)`` runs that loop resumably, as the learned
codec's and the VQ-VAE's trainers do (:mod:`vae._resumable`): after every
epoch it saves a complete resume state (weights, optimizer variables,
noise-generator state, history; :mod:`vae.resume`) in a fresh folder and
only then points ``run_dir/latest.json`` at it, so a run killed at any
moment restarts from its last finished epoch; with op determinism on, the
resumed run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import platform
import shlex
import sys
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from vae import checkpoint, data, defaults
from vae.checks import check_int, check_number, check_positive_int
from vae.models import VAE, build_model

BetaSchedule = Callable[[float], float]


# -- β schedules ---------------------------------------------------------------------
def constant_beta(beta: float = 1.0) -> BetaSchedule:
    """A schedule that keeps β fixed. Introduced in chapter 8."""
    check_number(beta, "beta")
    return lambda epoch: float(beta)


def linear_kl_warmup(warmup_epochs: float, beta: float = 1.0, start: float = 0.0) -> BetaSchedule:
    """KL annealing: β rises linearly from ``start`` to ``beta`` over ``warmup_epochs``.

    The schedule takes the training progress in (fractional) epochs, so β
    moves a little at every batch rather than in steps once an epoch.

    Introduced in chapter 8.
    """
    check_number(beta, "beta")
    check_number(start, "start")
    check_number(warmup_epochs, "warmup_epochs")
    if warmup_epochs == 0:
        return constant_beta(beta)

    def schedule(epoch: float) -> float:
        fraction = min(max(epoch / warmup_epochs, 0.0), 1.0)
        return float(start + (beta - start) * fraction)

    return schedule


class BetaScheduler(keras.callbacks.Callback):
    """Sets ``model.beta`` from a schedule before every training batch.

    Args:
        schedule: maps progress in epochs (e.g. 2.5 = half-way through the
            third epoch) to β.
        steps_per_epoch: batches in one epoch.
        initial_epoch: epochs already done (when ``fit`` is called per epoch).

    Introduced in chapter 8.
    """

    def __init__(self, schedule: BetaSchedule, steps_per_epoch: int, initial_epoch: int = 0):
        super().__init__()
        self.schedule = schedule
        self.steps_per_epoch = check_positive_int(steps_per_epoch, "steps_per_epoch")
        self.epoch = initial_epoch

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self.model.beta.assign(self.schedule(self.epoch + batch / self.steps_per_epoch))


# -- the epoch loop ------------------------------------------------------------------
def fit_epochs(model: keras.Model, batches: Callable[[int], tf.data.Dataset], epochs: int,
               initial_epoch: int = 0, schedule: BetaSchedule | None = None, validation=None,
               callbacks=(), on_epoch_begin: Callable[[int], None] | None = None,
               on_epoch_end: Callable[[dict], None] | None = None) -> list[dict]:
    """Train a compiled model epoch by epoch: ``model.fit`` once per epoch on ``batches(epoch)``.

    A fresh dataset per epoch is how the package's pipelines reshuffle and
    rebinarize (:func:`vae.data.training_batches` is keyed by the epoch).
    Everything a trainer adds comes in as a parameter: a β schedule (run by
    a :class:`BetaScheduler`), validation batches, more Keras callbacks, and
    two Python callbacks around each epoch, e.g. to time it, measure the
    model or save a resume state (which is what makes :func:`train`
    resumable: start again at ``initial_epoch`` with the state restored).

    Args:
        model: a compiled Keras model (a VAE, an autoencoder, a conditional VAE).
        batches: ``batches(epoch)`` returns that epoch's ``tf.data.Dataset``;
            its length (``cardinality``) is the number of steps per epoch.
        epochs: the epoch to stop after, counted from 0 as Keras does.
        initial_epoch: epochs already done (a resumed run).
        schedule: optional β schedule of the training progress in epochs;
            the model must have a ``beta`` variable.
        validation: optional validation data for ``fit`` (``val_`` metrics).
        callbacks: more Keras callbacks for every epoch's ``fit``.
        on_epoch_begin: called with the epoch number before its batches are made.
        on_epoch_end: called with the epoch's record, which it may extend.

    Returns:
        one record per epoch run: ``{"epoch": e + 1, "beta": β at the end of
        the epoch (with a schedule), then the last value of each metric
        ``fit`` reported}`` (e.g. ``loss``, ``val_loss``; nats per image for
        a VAE), plus what ``on_epoch_end`` added.

    Introduced in chapter 5.
    """
    epochs = check_positive_int(epochs, "epochs")
    initial_epoch = check_int(initial_epoch, "initial_epoch")
    records = []
    for epoch in range(initial_epoch, epochs):
        if on_epoch_begin is not None:
            on_epoch_begin(epoch)
        dataset = batches(epoch)
        epoch_callbacks = list(callbacks)
        if schedule is not None:
            steps = int(dataset.cardinality())
            if steps < 1:
                raise ValueError("a β schedule needs batches whose length is known (a finite tf.data pipeline)")
            epoch_callbacks.append(BetaScheduler(schedule, steps, epoch))
        fitted = model.fit(dataset, epochs=epoch + 1, initial_epoch=epoch, validation_data=validation,
                           callbacks=epoch_callbacks, verbose=0, shuffle=False)
        record = {"epoch": epoch + 1}
        if schedule is not None:
            record["beta"] = float(model.beta.numpy())
        record.update({key: float(values[-1]) for key, values in fitted.history.items()})
        if on_epoch_end is not None:
            on_epoch_end(record)
        records.append(record)
    return records


# -- configuration -------------------------------------------------------------------
LEARNING_RATE_SCHEDULES = defaults.LEARNING_RATE_SCHEDULES
PRECISIONS = defaults.PRECISIONS
FINAL_LEARNING_RATE_FRACTION = defaults.FINAL_LEARNING_RATE_FRACTION  # where the cosine schedule ends
_DEFAULT = defaults.TRAINING

@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (recorded in its manifest).

    The defaults are :data:`vae.defaults.TRAINING`, which ``python -m vae
    train`` shows too.

    Attributes:
        architecture: "conv" or "mlp".
        latent_dim: size of z.
        model_options: extra constructor arguments (filters, hidden, activation).
        epochs: passes over the training digits (the 60,000 of MNIST by default).
        batch_size: images per gradient step.
        learning_rate: Adam's step size.
        beta: final weight of the KL term.
        kl_warmup_epochs: epochs of linear KL annealing from 0 to beta (0 = none).
        seed: seeds the weights, the shuffling, the binarization and the noise.
        learning_rate_schedule: "constant", or "cosine" (decay from
            ``learning_rate`` to 1 % of it over all ``epochs``, batch by batch).
        precision: "float32", or "mixed_bfloat16" (layers compute in
            bfloat16, weights and losses stay float32; faster on CPUs and GPUs
            with bfloat16 units). The checkpoint holds float32 weights either
            way and is evaluated in float32.
        init_from: a VAE checkpoint folder to start from instead of random
            weights (e.g. ``vae/checkpoints/conv``, to fine-tune it with a
            VampPrior), or None. Its model must have the same architecture,
            sizes and decoder; a VampPrior it lacks starts its pseudo-inputs
            at training digits; the optimizer starts fresh. The manifest's
            ``initialised_from`` records the folder and its weights' SHA-256
            (chapter 11).

    Introduced in chapter 5.
    """

    architecture: str = _DEFAULT["architecture"]
    latent_dim: int = _DEFAULT["latent_dim"]
    model_options: dict = dataclasses.field(default_factory=dict)
    epochs: int = _DEFAULT["epochs"]
    batch_size: int = _DEFAULT["batch_size"]
    learning_rate: float = _DEFAULT["learning_rate"]
    beta: float = _DEFAULT["beta"]
    kl_warmup_epochs: float = _DEFAULT["kl_warmup_epochs"]
    seed: int = _DEFAULT["seed"]
    learning_rate_schedule: str = _DEFAULT["learning_rate_schedule"]
    precision: str = _DEFAULT["precision"]
    init_from: str | None = None

    def __post_init__(self):
        for name, minimum in (("latent_dim", 1), ("epochs", 1), ("batch_size", 1), ("seed", 0)):
            object.__setattr__(self, name, check_int(getattr(self, name), name, minimum))
        check_number(self.beta, "beta")
        check_number(self.kl_warmup_epochs, "kl_warmup_epochs")
        check_number(self.learning_rate, "learning_rate", strict=True)
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.init_from is not None and not isinstance(self.init_from, str):
            raise ValueError(f"init_from must be a folder name (str) or None, got {self.init_from!r}")
        if self.learning_rate_schedule not in LEARNING_RATE_SCHEDULES:
            raise ValueError(f"learning_rate_schedule must be one of {LEARNING_RATE_SCHEDULES}, "
                             f"got {self.learning_rate_schedule!r}")

    def model_config(self) -> dict:
        return {"architecture": self.architecture, "latent_dim": self.latent_dim,
                "seed": self.seed, **self.model_options}

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def new_model(config: TrainConfig, steps_per_epoch: int | None = None,
              strategy: tf.distribute.Strategy | None = None) -> VAE:
    """A freshly initialized, compiled model for ``config``.

    The initial weights depend only on ``config.seed``: this reseeds Python's,
    NumPy's and TensorFlow's global generators with it (as
    ``keras.utils.set_random_seed`` does), which also affects any random draw
    the caller makes afterwards.

    Args:
        config: the run's :class:`TrainConfig`.
        steps_per_epoch: batches per epoch, which sets the length of a cosine
            learning-rate schedule (default: the MNIST training digits,
            :data:`vae.data.SPLIT_SIZES` ``["train"]``, at ``config.batch_size``).
        strategy: an optional ``tf.distribute`` strategy (e.g.
            ``MirroredStrategy`` over several GPUs); the model and its
            optimizer are created in its scope, so ``fit`` splits every batch
            across its replicas.

    Introduced in chapter 5.
    """
    keras.utils.set_random_seed(config.seed)
    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(config.precision)  # layers take the policy when built
    try:
        with (strategy or tf.distribute.get_strategy()).scope():
            model = build_model(config.model_config())
            steps = steps_per_epoch or _steps_per_epoch(data.SPLIT_SIZES["train"], config.batch_size)
            model.compile(optimizer=keras.optimizers.Adam(learning_rate_schedule(
                config.learning_rate_schedule, config.learning_rate, config.epochs, steps)))
            model.optimizer.build(model.trainable_variables)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    return model


def _steps_per_epoch(images: int, batch_size: int) -> int:
    """Batches in one epoch of ``images`` digits: the last, smaller batch counts."""
    return -(-images // batch_size)


def learning_rate_schedule(name: str, learning_rate: float, epochs: int, steps_per_epoch: int):
    """Adam's step size: a number (``name="constant"``), or a cosine decay over the run's steps.

    The cosine schedule ends at ``FINAL_LEARNING_RATE_FRACTION`` of
    ``learning_rate`` after ``epochs * steps_per_epoch`` steps. It reads the
    optimizer's own step counter, which the resume state saves, so a resumed
    run continues the same curve.

    Introduced in chapter 5.
    """
    if name not in LEARNING_RATE_SCHEDULES:
        raise ValueError(f"learning_rate_schedule must be one of {LEARNING_RATE_SCHEDULES}, got {name!r}")
    if name == "constant":
        return learning_rate
    total_steps = epochs * check_positive_int(steps_per_epoch, "steps_per_epoch")
    return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=total_steps,
                                                  alpha=FINAL_LEARNING_RATE_FRACTION)


def beta_schedule(config: TrainConfig) -> BetaSchedule:
    """The β schedule a config asks for. Introduced in chapter 8."""
    return linear_kl_warmup(config.kl_warmup_epochs, config.beta)


# -- the training run ----------------------------------------------------------------
def versions() -> dict:
    """Versions of the software a result depends on. Introduced in chapter 5."""
    from vae import __version__

    return {"python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "numpy": np.__version__, "vae": __version__}


def train(config: TrainConfig, run_dir, train_images=None, test_images=None,
          command: str | None = None, export_dir=None, progress: Callable[[dict], None] | None = None,
          strategy: tf.distribute.Strategy | None = None) -> tuple[VAE, dict]:
    """Train (or resume) a model and write its checkpoint into ``run_dir``.

    Args:
        config: the run's :class:`TrainConfig`.
        run_dir: folder for the resume state and the final checkpoint. A
            folder holding a run with a different config is refused.
        train_images: grey training images ``(N, 28, 28, 1)`` in [0, 1];
            default the 60,000 MNIST training digits (binarized afresh each epoch).
        test_images: binary validation images; default the fixed binarized
            MNIST test set.
        command: the command line to record in the manifest.
        export_dir: where to write the final checkpoint (default ``run_dir``),
            e.g. ``vae/checkpoints/NAME`` to ship it.
        progress: called after each epoch with that epoch's record.
        strategy: an optional ``tf.distribute`` strategy to train under (see
            :func:`new_model`). ``batch_size`` stays the global batch, split
            evenly across the replicas; the manifest records the strategy.

    With ``config.init_from`` a new run starts from that checkpoint's
    weights (:func:`_initialise_from`); a resumed run starts from its resume
    state and does not read the checkpoint again
    (:func:`vae._resumable.initialise_once`).

    Returns:
        ``(model, manifest)``; the checkpoint is ``model.weights.h5`` with
        ``manifest.json`` in ``export_dir`` (default ``run_dir``). The
        manifest's ``initialised_from`` is None, or ``{"checkpoint" (the
        folder as given), "weights_sha256" (its weights' digest), "kept_fresh"
        (the weights it lacked that keep their random start), and for a
        VampPrior started at training digits "pseudo_inputs_from" (which)}``.

    Introduced in chapter 5.
    """
    from vae._resumable import claim_run_dir, fit_resumably, initialise_once, run_summary

    older_defaults = {"learning_rate_schedule": "constant", "precision": "float32", "init_from": None}
    run_dir = claim_run_dir(run_dir, "train_config.json", config, older_defaults, record=False)
    uses_mnist = train_images is None
    if train_images is None:
        train_images, _ = data.load_mnist("train")
    if test_images is None:
        test_images, _ = data.binarized_test_set()
    model = new_model(config, _steps_per_epoch(len(train_images), config.batch_size), strategy)
    initial = initialise_once(model, run_dir, config.init_from,
                              lambda fresh, directory: _initialise_from(fresh, directory, train_images, config.seed))
    claim_run_dir(run_dir, "train_config.json", config, older_defaults)
    pixels = tf.constant(np.asarray(train_images, dtype=np.float32))  # one copy shared by every epoch

    def measure(record: dict) -> None:
        if getattr(model, "decoder_name", None) == "pixelcnn":  # is z used? (posterior collapse, chapter 11)
            from vae.pixelcnn import kl_per_unit

            record["val_kl_per_unit"] = [round(value, 4) for value in kl_per_unit(model, test_images)]

    state = fit_resumably(
        model, run_dir, lambda epoch: data.training_batches(pixels, config.batch_size, epoch=epoch, seed=config.seed),
        config.epochs, data.evaluation_batches(test_images, batch_size=500),
        checkpoint.save_weights_atomic, checkpoint.load_weights_into,
        schedule=beta_schedule(config), measure=measure, progress=progress)
    manifest = {
        "command": command,
        "train_config": config.as_dict(),
        "initialised_from": initial,
        "data": {"train": "MNIST training digits, dynamically binarized" if uses_mnist else "caller-supplied",
                 "train_sha256": data.MNIST_SHA256["x_train"] if uses_mnist else _array_sha256(train_images),
                 "test_binarization_seed": data.TEST_BINARIZATION_SEED if uses_mnist else None,
                 "train_images": int(len(train_images))},
        "distribution": _distribution_record(strategy),
        **run_summary(state, len(train_images)),
    }
    manifest = checkpoint.save_checkpoint(model, export_dir or run_dir, manifest)
    return model, manifest


# -- starting from a checkpoint -------------------------------------------------------
_NOT_SHAPING_WEIGHTS = ("seed", "prior", "pseudo_inputs", "free_bits")
"""Model options that shape no encoder or decoder weight: they may differ from the starting checkpoint's."""


def _initialise_from(model: VAE, directory: str, train_images=None, seed: int = 0) -> dict:
    """Copy the weights of the (verified) VAE checkpoint ``directory`` into ``model``; what the manifest records.

    The encoder's and the decoder's weights (and a Ladder VAE's top-down
    layers') are copied one by one in order; a learned prior's weights (a
    VampPrior's pseudo-input logits) are copied when the checkpoint has
    them. When it has none, a VampPrior's pseudo-inputs start at ``K``
    training digits drawn with ``seed`` from ``train_images`` (grey,
    ``(N, 28, 28, 1)``; :meth:`vae.vampprior.VampPrior.set_pseudo_inputs`),
    as chapter 11 starts its own: from random logits, pixels near 0.5, a
    fine-tuning run's small steps would barely move them. Nothing is copied
    unless everything fits.

    Raises:
        ValueError: the checkpoint's model has another architecture, size or
            decoder (the differing options are named), a prior with weights
            this run's lacks, or a weight of another shape (the first one is
            named).
    """
    source, manifest = checkpoint.load_checkpoint(directory)
    omitted = {"decoder": defaults.DECODERS[0], "prior": "standard"}  # what get_config leaves out at its default
    theirs, ours = ({**omitted, **m.get_config()} for m in (source, model))
    differing = [key for key in sorted({*theirs, *ours} - set(_NOT_SHAPING_WEIGHTS))
                 if theirs.get(key) != ours.get(key)]
    if differing:
        raise ValueError(f"{directory} holds another model than this run's: "
                         + "; ".join(f"{key} {theirs.get(key)!r} there, {ours.get(key)!r} here" for key in differing)
                         + " (init_from needs the same architecture, sizes and decoder)")
    source_body, source_prior = _named_weights(source)
    body, prior = _named_weights(model)
    if source_prior and not prior:
        raise ValueError(f"{directory} holds a model whose prior has weights "
                         f"({', '.join(name for name, _ in source_prior)}) that this run's prior "
                         f"({ours['prior']}) lacks; train with the same prior")
    pairs = _matching_pairs(source_body + source_prior, body + (prior if source_prior else []), directory)
    for theirs_weight, our_weight in pairs:
        our_weight.assign(theirs_weight.numpy())
    started_at_digits = None
    if prior and not source_prior and hasattr(model.prior, "set_pseudo_inputs") and train_images is not None:
        count = model.prior.pseudo_input_count
        chosen = np.sort(np.random.default_rng(seed).choice(len(train_images), count, replace=False))
        model.prior.set_pseudo_inputs(np.asarray(train_images)[chosen])
        started_at_digits = f"{count} training digits, numpy.random.default_rng({seed}).choice(N, {count})"
    return {"checkpoint": str(directory), "weights_sha256": manifest["weights_sha256"],
            "kept_fresh": [] if source_prior or started_at_digits else [name for name, _ in prior],
            **({"pseudo_inputs_from": started_at_digits} if started_at_digits else {})}


def _named_weights(model: VAE) -> tuple[list, list]:
    """``(body, prior)``: the model's weights but β as ``(name, variable)``, the prior's apart.

    A name is the top-level part that holds the weight and the weight's own
    path, e.g. ``encoder/conv1/kernel``.
    """
    owner: dict = {}
    for layer in model.layers:
        for weight in layer.weights:
            owner.setdefault(id(weight), layer.name)
    prior_ids = {id(w) for w in model.prior.weights} if isinstance(model.prior, keras.layers.Layer) else set()
    body, prior = [], []
    for weight in model.weights:
        if weight is model.beta:
            continue
        part = owner.get(id(weight), model.name)
        name = weight.path if weight.path.startswith(part + "/") else f"{part}/{weight.path}"
        (prior if id(weight) in prior_ids else body).append((name, weight))
    return body, prior


def _matching_pairs(source: list, target: list, directory) -> list:
    """Pair the checkpoint's weights with the run's in order; refuse, naming the first weight whose shape differs."""
    for index in range(max(len(source), len(target))):
        theirs = source[index] if index < len(source) else None
        ours = target[index] if index < len(target) else None
        if theirs is None or ours is None or tuple(theirs[1].shape) != tuple(ours[1].shape):
            there = f"{theirs[0]} {tuple(theirs[1].shape)}" if theirs else "nothing"
            here = f"{ours[0]} {tuple(ours[1].shape)}" if ours else "nothing"
            raise ValueError(f"{directory} does not fit this run's model: weight {index + 1} is {there} "
                             f"there and {here} here")
    return [(theirs[1], ours[1]) for theirs, ours in zip(source, target)]


def _distribution_record(strategy: tf.distribute.Strategy | None) -> dict:
    """What the manifest says about the devices a run used."""
    if strategy is None:
        return {"strategy": None, "replicas": 1}
    return {"strategy": type(strategy).__name__, "replicas": int(strategy.num_replicas_in_sync),
            "devices": list(strategy.extended.worker_devices)}


def _array_sha256(array) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def command_line(argv: list[str] | None = None) -> str:
    """``python -m vae`` followed by ``argv`` (default: this process's arguments), quoted as a shell would need.

    This is the command recorded in a manifest. Introduced in chapter 5.
    """
    arguments = sys.argv[1:] if argv is None else argv
    return " ".join(["python -m vae", *(shlex.quote(str(a)) for a in arguments)])

"""Rate and distortion: the two halves of the ELBO, and a β sweep that trades them.

Alemi et al. (2018) read the negative ELBO of an image as the sum of two
costs, both in nats per image:

- the *rate* ``R = KL(q(z|x) || p(z))``, what the code costs;
- the *distortion* ``D = -E_{q(z|x)} log p(x|z)``, what the reconstruction
  still gets wrong.

``-ELBO = D + R``; a β-VAE minimizes ``D + β R`` instead, and each β picks
another point of the trade-off. :func:`beta_sweep` trains one model per β on
the same data with the same seed, measures ``R`` and ``D`` on the same fixed
test images, and :func:`plot_rate_distortion` draws the curve.
:func:`optimise_posterior` asks what the rate and distortion of each image
would be with the best Gaussian posterior rather than the encoder's
(chapter 12, the amortization gap).

Introduced in chapter 8.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterable

import numpy as np
import tensorflow as tf

from vae import data, losses
from vae.checks import check_images, check_int, check_number, check_positive_int
from vae.seeding import stateless_seed
from vae.evaluation import active_units
from vae.models import VAE
from vae.training import TrainConfig, beta_schedule, fit_epochs, new_model


_DRAWS_PER_BATCH = 1000  # rate_and_distortion's seed stride between batches (see its docstring)


@dataclasses.dataclass(frozen=True)
class RateDistortionPoint:
    """One trained model's place on the rate-distortion plane (means over test images).

    Attributes:
        beta: the weight of the KL term the model was trained with.
        rate_nats: mean ``KL(q(z|x) || p(z))``, nats per image.
        distortion_nats: mean ``-E_q log p(x|z)``, nats per image.
        elbo: mean ELBO with β = 1, ``-(rate_nats + distortion_nats)``, nats per image.
        active_units: latent dimensions with ``Cov_x(E_q[u]) > 0.01`` (Burda et al.).
        latent_dim: size of z.
        n_images: test images the means are over.

    Introduced in chapter 8.
    """

    beta: float
    rate_nats: float
    distortion_nats: float
    elbo: float
    active_units: int
    latent_dim: int
    n_images: int

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def check_betas(betas: Iterable) -> list[float]:
    """The βs as a list of floats; a ``ValueError`` for an empty list or a bad value.

    Every β must be a finite real number >= 0 (not a bool, not a string).

    Introduced in chapter 8.
    """
    values = list(betas) if not isinstance(betas, (str, bytes)) else [betas]
    if not values:
        raise ValueError("betas must hold at least one value")
    return [check_number(beta, "every beta") for beta in values]


def rate_and_distortion(model: VAE, images, samples: int = 1, seed: int = 0,
                        batch_size: int = 500, posterior=None) -> tuple[float, float]:
    """Mean rate and distortion of ``model`` on ``images``, in nats per image.

    The rate is the closed-form ``KL(q(z|x) || N(0, I))``; the distortion
    ``-E_q log p(x|z)`` is estimated with ``samples`` reparameterized draws
    per image. Seeds are fixed (batch ``b``, draw ``s`` uses seed
    ``seed + 1000 * b + s``), so the same model and images give the same
    numbers. That additive derivation is older than
    :func:`vae.seeding.stateless_seed` and is kept because chapters 8 and 10
    print figures computed with it; to keep the draws of one call distinct,
    ``samples`` is at most 1000. (Calls with neighbouring seeds share draws:
    compare models with the same seed.)

    Args:
        model: a :class:`vae.models.VAE`.
        images: binary images ``(N, 28, 28, 1)``, e.g. ``vae.data.binarized_test_set(1000)[0]``.
        samples: draws of z per image for the distortion (1 to 1000).
        seed: base seed of the draws, an int >= 0.
        batch_size: images per batch.
        posterior: optional ``(mean, log_var)``, each ``(N, latent_dim)``, to
            use instead of the encoder's output (e.g. from
            :func:`optimise_posterior`); ``None`` uses ``model.encode``.

    Returns:
        ``(rate_nats, distortion_nats)``, two floats.

    Introduced in chapter 8.
    """
    images = check_images(images)
    samples = check_int(samples, "samples", minimum=1, maximum=_DRAWS_PER_BATCH)
    seed = check_int(seed, "seed")
    batch_size = check_positive_int(batch_size, "batch_size")
    if posterior is not None:
        posterior = _check_posterior(posterior, int(images.shape[0]), model.latent_dim)
    rates, distortions = [], []
    for batch_index, start in enumerate(range(0, int(images.shape[0]), batch_size)):
        batch = images[start:start + batch_size]
        if posterior is None:
            mean, log_var = model.encode(batch)
        else:
            mean, log_var = (part[start:start + batch_size] for part in posterior)
        log_likelihood = 0.0
        for draw in range(samples):
            z = model.reparameterize(mean, log_var, seed=seed + _DRAWS_PER_BATCH * batch_index + draw)
            log_likelihood += losses.bernoulli_log_likelihood(batch, model.decode(z)).numpy()
            if draw == 0:
                rates.append(model.prior.kl(mean, log_var, z).numpy())
        distortions.append(-log_likelihood / samples)
    return float(np.mean(np.concatenate(rates))), float(np.mean(np.concatenate(distortions)))


def _check_posterior(posterior, count: int, latent_dim: int) -> tuple[tf.Tensor, tf.Tensor]:
    """``(mean, log_var)`` as float32 tensors of shape ``(count, latent_dim)``, else a ValueError."""
    try:
        mean, log_var = posterior
    except (TypeError, ValueError):
        raise ValueError("posterior must be a pair (mean, log_var)") from None
    parts = []
    for name, part in (("mean", mean), ("log_var", log_var)):
        array = np.asarray(part, dtype=np.float32)
        if array.shape != (count, latent_dim):
            raise ValueError(f"posterior {name} must have shape {(count, latent_dim)}, got {array.shape}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"posterior {name} holds NaN or infinite values")
        parts.append(tf.constant(array))
    return parts[0], parts[1]


def optimise_posterior(model: VAE, images, steps: int = 100, samples: int = 8, learning_rate: float = 0.05,
                       beta: float = 1.0, seed: int = 0, initial=None) -> tuple[np.ndarray, np.ndarray]:
    """Fit a separate Gaussian q(z|x) to each image, with the model's weights frozen.

    The encoder maps every image to its posterior in one forward pass
    (*amortized* inference); here instead each image gets its own free
    parameters ``(mean, log_var)``, improved by Adam to minimize that
    image's ``D + beta * R`` (the negative ELBO when ``beta == 1``), with
    ``samples`` reparameterized draws per step. The gain over the encoder is
    an estimate of the *amortization gap* of Cremer, Li and Duvenaud (2018).
    The model's weights are not changed.

    Args:
        model: a :class:`vae.models.VAE`.
        images: binary images ``(N, 28, 28, 1)`` (all optimized at once; keep N modest).
        steps: Adam steps (>= 1).
        samples: draws of z per image and step (>= 1).
        learning_rate: Adam's step size (> 0).
        beta: weight of the rate, a finite number >= 0.
        seed: step ``t`` draws its noise with the stateless seed ``(seed, t)``.
        initial: optional starting ``(mean, log_var)``, each ``(N, latent_dim)``;
            default the encoder's output.

    Returns:
        ``(mean, log_var)``: NumPy ``float32`` arrays ``(N, latent_dim)``.

    Introduced in chapter 12.
    """
    import keras

    images = check_images(images)
    steps = check_positive_int(steps, "steps")
    samples = check_positive_int(samples, "samples")
    beta = check_number(beta, "beta")
    check_number(learning_rate, "learning_rate", strict=True)
    count = int(images.shape[0])
    start = model.encode(images) if initial is None else initial
    start_mean, start_log_var = _check_posterior(start, count, model.latent_dim)
    mean = tf.Variable(start_mean, name="local_mean")
    log_var = tf.Variable(start_log_var, name="local_log_var")
    optimizer = keras.optimizers.Adam(learning_rate)
    optimizer.build([mean, log_var])
    tiled = tf.tile(images, [samples, 1, 1, 1])  # (samples * N, 28, 28, 1)

    @tf.function(reduce_retracing=True)
    def step(step_seed):
        with tf.GradientTape() as tape:
            eps = tf.random.stateless_normal(tf.concat([[samples], tf.shape(mean)], 0), seed=step_seed)
            z = tf.reshape(mean + tf.exp(0.5 * log_var) * eps, [-1, model.latent_dim])
            log_likelihood = losses.bernoulli_log_likelihood(tiled, model.decode(z))
            distortion = -tf.reduce_mean(tf.reshape(log_likelihood, [samples, count]), axis=0)
            rate = model.prior.kl(mean, log_var, tf.reshape(z, [samples, count, -1])[0])
            loss = tf.reduce_sum(distortion + beta * rate)  # a sum: each image's gradient is its own
        optimizer.apply_gradients(zip(tape.gradient(loss, [mean, log_var]), [mean, log_var]))

    for t in range(steps):
        step(stateless_seed(seed, t))
    return mean.numpy(), log_var.numpy()


class _GivenPosterior:
    """A model whose encoder is replaced by fixed per-image posteriors (for importance sampling)."""

    def __init__(self, model: VAE, mean: tf.Tensor, log_var: tf.Tensor):
        self.model, self.mean, self.log_var = model, mean, log_var
        self.latent_dim, self.prior = model.latent_dim, model.prior

    def encode(self, x):
        return self.mean, self.log_var

    def decode(self, z):
        return self.model.decode(z)


def nll_estimate(model: VAE, images, k: int = 500, posterior=None, seed: int = 0, chunk_size: int = 250) -> float:
    """Mean negative log-likelihood estimate ``-iwae_bound(k)`` over ``images``, in nats per image.

    The importance-weighted bound of :func:`vae.losses.iwae_bound`, with
    either the encoder's posteriors as the proposal (``posterior=None``) or
    given per-image posteriors, e.g. those of :func:`optimise_posterior`. A
    better proposal gives a tighter (lower) estimate for the same ``k``; every
    proposal gives an upper bound on the true NLL in expectation.

    Args:
        model: a :class:`vae.models.VAE`.
        images: binary images ``(N, 28, 28, 1)``, all processed in one batch.
        k: importance samples per image (>= 1).
        posterior: optional ``(mean, log_var)``, each ``(N, latent_dim)``.
        seed: seed of the importance samples.
        chunk_size: samples drawn at once.

    Returns:
        the mean estimate, a float (nats per image).

    Introduced in chapter 12.
    """
    images = check_images(images)
    if posterior is not None:
        model = _GivenPosterior(model, *_check_posterior(posterior, int(images.shape[0]), model.latent_dim))
    bound = losses.iwae_bound(model, images, check_positive_int(k, "k"), chunk_size=chunk_size, seed=seed)
    return float(-tf.reduce_mean(bound))


def evaluate_point(model: VAE, beta: float, images, samples: int = 1, seed: int = 0) -> RateDistortionPoint:
    """Measure a trained model on ``images`` as a :class:`RateDistortionPoint`.

    Args:
        model: a :class:`vae.models.VAE` trained with weight ``beta`` on the KL.
        beta: recorded with the point (it does not change the measurement).
        images: binary images ``(N, 28, 28, 1)``.
        samples, seed: see :func:`rate_and_distortion`.

    Introduced in chapter 8.
    """
    beta = check_number(beta, "beta")
    rate, distortion = rate_and_distortion(model, images, samples=samples, seed=seed)
    return RateDistortionPoint(beta=beta, rate_nats=rate, distortion_nats=distortion,
                               elbo=-(rate + distortion), active_units=active_units(model, images),
                               latent_dim=model.latent_dim, n_images=int(len(images)))


def train_in_memory(config: TrainConfig, train_images, test_images=None,
                    samples: int = 1) -> tuple[VAE, list[dict]]:
    """Train a fresh model for ``config`` without writing anything to disk.

    A short, in-memory version of :func:`vae.training.train` for live runs in
    a chapter: the same seeded model, the same epoch loop
    (:func:`vae.training.fit_epochs`), per-epoch shuffling and dynamic
    binarization (:func:`vae.data.training_batches`) and β schedule
    (``config.beta`` with ``config.kl_warmup_epochs`` of linear warm-up), but
    no checkpoints and no resume; the per-epoch test measurement is its
    ``on_epoch_end`` callback.

    Args:
        config: the run's :class:`vae.training.TrainConfig`.
        train_images: grey training images ``(N, 28, 28, 1)`` in [0, 1].
        test_images: optional binary images; if given, every epoch's record
            also holds ``test_rate_nats``, ``test_distortion_nats`` and
            ``active_units`` measured on them.
        samples: draws of z per test image for the distortion.

    Returns:
        ``(model, history)``: history is one dict per epoch with ``epoch``,
        ``beta`` (at the end of the epoch), and the training means ``loss``,
        ``reconstruction`` and ``kl`` (nats per image).

    Introduced in chapter 8.
    """
    model = new_model(config)
    pixels = check_images(train_images, batch_axis="N", allow_empty=False)  # one tensor for every epoch

    def measure(record: dict) -> None:
        if test_images is not None:
            rate, distortion = rate_and_distortion(model, test_images, samples=samples)
            record.update(test_rate_nats=rate, test_distortion_nats=distortion,
                          active_units=active_units(model, test_images))

    history = fit_epochs(model, lambda epoch: data.training_batches(pixels, config.batch_size, epoch=epoch,
                                                                    seed=config.seed),
                         config.epochs, schedule=beta_schedule(config), on_epoch_end=measure)
    return model, history


def beta_sweep(betas: Iterable[float], config: TrainConfig, train_images, test_images, samples: int = 1,
               on_model: Callable[[float, VAE], None] | None = None) -> list[RateDistortionPoint]:
    """Train one model per β and place each on the rate-distortion plane.

    Every model has the same architecture, seed, data, epochs and warm-up
    (all from ``config``); only ``config.beta`` is replaced by each β in
    turn. Each is measured on the same ``test_images`` with the same seeds.

    Args:
        betas: the weights of the KL term, each a finite number >= 0; all are
            checked before any training starts.
        config: a :class:`vae.training.TrainConfig` (its ``beta`` is ignored).
        train_images: grey training images ``(N, 28, 28, 1)`` in [0, 1].
        test_images: binary test images ``(M, 28, 28, 1)``.
        samples: draws of z per test image for the distortion.
        on_model: called as ``on_model(beta, model)`` after each model is
            trained, e.g. to keep some of them for figures.

    Returns:
        one :class:`RateDistortionPoint` per β, in the order given.

    Raises:
        ValueError: ``betas`` is empty or holds a negative, infinite, NaN or
            non-numeric value.

    Introduced in chapter 8.
    """
    betas = check_betas(betas)
    test_images = check_images(test_images)
    points = []
    for beta in betas:
        model, _ = train_in_memory(dataclasses.replace(config, beta=beta), train_images)
        points.append(evaluate_point(model, beta, test_images, samples=samples))
        if on_model is not None:
            on_model(beta, model)
    return points


def plot_rate_distortion(points: list[RateDistortionPoint], ax=None, reference_beta: float = 1.0,
                         title: str | None = "Rate-distortion trade-off of a β sweep"):
    """Draw distortion against rate, one labelled point per β.

    A dashed line ``rate + distortion = const`` (slope -1) passes through the
    point whose β is ``reference_beta`` (if there is one): every point on it
    has the same ELBO, points above it a worse one.

    Args:
        points: from :func:`beta_sweep`.
        ax: matplotlib Axes (a new figure if None).
        reference_beta: β of the point the equal-ELBO line goes through
            (``None`` draws no line).
        title: the Axes title.

    Returns:
        the matplotlib ``Axes``.

    Introduced in chapter 8.
    """
    import matplotlib.pyplot as plt

    if not points:
        raise ValueError("points must hold at least one RateDistortionPoint")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4.5))
    ordered = sorted(points, key=lambda p: p.beta)
    rates = [p.rate_nats for p in ordered]
    distortions = [p.distortion_nats for p in ordered]
    ax.plot(rates, distortions, "-", color="0.6", zorder=1)
    ax.scatter(rates, distortions, color="C0", zorder=2)
    for point in ordered:
        ax.annotate(f"β={point.beta:g}", (point.rate_nats, point.distortion_nats), textcoords="offset points",
                    xytext=(6, 4), fontsize=9)
    reference = [p for p in ordered if reference_beta is not None and p.beta == reference_beta]
    if reference:
        total = reference[0].rate_nats + reference[0].distortion_nats
        low, high = min(rates), max(rates)
        span = np.array([low - 0.05 * (high - low + 1), high + 0.05 * (high - low + 1)])
        ax.plot(span, total - span, "--", color="C3", zorder=0,
                label=f"rate + distortion = {total:.1f} nats (-ELBO at β={reference_beta:g})")
        ax.legend(loc="upper right")
    ax.set_xlabel("rate  KL(q(z|x) || p(z))  [nats per image]")
    ax.set_ylabel("distortion  -E log p(x|z)  [nats per image]")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    return ax

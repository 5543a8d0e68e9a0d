"""How good is a model? Test ELBO, importance-weighted log-likelihood, active units.

Numbers are per image in nats unless the name says bits. The negative
log-likelihood (NLL) is estimated with the importance-weighted bound of Burda,
Grosse and Salakhutdinov (2016): ``-iwae_bound(k)`` is an upper bound on the
true NLL in expectation, tightening as ``k`` grows (they use k = 5000).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np
import tensorflow as tf

from vae import losses
from vae.checks import check_images, check_positive_int

ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al.: a unit is active if Cov_x(E_q[u]) > 0.01


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Test-set figures of one model (means over images; nats unless bits).

    Attributes:
        n_images: images evaluated.
        k: importance samples per image for the NLL.
        elbo: mean ELBO (one sample per image, closed-form KL).
        reconstruction: mean ``-E_q log p(x|z)`` (one sample).
        kl: mean ``KL(q(z|x) || p(z))``.
        nll: mean ``-iwae_bound(k)``, the negative log-likelihood estimate.
        nll_stderr: its standard error over images (sample std / sqrt(n)).
        nll_bits_per_dim: ``nll`` in bits per pixel.
        active_units: latent dimensions with ``Cov_x(E_q[u]) > 0.01``.
        latent_dim: size of z.

    Introduced in chapter 6.
    """

    n_images: int
    k: int
    elbo: float
    reconstruction: float
    kl: float
    nll: float
    nll_stderr: float
    nll_bits_per_dim: float
    active_units: int
    latent_dim: int

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def active_units(model, images, batch_size: int = 500, threshold: float = ACTIVE_UNIT_THRESHOLD) -> int:
    """Count latent dimensions whose posterior mean varies across the data.

    Burda et al. (2016): unit u is active if ``Cov_x(E_{q(z|x)}[u]) > threshold``.

    Args:
        model: a :class:`vae.models.VAE`.
        images: ``(N, 28, 28, 1)`` in [0, 1].

    Returns:
        the number of active units, between 0 and ``latent_dim``.

    Introduced in chapter 6.
    """
    means = np.concatenate([model.encode(batch)[0].numpy() for batch in _batches(images, batch_size)])
    return int(np.sum(np.var(means, axis=0) > threshold))


def _batches(images, batch_size: int):
    images = check_images(images)
    batch_size = check_positive_int(batch_size, "batch_size")
    for start in range(0, int(images.shape[0]), batch_size):
        yield images[start:start + batch_size]


def evaluate(model, images, k: int = 5000, batch_size: int = 50, chunk_size: int = 100, seed: int = 0,
             progress: Callable[[int], None] | None = None) -> Evaluation:
    """Evaluate a model on binary test images.

    Args:
        model: a :class:`vae.models.VAE`.
        images: binary images ``(N, 28, 28, 1)``, e.g. ``vae.data.binarized_test_set()[0]``.
        k: importance samples per image (5000 as in Burda et al.; small k for a quick check).
        batch_size: images per batch.
        chunk_size: importance samples drawn at once; memory grows with
            ``batch_size * chunk_size`` decoded codes (see :func:`vae.losses.iwae_bound`).
        seed: makes the estimate repeatable; batch ``b`` uses seed ``seed + b``.
        progress: called with the number of images done after each batch.

    Returns:
        an :class:`Evaluation`.

    Introduced in chapter 6.
    """
    k = check_positive_int(k, "k")
    bound = tf.function(lambda x, s: losses.iwae_bound(model, x, k, chunk_size=chunk_size, seed=s),
                        reduce_retracing=True)
    terms_fn = tf.function(lambda x, s: losses.elbo_terms(model, x, seed=s), reduce_retracing=True)
    log_likelihood, kl, log_px = [], [], []
    for batch_index, batch in enumerate(_batches(images, batch_size)):
        terms = terms_fn(batch, tf.constant(seed + batch_index, tf.int64))
        log_likelihood.append(terms["log_likelihood"].numpy())
        kl.append(terms["kl"].numpy())
        log_px.append(bound(batch, tf.constant(seed + batch_index, tf.int64)).numpy())
        if progress is not None:
            progress(int(batch.shape[0]))
    log_likelihood, kl, nll = np.concatenate(log_likelihood), np.concatenate(kl), -np.concatenate(log_px)
    n = len(nll)
    stderr = float(np.std(nll, ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    return Evaluation(
        n_images=n, k=k, elbo=float(np.mean(log_likelihood - kl)),
        reconstruction=float(-np.mean(log_likelihood)), kl=float(np.mean(kl)),
        nll=float(np.mean(nll)), nll_stderr=stderr,
        nll_bits_per_dim=float(losses.nats_to_bits_per_dim(np.mean(nll))),
        active_units=active_units(model, images), latent_dim=model.latent_dim)

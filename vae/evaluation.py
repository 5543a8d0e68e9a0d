"""How good is a model? Test ELBO, importance-weighted log-likelihood, active units.

Numbers are per image in nats unless the name says bits. The negative
log-likelihood (NLL) is estimated with the importance-weighted bound of Burda,
Grosse and Salakhutdinov (2016): ``-iwae_bound(k)`` is an upper bound on the
true NLL in expectation, tightening as ``k`` grows (they use k = 5000).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import tensorflow as tf

from vae import defaults, losses
from vae.checkpoint import atomic_path
from vae.checks import check_images, check_int, check_positive_int
from vae.latent import ACTIVE_UNIT_THRESHOLD, encode_means

DEFAULT_CHUNK_SIZE = defaults.EVALUATION["chunk_size"]  # importance samples decoded at once by evaluate()
SEED_LIMIT = defaults.EVALUATION_SEED_LIMIT  # evaluate()'s seeds: seed * 2**32 + batch must fit in an int64
_BATCH_SEED_STRIDE = 2**32


def _batch_seed(seed: int, batch_index: int) -> int:
    """The integer seed of batch ``batch_index`` of an evaluation with ``seed``: ``seed * 2**32 + batch_index``.

    Batch ``b`` then draws its one-sample ELBO with the stateless key
    ``[seed * 2**32 + b, 0]`` and chunk ``c`` of its importance samples with
    ``[seed * 2**32 + b, c + 1]`` (:func:`vae.losses.iwae_bound`). For
    ``seed = 0`` this is ``b``, the derivation every recorded evaluation of
    the shipped models used (manifests' ``seed=0`` keys), which is why it is
    kept rather than replaced by a fold-in of :func:`vae.seeding.stateless_seed`;
    the stride of ``2**32`` keeps neighbouring seeds apart (the earlier
    ``seed + b`` gave ``evaluate(seed=1)``'s batch ``b`` the samples of
    ``evaluate(seed=0)``'s batch ``b + 1``).
    """
    return seed * _BATCH_SEED_STRIDE + batch_index


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
    The posterior means are :func:`vae.latent.encode_means`; their variance
    is taken in float32, as for every count the book has recorded
    (:func:`vae.latent.posterior_mean_variance` gives it in float64, to draw).

    Args:
        model: a :class:`vae.models.VAE`.
        images: ``(N, 28, 28, 1)`` in [0, 1].

    Returns:
        the number of active units, between 0 and ``latent_dim``.

    Introduced in chapter 6.
    """
    return int(np.sum(np.var(encode_means(model, images, batch_size), axis=0) > threshold))


_PER_IMAGE = ("log_likelihood", "kl", "log_px")  # what a partial-results file keeps per image


def evaluation_fingerprint(model, images, k: int, batch_size: int, chunk_size: int, seed: int) -> str:
    """SHA-256 (hex) of everything an evaluation's per-image figures depend on.

    The model's weights, the images, ``k``, ``batch_size``, ``chunk_size`` and
    ``seed``: two runs with the same fingerprint draw the same samples for
    the same digits, so one can resume the other.

    Args:
        model: a :class:`vae.models.VAE`.
        images: ``(N, 28, 28, 1)`` images.
        k, batch_size, chunk_size, seed: as in :func:`evaluate`.

    Returns:
        64 hexadecimal characters.

    Introduced in chapter 6.
    """
    digest = hashlib.sha256()
    for weights in model.get_weights():
        digest.update(np.ascontiguousarray(weights, dtype=np.float32).tobytes())
    digest.update(np.ascontiguousarray(images, dtype=np.float32).tobytes())
    digest.update(json.dumps([int(k), int(batch_size), int(chunk_size), int(seed)]).encode())
    if seed:  # batch seeds seed * 2**32 + b since seeds stopped overlapping; seed 0 drew the same before
        digest.update(b"batch seeds: seed * 2**32 + b")
    return digest.hexdigest()


def _read_partial(path: Path, fingerprint: str, n_images: int, batch_size: int) -> dict:
    """Per-image arrays already computed by an interrupted run (empty if there is no file)."""
    if not path.exists():
        return {name: np.zeros(0, np.float64) for name in _PER_IMAGE}
    try:
        with np.load(path, allow_pickle=False) as stored:
            stored_fingerprint = str(stored["fingerprint"])
            arrays = {name: np.asarray(stored[name], np.float64) for name in _PER_IMAGE}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path} is not a partial evaluation written by vae.evaluation ({error}); "
                         "delete it to start again") from None
    if stored_fingerprint != fingerprint:
        raise ValueError(f"{path} holds partial results of another evaluation (other weights, images, k, "
                         "batch size or seed); delete it or choose another file")
    done = len(arrays["log_px"])
    if (any(len(values) != done for values in arrays.values()) or done > n_images
            or (done % batch_size and done != n_images)):
        raise ValueError(f"{path} holds an inconsistent number of images; delete it to start again")
    return arrays


def _write_partial(path: Path, fingerprint: str, arrays: dict) -> None:
    with atomic_path(path, suffix=".npz") as temporary:
        np.savez(temporary, fingerprint=np.array(fingerprint), **arrays)


def evaluate(model, images, k: int = defaults.EVALUATION["k"], batch_size: int = defaults.EVALUATION["batch_size"],
             chunk_size: int = DEFAULT_CHUNK_SIZE, seed: int = defaults.EVALUATION["seed"],
             progress: Callable[[int], None] | None = None, partial_path=None) -> Evaluation:
    """Evaluate a model on binary test images.

    Args:
        model: a :class:`vae.models.VAE`.
        images: binary images ``(N, 28, 28, 1)``, e.g. ``vae.data.binarized_test_set()[0]``.
        k: importance samples per image (5000 as in Burda et al.; small k for a quick check).
        batch_size: images per batch.
        chunk_size: importance samples drawn at once; memory grows with
            ``batch_size * chunk_size`` decoded codes (see :func:`vae.losses.iwae_bound`).
        seed: a non-negative int that makes the estimate repeatable. Batch
            ``b`` draws its samples from the integer seed ``seed * 2**32 + b``
            (``_batch_seed``), so that neighbouring seeds draw independent
            samples.
        progress: called with the number of images done after each batch
            (and once at the start with the images a resumed run skips).
        partial_path: optional ``.npz`` file that makes a long run resumable.
            After every batch the per-image figures so far are written there
            atomically; a later call with the same file, model, images and
            settings skips the batches it holds, and gives exactly the result
            of an uninterrupted run, because batch ``b`` always draws the same
            samples. The file is removed when the evaluation completes. A file
            from a different evaluation is refused with a ``ValueError``.

    Returns:
        an :class:`Evaluation`.

    Introduced in chapter 6.
    """
    k = check_positive_int(k, "k")
    batch_size = check_positive_int(batch_size, "batch_size")
    seed = check_int(seed, "seed", maximum=SEED_LIMIT)
    images = check_images(images).numpy()
    n_images = len(images)
    if n_images == 0:
        raise ValueError("expected at least one image to evaluate, got none")
    arrays = {name: np.zeros(0, np.float64) for name in _PER_IMAGE}
    if partial_path is not None:
        partial_path = Path(partial_path)
        fingerprint = evaluation_fingerprint(model, images, k, batch_size, chunk_size, seed)
        arrays = _read_partial(partial_path, fingerprint, n_images, batch_size)
    done = len(arrays["log_px"])
    if progress is not None and done:
        progress(done)
    bound = tf.function(lambda x, s: losses.iwae_bound(model, x, k, chunk_size=chunk_size, seed=s),
                        reduce_retracing=True)
    terms_fn = tf.function(lambda x, s: losses.elbo_terms(model, x, seed=s), reduce_retracing=True)
    for batch_index, start in enumerate(range(0, n_images, batch_size)):
        if start < done:
            continue
        batch = images[start:start + batch_size]
        batch_seed = tf.constant(_batch_seed(seed, batch_index), tf.int64)
        terms = terms_fn(batch, batch_seed)
        new = {"log_likelihood": terms["log_likelihood"].numpy(), "kl": terms["kl"].numpy(),
               "log_px": bound(batch, batch_seed).numpy()}
        arrays = {name: np.concatenate([arrays[name], new[name]]) for name in _PER_IMAGE}
        if partial_path is not None and start + batch_size < n_images:
            _write_partial(partial_path, fingerprint, arrays)
        if progress is not None:
            progress(int(batch.shape[0]))
    result = _summarise(model, images, k, arrays)
    if partial_path is not None and partial_path.exists():
        partial_path.unlink()
    return result


def _summarise(model, images, k: int, arrays: dict) -> Evaluation:
    log_likelihood, kl, nll = arrays["log_likelihood"], arrays["kl"], -arrays["log_px"]
    n = len(nll)
    stderr = float(np.std(nll, ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    return Evaluation(
        n_images=n, k=k, elbo=float(np.mean(log_likelihood - kl)),
        reconstruction=float(-np.mean(log_likelihood)), kl=float(np.mean(kl)),
        nll=float(np.mean(nll)), nll_stderr=stderr,
        nll_bits_per_dim=float(losses.nats_to_bits_per_dim(np.mean(nll))),
        active_units=active_units(model, images), latent_dim=model.latent_dim)

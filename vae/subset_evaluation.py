"""Burda et al.'s NLL on a fixed random subset of test digits, resumable across machines.

For a slow decoder (the PixelCNN decoder of :mod:`vae.pixelcnn` needs about
14 s per digit at k = 5000 on one CPU) the full protocol of
:func:`vae.evaluation.evaluate`, k = 5000 on all 10,000 test digits, takes
more than a day. The shortcut measured here: k = 5000 on a fixed random
subset of the test digits, with k = 100 on the same digits beside it, so
that the rise from k = 100 to k = 5000 is measured per digit, as chapter 6
measures it for the shipped models on all 10,000 digits; a k = 100 run on
all 10,000 digits then completes the picture.

Three things make the run reproducible and resumable:

* the subset is ``numpy.random.default_rng(subset_seed).permutation(10000)[:n]``
  (:func:`subset_indices`), the same on every machine;
* every digit draws its samples from its own stateless key, derived from
  the sampling seed and the digit's test-set index alone
  (:func:`_digit_key`), so a digit's figures do not depend on which digits
  were evaluated before it, in this session or another;
* the per-digit figures (float64, nats) go to a small JSON *state file*
  after every chunk of digits, written atomically; a later run with the same
  file continues after the last chunk, and refuses a file that belongs to
  other weights, images, ``k``, subset or seed.

Numbers are nats per image.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path
from typing import Callable

import numpy as np
import tensorflow as tf

from vae import checkpoint, defaults, losses
from vae.checks import check_images, check_int, check_positive_int
from vae.evaluation import SEED_LIMIT, Evaluation, _summarise
from vae.seeding import stateless_seed

TEST_DIGITS = 10_000  # the MNIST test set, vae.data.binarized_test_set()
SUBSET_SEED = 0  # the default seed of the subset's permutation
SHORTCUT_K = 100  # chapter 6's quick k, evaluated beside k on the same digits
CHUNK_SIZE = 500  # importance samples decoded at once for one digit
DIGITS_PER_SAVE = defaults.EVALUATION["batch_size"]  # digits between two writes of the state file
RESUME_TOLERANCE = 0.01  # nats: how far a stored digit's redrawn ELBO terms may move when a run resumes
STATE_FORMAT = "vae.subset_evaluation state, version 1"
_ELBO_STREAM = 0  # a digit's one-sample ELBO draws from stream 0; its k-sample bound from stream k
_PER_DIGIT = ("log_px", "log_px_shortcut", "log_likelihood", "kl")  # what the state keeps per digit
_SETTING_WORDS = {"weights_sha256": "the model's weights (another checkpoint)",
                  "images_sha256": "the test images", "format": "the state format"}


def subset_indices(n: int, seed: int = SUBSET_SEED, population: int = TEST_DIGITS) -> np.ndarray:
    """The test-set indices of a fixed random subset of ``n`` digits.

    ``numpy.random.default_rng(seed).permutation(population)[:n]``, in that
    order: the same on every machine and NumPy version that keeps NumPy's
    stream-compatibility promise for ``Generator.permutation``. The subset of
    ``n`` digits is the start of that of ``n + 1``.

    Args:
        n: digits in the subset, 1 to ``population``.
        seed: a non-negative int, the subset's seed (recorded with the figures).
        population: digits to choose from (10,000 for the MNIST test set).

    Returns:
        ``(n,)`` int64 indices into the test set, all different.

    Introduced in chapter 6.
    """
    population = check_positive_int(population, "population")
    n = check_int(n, "n", minimum=1, maximum=population)
    seed = check_int(seed, "subset seed")
    return np.random.default_rng(seed).permutation(population)[:n].astype(np.int64)


def _digit_key(seed: int, index: int, stream: int) -> tf.Tensor:
    """The stateless key of test digit ``index``'s draws in ``stream``: ``fold_in([seed, index], stream)``.

    Stream 0 is the digit's one-sample ELBO; stream ``k`` its ``k``-sample
    bound, whose chunk ``c`` then draws with ``fold_in(key, c + 1)``
    (:func:`vae.losses.iwae_bound`). The key depends on the seed, the digit's
    index in the test set and the stream only: not on the subset, the order,
    or how many digits were evaluated before. Returns a ``(2,)`` int64 tensor.
    """
    return stateless_seed(stateless_seed(seed, index), stream)


def _sha256(arrays) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array, dtype=np.float32).tobytes())
    return digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class SubsetEvaluation:
    """Figures of one model on a fixed random subset of the test digits (nats per image).

    Attributes:
        evaluation: the :class:`vae.evaluation.Evaluation` of the subset at
            ``k`` (its ``n_images`` is the subset's size).
        population: the digits the subset was drawn from (10,000).
        subset_seed: the seed of :func:`subset_indices`.
        seed: the sampling seed (each digit's keys derive from it and the digit's index).
        chunk_size: importance samples decoded at once (the draws depend on it).
        shortcut_k: the smaller k evaluated on the same digits, or None.
        shortcut_nll: mean ``-iwae_bound(shortcut_k)`` over the subset, or None.
        shortcut_nll_stderr: its standard error over digits, or None.
        shortcut_excess: mean over the digits of ``NLL(shortcut_k) - NLL(k)``:
            how much higher the quick estimate is, or None.
        shortcut_excess_stderr: its standard error over digits (paired), or None.

    Introduced in chapter 6.
    """

    evaluation: Evaluation
    population: int
    subset_seed: int
    seed: int
    chunk_size: int
    shortcut_k: int | None
    shortcut_nll: float | None
    shortcut_nll_stderr: float | None
    shortcut_excess: float | None
    shortcut_excess_stderr: float | None

    def as_dict(self) -> dict:
        """The figures as a manifest records them: those of an :class:`Evaluation`, plus where they come from."""
        figures = self.evaluation.as_dict()
        figures["subset"] = {
            "n": self.evaluation.n_images, "seed": self.subset_seed, "population": self.population,
            "indices": f"numpy.random.default_rng({self.subset_seed}).permutation({self.population})"
                       f"[:{self.evaluation.n_images}]"}
        figures["sampling"] = {
            "seed": self.seed, "chunk_size": self.chunk_size,
            "keys": "digit i: fold_in([seed, i], 0) for the ELBO, fold_in([seed, i], k) for the k-sample bound"}
        if self.shortcut_k is not None:
            figures["shortcut"] = {"k": self.shortcut_k, "nll": self.shortcut_nll,
                                   "nll_stderr": self.shortcut_nll_stderr,
                                   "excess_over_k": self.shortcut_excess,
                                   "excess_over_k_stderr": self.shortcut_excess_stderr}
        return figures


def subset_evaluation_key(k: int, n: int, subset_seed: int, seed: int) -> str:
    """The manifest key of a subset evaluation, e.g. ``"k=5000,subset_n=2000,subset_seed=0,seed=0"``.

    Kept apart from :func:`vae.checkpoint.evaluation_key`'s ``"k=...,n=..."``,
    which names the *first* ``n`` test digits.

    Introduced in chapter 6.
    """
    return f"k={k},subset_n={n},subset_seed={subset_seed},seed={seed}"


def record_subset_evaluation(directory, result: SubsetEvaluation, replace: bool = False) -> str:
    """Store a subset evaluation's figures (:meth:`SubsetEvaluation.as_dict`) in a checkpoint's manifest.

    Under ``evaluations`` and :func:`subset_evaluation_key`; the manifest is
    rewritten atomically.

    Args:
        directory: a checkpoint folder.
        result: the figures.
        replace: overwrite figures recorded under the same key (otherwise a ``ValueError``).

    Returns:
        the key.

    Introduced in chapter 6.
    """
    directory = Path(directory)
    key = subset_evaluation_key(result.evaluation.k, result.evaluation.n_images, result.subset_seed, result.seed)
    manifest = checkpoint.read_manifest(directory)
    if key in manifest.get("evaluations", {}) and not replace:
        raise ValueError(f"{directory / checkpoint.MANIFEST_FILE} already holds the evaluation {key}")
    manifest.setdefault("evaluations", {})[key] = result.as_dict()
    checkpoint.write_json_atomic(directory / checkpoint.MANIFEST_FILE, manifest)
    return key


def _read_state(path: Path, settings: dict) -> dict:
    """The per-digit lists a state file holds (empty lists if there is no file); refuses another run's file."""
    if not path.exists():
        return {name: [] for name in _PER_DIGIT}
    try:
        stored = json.loads(path.read_text())
        stored_settings = stored["settings"]
        arrays = {name: [float(value) for value in stored[name]] for name in _PER_DIGIT}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is not a state file of vae.subset_evaluation ({error}); "
                         "delete it or choose another file") from None
    if not isinstance(stored_settings, dict):
        raise ValueError(f"{path} is not a state file of vae.subset_evaluation; delete it or choose another file")
    differing = [name for name in sorted(set(settings) | set(stored_settings))
                 if stored_settings.get(name) != settings.get(name)]
    if differing:
        words = "; ".join(_SETTING_WORDS.get(name, f"{name} {stored_settings.get(name)!r} there, "
                                                   f"{settings.get(name)!r} here") for name in differing)
        raise ValueError(f"{path} belongs to another evaluation (differs in: {words}); "
                         "delete it or choose another file")
    done = len(arrays["log_px"])
    expected = {name: 0 if name == "log_px_shortcut" and settings["shortcut_k"] is None else done
                for name in _PER_DIGIT}
    if any(len(arrays[name]) != expected[name] for name in _PER_DIGIT) or done > settings["n"]:
        raise ValueError(f"{path} holds an inconsistent number of digits; delete it to start again")
    return arrays


def _write_state(path: Path, settings: dict, indices: np.ndarray, arrays: dict) -> None:
    state = {"settings": settings, "indices": [int(i) for i in indices], "done": len(arrays["log_px"]),
             **arrays}
    checkpoint.write_json_atomic(path, state)


def evaluate_subset(model, test_images, n: int, k: int = defaults.EVALUATION["k"],
                    subset_seed: int = SUBSET_SEED, seed: int = defaults.EVALUATION["seed"],
                    shortcut_k: int | None = SHORTCUT_K, chunk_size: int = CHUNK_SIZE,
                    digits_per_save: int = DIGITS_PER_SAVE, state_path=None,
                    progress: Callable[[int], None] | None = None,
                    stop: Callable[[], bool] | None = None) -> SubsetEvaluation | None:
    """Burda et al.'s bound on a fixed random subset of test digits, resumable from a state file.

    Each digit ``i`` (its index in ``test_images``) is evaluated alone with
    keys that depend on ``seed`` and ``i`` only (:func:`_digit_key`): its
    one-sample ELBO terms, its ``k``-sample bound and, with ``shortcut_k``,
    its ``shortcut_k``-sample bound from an independent stream. The figures
    are therefore the same whether the run went through in one go or was
    stopped and resumed, on this machine (bit for bit) or another (up to the
    CPU's floating-point rounding).

    Args:
        model: a :class:`vae.models.VAE` (or :class:`vae.pixelcnn.PixelCNNVAE`).
        test_images: all binary test images ``(population, 28, 28, 1)``,
            ``vae.data.binarized_test_set()[0]``; the subset is drawn from them.
        n: digits in the subset (:func:`subset_indices`).
        k: importance samples per digit (5000 as in Burda et al.).
        subset_seed: the seed of the subset.
        seed: the sampling seed, 0 to ``vae.evaluation.SEED_LIMIT``.
        shortcut_k: a smaller k evaluated on the same digits (chapter 6's
            k = 100), or None; ignored (None) when not smaller than ``k``.
        chunk_size: importance samples decoded at once; memory grows with it,
            and the draws depend on it (it is part of the state's settings).
        digits_per_save: digits between two writes of the state file.
        state_path: optional JSON file for the per-digit figures. Written
            atomically after every ``digits_per_save`` digits and kept when
            the run completes; a run with an existing file continues after the
            digits it holds, or raises ``ValueError`` if the file belongs to
            other weights, images, ``k``, subset, seed or chunk size, or if
            this machine no longer reproduces the last stored digit's ELBO
            terms within ``RESUME_TOLERANCE`` nats (other draws: a state
            carried to another machine must not mix two evaluations).
        progress: called with the number of digits finished after every
            save (and once at the start with the digits a resumed run skips).
        stop: called after every save; if it returns True the run stops
            there (the state file holds the digits so far) and returns None.

    Returns:
        a :class:`SubsetEvaluation`, or None if ``stop`` ended the run early.

    Introduced in chapter 6.
    """
    k = check_positive_int(k, "k")
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    digits_per_save = check_positive_int(digits_per_save, "digits_per_save")
    seed = check_int(seed, "seed", maximum=SEED_LIMIT)
    if shortcut_k is not None:
        shortcut_k = check_positive_int(shortcut_k, "shortcut_k")
        shortcut_k = shortcut_k if shortcut_k < k else None
    subset_seed = check_int(subset_seed, "subset seed")
    test_images = check_images(test_images).numpy()
    indices = subset_indices(n, subset_seed, population=len(test_images))
    images = test_images[indices]
    settings = {"format": STATE_FORMAT, "weights_sha256": _sha256(model.get_weights()),
                "images_sha256": _sha256([images]), "population": len(test_images), "n": len(indices),
                "subset_seed": subset_seed, "seed": seed, "k": k, "shortcut_k": shortcut_k,
                "chunk_size": chunk_size}
    state_path = None if state_path is None else Path(state_path)
    arrays = {name: [] for name in _PER_DIGIT} if state_path is None else _read_state(state_path, settings)
    done = len(arrays["log_px"])
    if progress is not None and done:
        progress(done)

    def bound_of(samples):
        return tf.function(lambda x, key: losses.iwae_bound(model, x, samples, chunk_size=chunk_size, seed=key))

    bound, shortcut_bound = bound_of(k), (None if shortcut_k is None else bound_of(shortcut_k))
    terms_of = tf.function(lambda x, key: losses.elbo_terms(model, x, seed=key))
    if done:
        _check_a_stored_digit(state_path, terms_of, images, indices, seed, arrays, done - 1)
    for start in range(done, len(indices), digits_per_save):
        for position in range(start, min(start + digits_per_save, len(indices))):
            x, index = images[position:position + 1], int(indices[position])
            terms = terms_of(x, _digit_key(seed, index, _ELBO_STREAM))
            arrays["log_likelihood"].append(float(terms["log_likelihood"].numpy()[0]))
            arrays["kl"].append(float(terms["kl"].numpy()[0]))
            arrays["log_px"].append(float(bound(x, _digit_key(seed, index, k)).numpy()[0]))
            if shortcut_bound is not None:
                arrays["log_px_shortcut"].append(
                    float(shortcut_bound(x, _digit_key(seed, index, shortcut_k)).numpy()[0]))
        finished = len(arrays["log_px"])
        if state_path is not None:
            _write_state(state_path, settings, indices, arrays)
        if progress is not None:
            progress(finished - start)
        if finished < len(indices) and stop is not None and stop():
            return None
    return _summary(model, images, settings, arrays)


def _check_a_stored_digit(path: Path, terms_of, images, indices, seed: int, arrays: dict, position: int) -> None:
    """Redraw one stored digit's one-sample ELBO terms; refuse to resume if they changed.

    A state may come from another machine. If this one draws other samples
    for the same keys (another TensorFlow, another precision), continuing
    would mix two evaluations; one sample's ``log p(x|z)`` typically moves
    by nats then, while the CPU's rounding moves it by far less than 0.01 nats.
    """
    index = int(indices[position])
    terms = terms_of(images[position:position + 1], _digit_key(seed, index, _ELBO_STREAM))
    for name in ("log_likelihood", "kl"):
        now, then = float(terms[name].numpy()[0]), arrays[name][position]
        if not abs(now - then) <= RESUME_TOLERANCE:
            raise ValueError(f"{path}: test digit {index} no longer gives the figures stored for it ({name} "
                             f"{then:.4f} then, {now:.4f} now): this machine draws or computes differently, and "
                             "continuing would mix two evaluations; finish the run where it started or start again")


def _mean_and_stderr(values: np.ndarray) -> tuple[float, float]:
    stderr = float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else float("nan")
    return float(np.mean(values)), stderr


def _summary(model, images, settings: dict, arrays: dict) -> SubsetEvaluation:
    """The figures of a completed run: its per-digit lists, averaged."""
    per_digit = {name: np.asarray(values, np.float64) for name, values in arrays.items()}
    result = _summarise(model, images, settings["k"], per_digit)
    shortcut = {}
    if settings["shortcut_k"] is not None:
        shortcut_nll = -per_digit["log_px_shortcut"]
        shortcut["shortcut_nll"], shortcut["shortcut_nll_stderr"] = _mean_and_stderr(shortcut_nll)
        shortcut["shortcut_excess"], shortcut["shortcut_excess_stderr"] = _mean_and_stderr(
            shortcut_nll + per_digit["log_px"])
    return SubsetEvaluation(
        evaluation=result, population=settings["population"], subset_seed=settings["subset_seed"],
        seed=settings["seed"], chunk_size=settings["chunk_size"], shortcut_k=settings["shortcut_k"],
        shortcut_nll=shortcut.get("shortcut_nll"), shortcut_nll_stderr=shortcut.get("shortcut_nll_stderr"),
        shortcut_excess=shortcut.get("shortcut_excess"),
        shortcut_excess_stderr=shortcut.get("shortcut_excess_stderr"))

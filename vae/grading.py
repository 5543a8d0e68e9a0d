"""Graded exercises: the checks the exercise notebooks call, and the grader behind ``python -m vae grade``.

An exercise notebook (``chapters/exercises/exNN_*.ipynb``) pairs each task
with two code cells, both carrying the exercise's id in their metadata
(``"exercise": "ex04.2"``):

- an *answer* cell, tagged ``answer``, where the learner writes a function
  (the blank notebook holds its signature, its docstring and
  ``raise NotImplementedError``);
- a *check* cell, tagged ``nbval-check-output``, that calls :func:`check`:
  it runs the learner's function on fixed inputs, compares the result with
  the package's own implementation within a tolerance, and prints exactly one
  line, ``ex04.2 kl divergence: correct`` or a line that says what is wrong.

nbval compares a notebook with its *own* stored outputs, so run on a learner's
copy it only proves that the copy reproduces itself: edit a check cell and its
stored output and it passes. The grader therefore never trusts the learner's
checks. :func:`grade_submission` copies only the ``answer`` cells of a
submission into a fresh copy of the instructor's executed reference notebook
(the solution, ``tests/solutions/exNN_*.ipynb``), runs ``pytest --nbval-lax``
on that copy in a temporary folder, and reads nbval's per-cell verdicts back
into one verdict per exercise. Only the reference's check cells are compared,
so whatever a learner prints in an answer cell does not matter.

Each cell may run for a set time (``--timeout``); nbval then interrupts it
and the exercise fails. The kernel imports ``vae`` (TensorFlow) while it
starts, so the time limit measures the exercises, not that import.

The grader runs the submission's code with the grader's own rights. Grade
work you do not trust inside a sandbox: a container or virtual machine with
no network and no access to your files. Answers that name the grader or the
kernel's machinery (``grading``, ``builtins``, ``sys``, ``exec``,
``get_ipython``, shell escapes) are withheld and fail: a speed bump against a
learner who rewrites the checks from inside an answer, not a security
boundary.

Blank exercise notebooks are derived from the solutions by
:func:`blank_exercise`, so the two cannot drift apart.

Introduced in chapter 2, whose exercises are the first graded ones (chapters 2 to 9 all
have graded exercises).
"""

from __future__ import annotations

import ast
import contextlib
import copy
import csv
import dataclasses
import io
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import warnings
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Callable

import numpy as np

ANSWER_TAG = "answer"
CHECK_TAG = "nbval-check-output"
EXERCISE_KEY = "exercise"
LOG_VARIABLE = "VAE_GRADING_LOG"  # where check() also records its line while the grader runs
REFERENCE_DIR = Path(__file__).resolve().parent.parent / "tests" / "solutions"
DEFAULT_TIMEOUT = 60.0
KERNEL_STARTUP_TIMEOUT = 300.0
STUB_LINE = 'raise NotImplementedError("write your answer here")'
_NAME_PATTERN = re.compile(r"ex(\d\d)", re.IGNORECASE)
_ANSI = re.compile(r"(?:\x1b|#x1B)\[[0-9;]*m")
_LOG2 = math.log(2.0)


# =====================================================================================
# The checks
# =====================================================================================
class _Wrong(Exception):
    """The answer ran but its result is wrong; the message says how."""


@dataclasses.dataclass(frozen=True)
class Exercise:
    """One graded exercise: its id, a short title, its chapter and what the check tests.

    Attributes:
        id: ``"exNN.M"``; ``NN`` is the chapter the exercise belongs to.
        title: a few lowercase words, printed after the id in the check's line.
        chapter: the chapter number.
        checks: one sentence: the inputs, the reference and the tolerance.
        run: the check itself, ``run(answer)``; returns nothing when the answer
            is right, raises with a message otherwise.

    Introduced in chapter 2, whose exercises are the first graded ones.
    """

    id: str
    title: str
    chapter: int
    checks: str
    run: Callable


EXERCISES: dict[str, Exercise] = {}


def _exercise(exercise_id: str, title: str, checks: str):
    def register(run):
        EXERCISES[exercise_id] = Exercise(exercise_id, title, int(exercise_id[2:4]), checks, run)
        return run
    return register


def check(exercise: str, answer) -> None:
    """Check a learner's function for one exercise and print one line.

    The function is called on the exercise's fixed inputs (whatever it prints
    is swallowed) and its result is compared with the package's reference
    within a tolerance. The line is ``"<id> <title>: correct"`` or
    ``"<id> <title>: <what is wrong>"``. An exception raised by the answer
    becomes a failing line, so one broken answer never stops the next check.

    Args:
        exercise: the exercise id, e.g. ``"ex04.2"`` (see :data:`EXERCISES`).
        answer: the learner's function.

    Introduced in chapter 2, whose exercises are the first graded ones.
    """
    spec = EXERCISES.get(exercise)
    if spec is None:
        raise ValueError(f"unknown exercise {exercise!r}; known: {', '.join(EXERCISES)}")
    if not callable(answer):
        verdict = f"expected a function, got {type(answer).__name__}"
    else:
        verdict = "correct"
        try:
            spec.run(answer)
        except _Wrong as wrong:
            verdict = str(wrong)
        except NotImplementedError:
            verdict = f"not answered yet ({_name_of(answer)} still raises NotImplementedError)"
        except (Exception, SystemExit) as error:  # noqa: BLE001 - any bug in the answer is a failed check
            verdict = f"{_name_of(answer)} raised {type(error).__name__}: {_first_line(error)}"
    line = f"{spec.id} {spec.title}: {verdict}"
    print(line)
    _log(spec.id, line)


def _name_of(answer) -> str:
    return getattr(answer, "__name__", "the answer")


def _first_line(error: BaseException, limit: int = 160) -> str:
    text = str(error).strip().splitlines()
    text = text[0] if text else ""
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _log(exercise_id: str, line: str) -> None:
    """Append the check's line to the grader's log file, when the grader is running."""
    path = os.environ.get(LOG_VARIABLE)
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps({"exercise": exercise_id, "line": line}) + "\n")
    except OSError:
        pass


def _call(answer, *args, **kwargs):
    """Call the learner's function with its prints and warnings swallowed."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return answer(*args, **kwargs)


def _shape(shape) -> str:
    shape = tuple(int(s) for s in shape)
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _as_array(value, what: str) -> np.ndarray:
    if hasattr(value, "numpy"):
        value = value.numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise _Wrong(f"{what} should be numbers, got {type(value).__name__}") from None
    return array


def _compare(what: str, got, expected, *, atol: float, rtol: float = 1e-5,
             mistakes: dict | None = None, shape_hint: str = "", nonfinite_hint: str = "") -> None:
    """Raise :class:`_Wrong` unless ``got`` matches ``expected`` within the tolerances.

    ``mistakes`` maps a description of a common mistake to the value that
    mistake produces; a result matching one of them is reported by name.
    """
    got = _as_array(got, what)
    expected = np.asarray(expected, dtype=np.float64)
    candidates = dict(mistakes or {})
    candidates.setdefault("it has the wrong sign", -expected)
    candidates.setdefault("it is twice the reference (is a factor 1/2 missing?)", 2.0 * expected)
    candidates.setdefault("it is half the reference (a factor 1/2 too many?)", 0.5 * expected)
    if got.shape == expected.shape and np.all(np.isfinite(got)) and np.allclose(got, expected, rtol=rtol, atol=atol):
        return
    for description, value in candidates.items():
        value = np.asarray(value, dtype=np.float64)
        if value.shape == got.shape and np.all(np.isfinite(got)) and np.allclose(got, value, rtol=rtol, atol=atol):
            raise _Wrong(f"{what} is wrong: {description}")
    if got.shape != expected.shape:
        hint = f" ({shape_hint})" if shape_hint else ""
        raise _Wrong(f"{what} has shape {_shape(got.shape)}, expected {_shape(expected.shape)}{hint}")
    if not np.all(np.isfinite(got)):
        kind = "NaN" if np.isnan(got).any() else "infinite"
        hint = f" ({nonfinite_hint})" if nonfinite_hint else ""
        raise _Wrong(f"{what} holds {kind} values where the reference is finite{hint}")
    error = np.abs(got - expected) - atol - rtol * np.abs(expected)
    index = np.unravel_index(int(np.argmax(error)), got.shape) if got.shape else ()
    where = f" at index {_shape(index)}" if got.shape else ""
    raise _Wrong(f"{what} differs from the reference{where}: expected {expected[index]:.5g}, "
                 f"got {got[index]:.5g}")


def _tiny_model(latent_dim: int = 3, seed: int = 0):
    """A small MLP VAE whose weights come from a NumPy generator (global seeds untouched)."""
    from vae.models import MLPVAE

    model = MLPVAE(latent_dim=latent_dim, hidden=(32,), seed=seed)
    rng = np.random.default_rng(100 + seed)
    for variable in model.trainable_variables:
        variable.assign(rng.normal(0.0, 0.3, tuple(variable.shape)).astype(np.float32))
    return model


def _flat_weights(model) -> np.ndarray:
    return np.concatenate([np.ravel(v.numpy()) for v in model.trainable_variables]).astype(np.float64)


def _binary_images(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((count, 28, 28, 1)) < 0.25).astype(np.float32)


def _gaussian_parameters(rows: int, dim: int, seed: int):
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    mean = tf.constant(rng.normal(0.0, 1.0, (rows, dim)), tf.float32)
    log_var = tf.constant(rng.uniform(-2.0, 1.5, (rows, dim)), tf.float32)
    return mean, log_var


# -- chapter 2 -------------------------------------------------------------------------
@_exercise("ex02.1", "pca reconstruction",
           "compares pca_reconstruct on 10 random grey images, a mean image and 5 orthonormal "
           "directions with vae.autoencoders.PCA.reconstruct of the same analysis (tolerance 1e-4)")
def _check_pca(answer):
    from vae.autoencoders import PCA

    rng = np.random.default_rng(21)
    directions, _ = np.linalg.qr(rng.normal(size=(784, 5)))  # 5 orthonormal columns
    pca = PCA(mean=rng.random(784), components=directions.T, singular_values=np.arange(5.0, 0.0, -1.0))
    test = rng.random((10, 28, 28, 1)).astype(np.float32)
    expected = pca.reconstruct(test)
    rows = test.reshape(10, 784).astype(np.float64)
    got = _call(answer, test, pca.mean, pca.components)
    _compare("the reconstruction", got, expected, atol=1e-4, mistakes={
        "the mean image was not added back": (expected.reshape(10, 784) - pca.mean).reshape(expected.shape),
        "the images were not centred before the projection":
            ((rows @ pca.components.T) @ pca.components + pca.mean).reshape(expected.shape),
    }, shape_hint="reshape the rows back into (n, 28, 28, 1) images")


# -- chapter 3 -------------------------------------------------------------------------
@_exercise("ex03.1", "reparameterization",
           "compares reparameterize(mean, log_var, eps) on 5x4 fixed parameters with "
           "VAE.reparameterize given the same noise (tolerance 1e-5), then the gradients of z "
           "with respect to mean and log_var")
def _check_reparameterize(answer):
    import tensorflow as tf

    model = _tiny_model(latent_dim=4)
    mean, log_var = _gaussian_parameters(5, 4, seed=31)
    eps = model.reparameterize(tf.zeros_like(mean), tf.zeros_like(log_var), seed=11)
    weights = tf.constant(np.linspace(0.5, 1.5, 20).reshape(5, 4), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([mean, log_var])
        expected = model.reparameterize(mean, log_var, seed=11)
        got = _call(answer, mean, log_var, eps)
        expected_total = tf.reduce_sum(expected * weights)
        got_total = tf.reduce_sum(tf.cast(got, tf.float32) * weights) if tf.is_tensor(got) else None
    _compare("z", got, expected, atol=1e-5, mistakes={
        "the noise is scaled by the variance exp(log_var); the standard deviation is exp(log_var / 2)":
            mean + tf.exp(log_var) * eps,
        "the noise is scaled by log_var itself; the standard deviation is exp(log_var / 2)":
            mean + log_var * eps,
        "the noise is scaled by exp(log_var) / 2; the standard deviation is exp(log_var / 2)":
            mean + 0.5 * tf.exp(log_var) * eps,
        "the mean is missing": tf.exp(0.5 * log_var) * eps,
    })
    gradients = tape.gradient(got_total, [mean, log_var]) if got_total is not None else [None, None]
    if any(g is None for g in gradients):
        raise _Wrong("z is right, but no gradient flows back to mean and log_var: "
                     "write it with TensorFlow operations (tf.exp), not NumPy")
    reference = tape.gradient(expected_total, [mean, log_var])
    _compare("dz/dmean", gradients[0], reference[0], atol=1e-5)
    _compare("dz/dlog_var", gradients[1], reference[1], atol=1e-5)


@_exercise("ex03.2", "sampling with an unknown batch size",
           "traces sample_codes in a tf.function whose inputs have an unknown batch size, checks "
           "the shapes for batches of 1 and 7, then checks that 20,000 draws have the mean and "
           "standard deviation of N(mean, exp(log_var)) (within 5 % of a standard deviation) and "
           "that every row gets its own noise")
def _check_sample_codes(answer):
    import tensorflow as tf

    spec = tf.TensorSpec([None, 3], tf.float32)
    traced = tf.function(lambda mean, log_var: _call(answer, mean, log_var), input_signature=[spec, spec])
    try:
        for batch in (1, 7):
            z = traced(tf.zeros([batch, 3]), tf.zeros([batch, 3]))
            if tuple(z.shape) != (batch, 3):
                raise _Wrong(f"z has shape {_shape(z.shape)} for a batch of {batch}, expected {_shape((batch, 3))}")
    except _Wrong:
        raise
    except NotImplementedError:
        raise
    except Exception as error:  # noqa: BLE001
        raise _Wrong(f"it fails inside tf.function with an unknown batch size ({type(error).__name__}); "
                     f"take the noise's shape from tf.shape(mean), not mean.shape") from None
    mean_row = np.array([0.5, -1.0, 2.0], np.float32)
    log_var_row = np.array([0.0, -1.5, 1.0], np.float32)
    count = 20000
    z = traced(tf.constant(np.tile(mean_row, (count, 1))), tf.constant(np.tile(log_var_row, (count, 1))))
    z = _as_array(z, "z")
    std = np.exp(0.5 * log_var_row.astype(np.float64))
    if np.allclose(z, z[0]):
        raise _Wrong("every row got the same noise: draw one eps per row (shape tf.shape(mean))")
    sample_std = z.std(axis=0)
    if np.allclose(sample_std, np.exp(log_var_row), rtol=0.05) and not np.allclose(sample_std, std, rtol=0.05):
        raise _Wrong("the spread is exp(log_var), the variance; the standard deviation is exp(log_var / 2)")
    if not np.all(np.abs(z.mean(axis=0) - mean_row) < 0.05 * std):
        raise _Wrong(f"the draws' mean is {np.round(z.mean(axis=0), 2).tolist()}, "
                     f"expected {mean_row.tolist()}")
    if not np.allclose(sample_std, std, rtol=0.05):
        raise _Wrong(f"the draws' standard deviation is {np.round(sample_std, 2).tolist()}, "
                     f"expected {np.round(std, 2).tolist()}")


# -- chapter 4 -------------------------------------------------------------------------
@_exercise("ex04.1", "bernoulli log-likelihood",
           "compares bernoulli_log_likelihood on 3 binary images and logits that include "
           "+-40 and +-200 with vae.losses.bernoulli_log_likelihood: one value per image, "
           "finite, within 1e-3 nats")
def _check_bernoulli(answer):
    import tensorflow as tf

    from vae import losses

    x = _binary_images(3, seed=41)
    rng = np.random.default_rng(42)
    logits = rng.normal(0.0, 3.0, x.shape).astype(np.float32)
    logits[0, 0, :4, 0] = [40.0, -40.0, 200.0, -200.0]
    x[0, 0, :4, 0] = [0.0, 1.0, 0.0, 1.0]  # confident and wrong: the naive formula takes log(0)
    expected = losses.bernoulli_log_likelihood(x, logits).numpy()
    per_pixel = -tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits).numpy().astype(np.float64)
    got = _call(answer, tf.constant(x), tf.constant(logits))
    _compare("the log-likelihood", got, expected, atol=1e-3, mistakes={
        "it is summed over the batch axis (axis 0); sum over the pixels of each image": per_pixel.sum(axis=0),
        "it is summed over the last axis only; sum over every pixel of each image": per_pixel.sum(axis=-1),
        "it is not summed; sum over the pixels of each image": per_pixel,
        "it is summed over the whole batch; return one value per image": per_pixel.sum(),
        "it is averaged over the pixels; the log-likelihood of an image is their sum": per_pixel.mean(axis=(1, 2, 3)),
    }, shape_hint="one value per image", nonfinite_hint="log(sigmoid(l)) underflows for large |l|; "
                                                         "write it with softplus")


@_exercise("ex04.2", "kl divergence",
           "compares kl_divergence on 4x3 fixed means and log-variances with "
           "vae.losses.kl_standard_normal (tolerance 1e-5)")
def _check_kl(answer):
    from vae import losses

    mean, log_var = _gaussian_parameters(4, 3, seed=43)
    expected = losses.kl_standard_normal(mean, log_var).numpy()
    m, lv = mean.numpy().astype(np.float64), log_var.numpy().astype(np.float64)
    got = _call(answer, mean, log_var)
    _compare("the KL divergence", got, expected, atol=1e-5, mistakes={
        "it has the wrong sign: a KL divergence is never negative": -expected,
        "the factor 1/2 is missing": 2.0 * expected,
        "the -1 inside the sum is missing": expected + 0.5 * m.shape[1],
        "it is summed over the batch; return one value per example": expected.sum(),
        "it is not summed over the latent dimensions": 0.5 * (np.exp(lv) + m ** 2 - 1.0 - lv),
    }, shape_hint="one value per example")


@_exercise("ex04.3", "elbo",
           "compares elbo(model, x, seed) on a small MLP VAE and 4 binary images with "
           "vae.losses.elbo(model, x, seed=seed) (tolerance 1e-3 nats)")
def _check_elbo(answer):
    from vae import losses

    model = _tiny_model()
    x = _binary_images(4, seed=44)
    expected = losses.elbo(model, x, seed=5).numpy()
    terms = losses.elbo_terms(model, x, seed=5)
    log_likelihood, kl = terms["log_likelihood"].numpy(), terms["kl"].numpy()
    mean, log_var = model.encode(x)
    from_mean = losses.bernoulli_log_likelihood(x, model.decode(mean)).numpy() - kl
    got = _call(answer, model, x, 5)
    _compare("the ELBO", got, expected, atol=1e-3, mistakes={
        "the KL term has a plus sign; the ELBO subtracts it": log_likelihood + kl,
        "that is the loss, the negative ELBO": -expected,
        "it decodes the mean instead of a sample z drawn with model.reparameterize": from_mean,
        "it is averaged over the batch; return one value per image": expected.mean(),
        "it is summed over the batch; return one value per image": expected.sum(),
        "the KL term is missing": log_likelihood,
    }, shape_hint="one value per image")


# -- chapter 5 -------------------------------------------------------------------------
@_exercise("ex05.1", "decoder output shape",
           "builds build_decoder(latent_dim) for latent sizes 2 and 16 and checks that codes "
           "(5, latent_dim) and (1, latent_dim) give float32 logits shaped like the images, "
           "(batch, 28, 28, 1), as vae.models.ConvVAE's decoder does, with trainable weights and "
           "no final sigmoid")
def _check_decoder(answer):
    import keras
    import tensorflow as tf

    from vae.models import ConvVAE

    rng = np.random.default_rng(51)
    for latent_dim in (2, 16):
        decoder = _call(answer, latent_dim)
        if not callable(decoder):
            raise _Wrong(f"build_decoder({latent_dim}) returned {type(decoder).__name__}, not a model")
        reference = ConvVAE(latent_dim=latent_dim, filters=(4, 8), hidden=16).decoder
        for batch in (5, 1):
            z = tf.constant(rng.normal(0.0, 3.0, (batch, latent_dim)), tf.float32)
            expected_shape = tuple(reference(z).shape)
            logits = _call(decoder, z)
            shape = tuple(getattr(logits, "shape", np.shape(logits)))
            if shape != expected_shape:
                raise _Wrong(f"the decoder maps codes {_shape(z.shape)} to shape {_shape(shape)}, "
                             f"expected {_shape(expected_shape)}")
            if getattr(logits, "dtype", None) not in (tf.float32, "float32", np.float32):
                raise _Wrong(f"the logits have dtype {getattr(logits, 'dtype', type(logits).__name__)}, "
                             f"expected float32")
        if not getattr(decoder, "trainable_weights", None):
            raise _Wrong("the decoder has no trainable weights: build it from Keras layers")
        last = decoder.layers[-1] if isinstance(decoder, keras.Model) and decoder.layers else None
        activation = getattr(last, "activation", None)
        values = _as_array(_call(decoder, tf.constant(rng.normal(0.0, 3.0, (5, latent_dim)), tf.float32)),
                           "logits")
        if activation is keras.activations.sigmoid or (values.min() >= 0.0 and values.max() <= 1.0):
            raise _Wrong("every output lies in [0, 1]: the decoder must return logits (any real "
                         "number); leave the sigmoid to the likelihood")


@_exercise("ex05.2", "train step",
           "runs train_step(model, optimizer, x, seed) once on a small MLP VAE with SGD "
           "(learning rate 0.1) and 8 binary images, and compares the returned loss and every "
           "updated weight with a reference step on an identical copy (GradientTape on "
           "VAE.compute_losses(x, seed)['loss']; tolerance 1e-4)")
def _check_train_step(answer):
    import keras
    import tensorflow as tf

    model, reference = _tiny_model(latent_dim=2), _tiny_model(latent_dim=2)
    x = tf.constant(_binary_images(8, seed=52))
    before = _flat_weights(model)
    got_loss = _call(answer, model, keras.optimizers.SGD(learning_rate=0.1), x, 7)
    optimizer = keras.optimizers.SGD(learning_rate=0.1)
    with tf.GradientTape() as tape:
        expected_loss = reference.compute_losses(x, seed=7)["loss"]
    gradients = tape.gradient(expected_loss, reference.trainable_variables)
    optimizer.apply_gradients(zip(gradients, reference.trainable_variables))
    expected_loss = float(expected_loss)
    _compare("the returned loss", got_loss, expected_loss, atol=1e-3, mistakes={
        "that is the ELBO; the loss to minimise is its negative": -expected_loss,
        "it is summed over the batch; return the mean, in nats per image": 8 * expected_loss,
    }, shape_hint="return the batch mean, a scalar")
    after, expected = _flat_weights(model), _flat_weights(reference)
    _compare("the step", after, expected, atol=1e-4, rtol=1e-4, mistakes={
        "the weights did not change: apply the gradients with optimizer.apply_gradients": before,
        "the step went uphill: differentiate the loss (the negative ELBO), not the ELBO":
            2.0 * before - expected,
    })


# -- chapter 6 -------------------------------------------------------------------------
@_exercise("ex06.1", "log-mean-exp",
           "compares log_mean_exp(values, axis) on a 5x3 array holding values near +1000 and "
           "-1000 with vae.losses.log_mean_exp, for axis 0 and axis 1 (tolerance 1e-4)")
def _check_log_mean_exp(answer):
    from vae import losses

    rng = np.random.default_rng(61)
    values = rng.normal(0.0, 2.0, (5, 3)).astype(np.float32)
    values[:, 1] += 1000.0
    values[:, 2] -= 1000.0
    for axis in (0, 1):
        expected = losses.log_mean_exp(values, axis=axis).numpy()
        count = values.shape[axis]
        got = _call(answer, values, axis=axis)
        _compare(f"log_mean_exp(values, axis={axis})", got, expected, atol=1e-4, mistakes={
            "that is log-sum-exp; subtract log(k) to get the log of the mean": expected + math.log(count),
            "that is the mean of the values, not the log of the mean of their exponentials":
                values.astype(np.float64).mean(axis=axis),
            "that is the maximum; add log(mean(exp(values - max)))": values.astype(np.float64).max(axis=axis),
        }, nonfinite_hint="exp overflows or underflows: subtract the maximum before exponentiating")


@_exercise("ex06.2", "importance-weighted bound",
           "compares importance_weighted_bound(model, x, z) on a small MLP VAE, 3 binary images "
           "and k = 1 and k = 16 codes drawn as vae.losses.iwae_bound draws them, with "
           "vae.losses.iwae_bound(model, x, k, seed=seed) (tolerance 1e-3 nats)")
def _check_iwae(answer):
    import tensorflow as tf

    from vae import losses
    from vae.seeding import stateless_seed

    model = _tiny_model()
    x = _binary_images(3, seed=62)
    mean, log_var = model.encode(x)
    for k in (16, 1):
        eps = tf.random.stateless_normal([k, 3, model.latent_dim], seed=stateless_seed(9, 1))
        z = mean + tf.exp(0.5 * log_var) * eps
        expected = losses.iwae_bound(model, x, k, chunk_size=k, seed=9).numpy()
        flat = tf.reshape(z, [-1, model.latent_dim])
        log_px_z = tf.reshape(losses.bernoulli_log_likelihood(tf.tile(x, [k, 1, 1, 1]), model.decode(flat)), [k, 3])
        log_w = (log_px_z + losses.log_normal_density(z, 0.0, 0.0) - losses.log_normal_density(z, mean, log_var))
        log_w = log_w.numpy().astype(np.float64)
        got = _call(answer, model, x, z)
        _compare(f"the bound with k = {k}", got, expected, atol=1e-3, mistakes={
            "that averages the log-weights (the ELBO); the bound is the log of the mean weight":
                log_w.mean(axis=0),
            "that is log-sum-exp of the weights; subtract log(k)": expected + math.log(k),
            "log p(z) is missing from the log-weights":
                losses.log_mean_exp(log_w - losses.log_normal_density(z, 0.0, 0.0).numpy(), axis=0).numpy(),
            "log q(z|x) should be subtracted, not added":
                losses.log_mean_exp(log_w + 2 * losses.log_normal_density(z, mean, log_var).numpy(), axis=0).numpy(),
        }, shape_hint="one value per image")


@_exercise("ex06.3", "bits per dimension",
           "compares bits_per_dim on [80.0, 86.76, 100.5] nats for 784 dimensions and on 3000 "
           "nats for 3072 dimensions with vae.losses.nats_to_bits_per_dim (tolerance 1e-6)")
def _check_bits_per_dim(answer):
    from vae import losses

    for nats, dims in ((np.array([80.0, 86.76, 100.5]), 784), (3000.0, 3072)):
        expected = losses.nats_to_bits_per_dim(nats, dims)
        got = _call(answer, nats, dims)
        _compare(f"bits_per_dim(..., dims={dims})", got, expected, atol=1e-6, mistakes={
            "it is divided by ln 2 but not by the number of dimensions": np.asarray(nats) / _LOG2,
            "it is divided by the dimensions but still in nats: divide by ln 2 too": np.asarray(nats) / dims,
            "it is multiplied by ln 2; a bit is ln 2 nats, so divide": np.asarray(nats) * _LOG2 / dims,
            "it ignores the dims argument": np.asarray(nats) / (784 * _LOG2),
        })


# -- chapter 7 -------------------------------------------------------------------------
@_exercise("ex07.1", "latent interpolation",
           "compares interpolate(z_start, z_end, steps) for 5-dimensional codes and 7 and 2 steps "
           "with vae.latent.linear_interpolation: shape (steps, 5), both ends included "
           "(tolerance 1e-6)")
def _check_interpolation(answer):
    from vae.latent import linear_interpolation

    rng = np.random.default_rng(71)
    start, end = rng.normal(size=5).astype(np.float32), rng.normal(size=5).astype(np.float32)
    for steps in (7, 2):
        expected = linear_interpolation(start, end, steps)
        got = _call(answer, start, end, steps)
        t_open = np.linspace(0.0, 1.0, steps, endpoint=False)[:, None]
        _compare(f"the path with {steps} steps", got, expected, atol=1e-6, mistakes={
            "it runs from z_end to z_start": expected[::-1],
            "it misses the last point, z_end (np.linspace includes both ends by default)":
                (1 - t_open) * start + t_open * end,
            "it is transposed: one row per step, (steps, latent_dim)": expected.T,
        }, shape_hint="one row per step, both ends included")


# -- chapter 8 -------------------------------------------------------------------------
@_exercise("ex08.1", "rate-distortion point",
           "compares rate_distortion_point(model, images, seed) on a small MLP VAE and 16 binary "
           "images with vae.rate_distortion.rate_and_distortion(model, images, samples=1, "
           "seed=seed): (rate, distortion) in nats per image (tolerance 1e-3)")
def _check_rate_distortion(answer):
    from vae.rate_distortion import rate_and_distortion

    model = _tiny_model()
    images = _binary_images(16, seed=81)
    rate, distortion = rate_and_distortion(model, images, samples=1, seed=3, batch_size=16)
    got = _call(answer, model, images, 3)
    if isinstance(got, dict):
        raise _Wrong("return a pair (rate_nats, distortion_nats), not a dict")
    _compare("(rate, distortion)", got, [rate, distortion], atol=1e-3, mistakes={
        "rate and distortion are swapped": [distortion, rate],
        "the distortion has the wrong sign: it is -log p(x|z), a positive number of nats": [rate, -distortion],
        "they are summed over the images; the point uses means per image": [16 * rate, 16 * distortion],
    }, shape_hint="a pair (rate_nats, distortion_nats)")


# -- chapter 9 -------------------------------------------------------------------------
@_exercise("ex09.1", "code length",
           "compares code_length_bits(x, logits) on 3 binary images with "
           "-vae.losses.bernoulli_log_likelihood(x, logits) / ln 2, in bits per image "
           "(tolerance 1e-3 bits)")
def _check_code_length(answer):
    import tensorflow as tf

    from vae import losses

    x = _binary_images(3, seed=91)
    logits = np.random.default_rng(92).normal(0.0, 2.0, x.shape).astype(np.float32)
    nats = -losses.bernoulli_log_likelihood(x, logits).numpy().astype(np.float64)
    expected = nats / _LOG2
    got = _call(answer, tf.constant(x), tf.constant(logits))
    _compare("the code length", got, expected, atol=1e-3, mistakes={
        "that is in nats; a bit is ln 2 nats, so divide by ln 2": nats,
        "it has the wrong sign: a code length is a positive number of bits": -expected,
        "it is averaged over the pixels; the code of an image is the sum over its pixels": expected / 784,
    }, shape_hint="one value per image")


@_exercise("ex09.2", "bits-back cost",
           "compares bits_back_cost(model, x, z) on a small MLP VAE, 3 binary images and one code "
           "per image with (-log p(x|z) - log p(z) + log q(z|x)) / ln 2 computed with vae.losses "
           "(tolerance 1e-3 bits)")
def _check_bits_back(answer):
    import tensorflow as tf

    from vae import losses

    model = _tiny_model()
    x = _binary_images(3, seed=93)
    mean, log_var = model.encode(x)
    z = model.reparameterize(mean, log_var, seed=4)
    log_px_z = losses.bernoulli_log_likelihood(x, model.decode(z)).numpy().astype(np.float64)
    log_pz = losses.log_normal_density(z, 0.0, 0.0).numpy().astype(np.float64)
    log_qz = losses.log_normal_density(z, mean, log_var).numpy().astype(np.float64)
    expected = (-log_px_z + losses.kl_monte_carlo(z, mean, log_var).numpy()) / _LOG2
    got = _call(answer, model, tf.constant(x), z)
    _compare("the net cost", got, expected, atol=1e-3, mistakes={
        "no bits came back: subtract -log q(z|x), the bits the decoder recovers": (-log_px_z - log_pz) / _LOG2,
        "log q(z|x) has the wrong sign": (-log_px_z - log_pz - log_qz) / _LOG2,
        "that is in nats; divide by ln 2": expected * _LOG2,
        "only the bits of x given z are counted": -log_px_z / _LOG2,
    }, shape_hint="one value per image")


# =====================================================================================
# Exercise notebooks: answers, blanks
# =====================================================================================
class GradingError(ValueError):
    """A submission or reference that cannot be graded; the message is one line."""


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        if not all(isinstance(piece, str) for piece in source):
            raise GradingError("a cell's source is not text")
        return "".join(source)
    if not isinstance(source, str):
        raise GradingError("a cell's source is not text")
    return source


def _tags(cell: dict) -> list:
    metadata = cell.get("metadata")
    tags = metadata.get("tags", []) if isinstance(metadata, dict) else []
    return tags if isinstance(tags, list) else []


def _exercise_of(cell: dict):
    metadata = cell.get("metadata")
    return metadata.get(EXERCISE_KEY) if isinstance(metadata, dict) else None


def _stub_of(source: str) -> str:
    """The blank version of an answer cell: each function keeps its signature and docstring.

    Comments before the first statement and import statements are kept; every
    function body becomes ``raise NotImplementedError(...)``.
    """
    tree = ast.parse(source)
    lines = source.splitlines()
    if not tree.body:
        raise ValueError("an answer cell must define a function")
    first = tree.body[0]
    first_line = min([first.lineno] + [d.lineno for d in getattr(first, "decorator_list", [])])
    pieces = ["\n".join(lines[:first_line - 1]).rstrip()] if first_line > 1 else []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            pieces.append("\n".join(lines[node.lineno - 1:node.end_lineno]))
        elif isinstance(node, ast.FunctionDef):
            docstring = node.body[0] if node.body else None
            if not (isinstance(docstring, ast.Expr) and isinstance(getattr(docstring, "value", None), ast.Constant)
                    and isinstance(docstring.value.value, str)):
                raise ValueError(f"function {node.name} of an answer cell needs a docstring")
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            indent = " " * docstring.col_offset
            pieces.append("\n".join(lines[start - 1:docstring.end_lineno] + [indent + STUB_LINE]))
        else:
            raise ValueError(f"an answer cell may hold only imports and functions, found "
                             f"{type(node).__name__} on line {node.lineno}")
    return "\n\n\n".join(p for p in pieces if p)


def blank_exercise(solution: dict) -> dict:
    """The learner's blank notebook derived from a solution notebook.

    Every cell tagged ``answer`` keeps its functions' signatures and
    docstrings, with bodies replaced by ``raise NotImplementedError``; every
    other cell is unchanged; outputs, execution counts and the execution
    timings Jupyter records in cell metadata are cleared.

    Args:
        solution: a notebook as a dict (``json.load`` or ``nbformat.read``).

    Returns:
        a new notebook (the input is not modified).

    Introduced in chapter 2, whose exercises are the first graded ones.
    """
    blank = copy.deepcopy(solution)
    for cell in blank["cells"]:
        if cell.get("cell_type") != "code":
            continue
        cell["outputs"] = []
        cell["execution_count"] = None
        if isinstance(cell.get("metadata"), dict):
            cell["metadata"].pop("execution", None)
        if ANSWER_TAG in _tags(cell):
            cell["source"] = _stub_of(_source(cell))
    return blank


def _read_notebook(path: Path) -> dict:
    """A notebook file as a dict, or a one-line :class:`GradingError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise GradingError(f"{path} is not a notebook (not UTF-8 text)") from None
    except OSError as error:
        raise GradingError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        notebook = json.loads(text)
    except json.JSONDecodeError as error:
        raise GradingError(f"{path} is not valid JSON (line {error.lineno}, column {error.colno}: "
                           f"{error.msg})") from None
    if not (isinstance(notebook, dict) and isinstance(notebook.get("cells"), list)
            and isinstance(notebook.get("nbformat"), int)):
        raise GradingError(f"{path} is not a Jupyter notebook (no 'cells' list or 'nbformat' version)")
    if notebook["nbformat"] != 4:
        raise GradingError(f"{path} is a version {notebook['nbformat']} notebook; save it in format 4")
    if not all(isinstance(cell, dict) for cell in notebook["cells"]):
        raise GradingError(f"{path} is not a Jupyter notebook (a cell is not an object)")
    return notebook


def _answers_of(notebook: dict, path: Path) -> dict[str, str]:
    """The answer cells' sources by exercise id (cells of one exercise joined in order)."""
    answers: dict[str, list[str]] = {}
    for cell in notebook["cells"]:
        if cell.get("cell_type") == "code" and ANSWER_TAG in _tags(cell):
            exercise = _exercise_of(cell)
            if isinstance(exercise, str):
                try:
                    answers.setdefault(exercise, []).append(_source(cell))
                except GradingError as error:
                    raise GradingError(f"{path}: {error}") from None
    return {exercise: "\n\n".join(sources) for exercise, sources in answers.items()}


_GRADER_NAMES = {"grading", "builtins", "__builtins__", "__import__", "importlib", "sys", "globals",
                 "setattr", "delattr", "exec", "eval", "compile", "get_ipython", "EXERCISES"}


def _tampering(source: str) -> str | None:
    """Why an answer looks like it reaches for the grader or the kernel, or None.

    A speed bump, not a sandbox: answers run in the same kernel as the checks,
    so code that sets out to subvert them can; this refuses the obvious ways
    (names such as ``grading``, ``builtins``, ``sys``, ``get_ipython``, ``exec``).
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        if any(line.lstrip().startswith(("!", "%")) for line in source.splitlines()):
            return "the answer holds an IPython shell command or magic (! or %); answers are plain Python"
        return None  # a plain syntax error: the kernel reports it with its line
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Name):
            names = [node.id]
        elif isinstance(node, ast.Attribute):
            names = [node.attr]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [alias.name.split(".")[0] for alias in node.names] + [alias.name for alias in node.names]
            names += (node.module or "").split(".") if isinstance(node, ast.ImportFrom) else []
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "grading" in node.value.lower():
            names = ["grading"]
        found = sorted(set(names) & _GRADER_NAMES)
        if found:
            return (f"the answer uses '{found[0]}', which answers may not touch (it could change the "
                    f"checks); remove it")
    return None


@dataclasses.dataclass(frozen=True)
class _ReferenceLayout:
    """Where each exercise's cells are in a reference notebook."""

    exercises: list[str]            # exercise ids in notebook order
    titles: dict[str, str]
    cell_exercise: list             # for each code cell (nbval's "Cell N"), its exercise id or None
    cell_role: list                 # "answer", "check" or "setup"


def _layout_of(reference: dict, path: Path) -> _ReferenceLayout:
    exercises: list[str] = []
    cell_exercise, cell_role = [], []
    checked: set[str] = set()
    answered: set[str] = set()
    for cell in reference["cells"]:
        if cell.get("cell_type") != "code":
            continue
        exercise = _exercise_of(cell)
        tags = _tags(cell)
        role = "answer" if ANSWER_TAG in tags else "check" if CHECK_TAG in tags and exercise else "setup"
        if exercise is not None and exercise not in exercises:
            exercises.append(exercise)
        if role == "check":
            if cell.get("execution_count") is None or not cell.get("outputs"):
                raise GradingError(f"{path} is not an executed reference: the check cell of {exercise} "
                                   f"has no stored output (execute the solution notebook first)")
            checked.add(exercise)
        if role == "answer":
            if not isinstance(exercise, str):
                raise GradingError(f"{path}: an answer cell has no '{EXERCISE_KEY}' id in its metadata")
            answered.add(exercise)
        cell_exercise.append(exercise)
        cell_role.append(role)
    if not exercises:
        raise GradingError(f"{path} is not an exercise notebook: no cell carries an '{EXERCISE_KEY}' id")
    incomplete = [e for e in exercises if e not in checked or e not in answered]
    if incomplete:
        raise GradingError(f"{path}: exercise {incomplete[0]} needs an answer cell and an executed check cell")
    titles = {e: EXERCISES[e].title if e in EXERCISES else "" for e in exercises}
    return _ReferenceLayout(exercises, titles, cell_exercise, cell_role)


def _graded_copy(reference: dict, answers: dict[str, str], layout: _ReferenceLayout, path: Path) -> dict:
    """The reference with each answer cell's source replaced by the submission's answer."""
    missing = [e for e in layout.exercises if e not in answers]
    if missing:
        raise GradingError(f"{path} has no answer cell for exercise {missing[0]} (a code cell tagged "
                           f"'{ANSWER_TAG}' with \"{EXERCISE_KEY}\": \"{missing[0]}\" in its metadata); "
                           f"was it deleted or its tag removed?")
    graded = copy.deepcopy(reference)
    filled: set[str] = set()
    for cell in graded["cells"]:
        if cell.get("cell_type") == "code" and ANSWER_TAG in _tags(cell):
            exercise = _exercise_of(cell)
            cell["source"] = "" if exercise in filled else answers[exercise]
            filled.add(exercise)
            cell["outputs"] = []
    return graded


# =====================================================================================
# The grader
# =====================================================================================
@dataclasses.dataclass(frozen=True)
class ExerciseResult:
    """The grader's verdict on one exercise of one submission.

    Introduced in chapter 2, whose exercises are the first graded ones.
    """

    exercise: str
    title: str
    passed: bool
    reason: str = ""


@dataclasses.dataclass(frozen=True)
class SubmissionResult:
    """The grader's verdicts on one submitted notebook.

    Attributes:
        submission: the submitted file.
        reference: the reference notebook it was graded against (None if not found).
        exercises: one :class:`ExerciseResult` per exercise, in notebook order.
        error: why the submission could not be graded at all (None when it was).

    Introduced in chapter 2, whose exercises are the first graded ones.
    """

    submission: Path
    reference: Path | None
    exercises: tuple = ()
    error: str | None = None

    @property
    def passed(self) -> bool:
        """True when the submission was graded and every exercise passed."""
        return self.error is None and bool(self.exercises) and all(e.passed for e in self.exercises)


def submission_paths(paths) -> list[Path]:
    """The notebooks to grade: files as given, folders searched recursively for ``*.ipynb``.

    Raises:
        GradingError: a path that does not exist, or a folder with no notebook.

    Introduced in chapter 2, whose exercises are the first graded ones.
    """
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            notebooks = sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
            if not notebooks:
                raise GradingError(f"the folder {path} holds no .ipynb file")
            found.extend(notebooks)
        elif path.is_file():
            found.append(path)
        else:
            raise GradingError(f"{path} does not exist")
    return found


def _find_reference(submission: Path, reference: Path | None = None, notebook: dict | None = None) -> Path:
    """The reference notebook a submission is graded against.

    ``reference`` may be a notebook (used as is) or a folder of references;
    by default the folder is ``tests/solutions`` of the repository the
    package was installed from. In a folder, the reference is the file whose
    name starts with the ``exNN`` found in the submission's name, else the one
    named in the submission's metadata (``metadata.vae.exercises``).

    Raises:
        GradingError: no folder of references, or no single match.
    """
    if reference is not None and Path(reference).is_file():
        return Path(reference)
    folder = Path(reference) if reference is not None else REFERENCE_DIR
    if not folder.is_dir():
        raise GradingError(f"no reference notebooks in {folder}: pass --reference with the instructor's "
                           f"executed notebook (or a folder of them)")
    names = [match.group(1) for match in _NAME_PATTERN.finditer(submission.name)]
    stored = (notebook or {}).get("metadata", {}).get("vae", {}) if isinstance(notebook, dict) else {}
    if isinstance(stored, dict) and isinstance(stored.get("exercises"), str):
        names += [m.group(1) for m in _NAME_PATTERN.finditer(stored["exercises"])]
    for number in names:
        matches = sorted(folder.glob(f"ex{number}_*.ipynb"))
        if len(matches) == 1:
            return matches[0]
    raise GradingError(f"cannot tell which exercise notebook {submission.name} answers: keep the "
                       f"'exNN' of the exercise file in its name, or pass --reference")


def _ipython_dir(folder: Path) -> Path:
    """An IPython profile whose kernels import vae (TensorFlow) while they start.

    The import then counts against the kernel start-up time, not against the
    cell timeout, which measures the exercises alone.
    """
    profile = folder / "ipython" / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipython_kernel_config.py").write_text(
        "c.InteractiveShellApp.exec_lines = ['import vae']\n", encoding="utf-8")
    return folder / "ipython"


def _run_nbval(notebook_path: Path, folder: Path, timeout: float, log_path: Path,
               cells: int) -> tuple[Path, str]:
    """Run ``pytest --nbval-lax`` on one notebook in ``folder``; return the JUnit file and the output."""
    config = folder / "pytest.ini"
    config.write_text("[pytest]\n", encoding="utf-8")
    junit = folder / "nbval.xml"
    command = [sys.executable, "-m", "pytest", "-c", str(config), "--rootdir", str(folder),
               "-o", "addopts=", "-p", "no:cacheprovider", "--nbval-lax", "--nbval-current-env",
               f"--nbval-cell-timeout={timeout:g}", f"--nbval-kernel-startup-timeout={KERNEL_STARTUP_TIMEOUT:g}",
               "--junitxml", str(junit), "-q", "--color=no", "-W", "ignore", str(notebook_path)]
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    environment[LOG_VARIABLE] = str(log_path)
    environment["IPYTHONDIR"] = str(_ipython_dir(folder))
    environment["PYTHONDONTWRITEBYTECODE"] = "1"
    budget = KERNEL_STARTUP_TIMEOUT + (max(cells, 1) + 1) * (timeout + 15.0)
    process = subprocess.Popen(command, cwd=folder, env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=budget)
    except subprocess.TimeoutExpired:
        _stop(process)
        output, _ = process.communicate()
        output += f"\nthe whole run exceeded {budget:.0f} s and was stopped"
    except BaseException:  # Ctrl-C: the run is in its own session and would outlive us
        _stop(process)
        raise
    return junit, output or ""


def _stop(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _cell_verdicts(junit: Path) -> dict[int, tuple[str, str]]:
    """nbval's outcome per code cell: ``{N: (outcome, message)}`` with outcome pass/fail/xfail/skip."""
    try:
        tree = ElementTree.parse(junit)
    except (OSError, ElementTree.ParseError):
        return {}
    verdicts = {}
    for case in tree.iter("testcase"):
        match = re.fullmatch(r"Cell (\d+)", case.get("name", ""))
        if not match:
            continue
        outcome, message = "pass", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome, message = "fail", child.text or child.get("message", "")
            elif child.tag == "skipped":
                is_xfail = child.get("type") == "pytest.xfail"
                outcome, message = ("xfail" if is_xfail else "skip"), child.get("message", "")
        verdicts[int(match.group(1))] = (outcome, _ANSI.sub("", message))
    return verdicts


def _reason_of(message: str, timeout: float) -> str:
    """One line saying why nbval failed a cell."""
    if "Timeout of" in message:
        return f"stopped after {timeout:g} s: the cell did not finish (an endless loop, or the kernel died)"
    if "Cell outputs differ" in message:
        return "its output differs from the reference"
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    exceptions = [line for line in lines if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b", line)]
    if exceptions:
        text = exceptions[-1]
        return "raised " + (text if len(text) <= 160 else text[:157] + "...")
    return "failed: " + (lines[0][:150] if lines else "no result")


def _logged_lines(log_path: Path) -> dict[str, str]:
    lines: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for raw in log_path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                entry = json.loads(raw)
                lines[str(entry["exercise"])] = str(entry["line"])
    return lines


def _logged_verdict(line: str, exercise: str, title: str) -> str:
    prefix = f"{exercise} {title}: "
    return line[len(prefix):] if line.startswith(prefix) else line


def _verdicts(layout: _ReferenceLayout, cells: dict, logged: dict, timeout: float,
              output: str) -> tuple:
    results = []
    last_output_line = next((line for line in reversed(output.splitlines()) if line.strip()), "")
    for exercise in layout.exercises:
        title = layout.titles.get(exercise, "")
        reason = ""
        for number, (owner, role) in enumerate(zip(layout.cell_exercise, layout.cell_role)):
            if owner != exercise:
                continue
            outcome, message = cells.get(number, ("missing", ""))
            if outcome == "pass":
                continue
            if outcome == "missing":
                reason = "not run (" + (last_output_line[:120] or "the kernel stopped") + ")"
            elif outcome == "skip":
                reason = "skipped"
            else:
                reason = _reason_of(message, timeout) if outcome == "fail" else "failed"
                verdict = _logged_verdict(logged.get(exercise, ""), exercise, title)
                if role == "check" and verdict and verdict != "correct" and "stopped after" not in reason:
                    reason = verdict
                elif role == "check" and verdict == "correct" and "differs" in reason:
                    reason += " (the check passed, but the cell printed something more)"
                if role == "answer":
                    reason = "the answer cell " + reason
                if outcome == "xfail":
                    reason += " (after an earlier cell timed out)"
            break
        results.append(ExerciseResult(exercise, title, passed=not reason, reason=reason))
    return tuple(results)


def grade_submission(submission, reference=None, timeout: float = DEFAULT_TIMEOUT) -> SubmissionResult:
    """Grade one submitted notebook: transplant its answers into the reference and run nbval.

    The submission file is only read. Its ``answer`` cells (matched by the
    ``exercise`` id in their metadata) replace the answers of a fresh copy of
    the reference, written to a temporary folder; ``pytest --nbval-lax`` runs
    that copy in a new kernel with ``timeout`` seconds per cell, and each
    exercise passes when its answer cell runs and its check cell prints the
    reference's line. Everything else the submission holds, its check cells
    and their stored outputs included, is ignored.

    This runs the submission's code: grade untrusted work in a sandbox.

    Args:
        submission: path of the learner's notebook.
        reference: the reference notebook or a folder of them (see :func:`_find_reference`).
        timeout: seconds each cell may run before it is stopped and counted as failed.

    Returns:
        a :class:`SubmissionResult`; a submission that cannot be read or lacks
        an answer cell gets ``error`` set and no exercises.

    Raises:
        GradingError: the reference is missing or is not an executed exercise notebook.

    Introduced in chapter 2, whose exercises are the first graded ones.
    """
    submission = Path(submission)
    try:
        notebook = _read_notebook(submission)
    except GradingError as error:
        return SubmissionResult(submission, None, error=str(error))
    try:
        reference_path = _find_reference(submission, None if reference is None else Path(reference), notebook)
    except GradingError as error:
        return SubmissionResult(submission, None, error=str(error))
    reference_notebook = _read_notebook(reference_path)
    layout = _layout_of(reference_notebook, reference_path)
    try:
        answers = _answers_of(notebook, submission)
        graded = _graded_copy(reference_notebook, answers, layout, submission)
    except GradingError as error:
        return SubmissionResult(submission, reference_path, error=str(error))
    withheld = {exercise: why for exercise in layout.exercises
                if (why := _tampering(answers[exercise])) is not None}
    for cell in graded["cells"]:
        if _exercise_of(cell) in withheld and ANSWER_TAG in _tags(cell):
            cell["source"] = "# withheld by the grader\n"
    folder = Path(tempfile.mkdtemp(prefix="vae-grade-"))
    try:
        copy_path = folder / reference_path.name
        copy_path.write_text(json.dumps(graded, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        log_path = folder / "checks.jsonl"
        junit, output = _run_nbval(copy_path, folder, timeout, log_path, len(layout.cell_role))
        results = _verdicts(layout, _cell_verdicts(junit), _logged_lines(log_path), timeout, output)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    results = tuple(dataclasses.replace(r, passed=False, reason=withheld[r.exercise]) if r.exercise in withheld
                    else r for r in results)
    return SubmissionResult(submission, reference_path, results)


# -- reports ---------------------------------------------------------------------------
def format_table(result: SubmissionResult) -> str:
    """A plain-text table of one submission's verdicts: exercise, pass/FAIL, reason.

    Introduced in chapter 2, whose exercises are the first graded ones.
    """
    if result.error is not None:
        return f"{result.submission}: not graded: {result.error}"
    header = f"{result.submission}  (reference {result.reference.name})" if result.reference else str(result.submission)
    names = [f"{e.exercise} {e.title}".strip() for e in result.exercises]
    width = max([len("exercise")] + [len(n) for n in names])
    lines = [header, f"  {'exercise':<{width}}  result  reason"]
    for name, exercise in zip(names, result.exercises):
        lines.append(f"  {name:<{width}}  {'pass' if exercise.passed else 'FAIL':<6}  {exercise.reason}".rstrip())
    passed = sum(e.passed for e in result.exercises)
    lines.append(f"  {passed} of {len(result.exercises)} exercises passed")
    return "\n".join(lines)


def write_csv(results, path) -> None:
    """Write one CSV row per exercise of every submission (an ungraded one gets one ``error`` row).

    Columns: ``submission, reference, exercise, title, result, reason``; result
    is ``pass``, ``fail`` or ``error``.

    Introduced in chapter 2, whose exercises are the first graded ones.
    """
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission", "reference", "exercise", "title", "result", "reason"])
        for result in results:
            reference = result.reference.name if result.reference else ""
            if result.error is not None:
                writer.writerow([str(result.submission), reference, "", "", "error", result.error])
            for exercise in result.exercises:
                writer.writerow([str(result.submission), reference, exercise.exercise, exercise.title,
                                 "pass" if exercise.passed else "fail", exercise.reason])


def write_junit(results, path) -> None:
    """Write a JUnit XML report: one test suite per submission, one test case per exercise.

    Introduced in chapter 2, whose exercises are the first graded ones.
    """
    root = ElementTree.Element("testsuites", name="vae grade")
    for result in results:
        failures = sum(not e.passed for e in result.exercises)
        suite = ElementTree.SubElement(root, "testsuite", name=str(result.submission),
                                       tests=str(len(result.exercises) or 1), failures=str(failures),
                                       errors="1" if result.error else "0")
        if result.error is not None:
            case = ElementTree.SubElement(suite, "testcase", classname=str(result.submission), name="notebook")
            ElementTree.SubElement(case, "error", message=result.error)
        for exercise in result.exercises:
            case = ElementTree.SubElement(suite, "testcase", classname=str(result.submission),
                                          name=f"{exercise.exercise} {exercise.title}".strip())
            if not exercise.passed:
                ElementTree.SubElement(case, "failure", message=exercise.reason)
    ElementTree.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)

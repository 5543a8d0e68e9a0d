"""The machinery of the exercise checks: the registry, :func:`check`, and how answers are compared.

Introduced in chapter 2, whose exercises are the first graded ones.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import os
import warnings
from typing import Callable

import numpy as np

LOG_VARIABLE = "VAE_GRADING_LOG"  # where check() also records its line while the grader runs
_LOG2 = math.log(2.0)


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


def _encoded_images(count: int, seed: int):
    """The tiny model, ``count`` binary images ``(count, 28, 28, 1)`` and their posterior ``(mean, log_var)``."""
    model = _tiny_model()
    images = _binary_images(count, seed)
    return model, images, model.encode(images)


def _gaussian_parameters(rows: int, dim: int, seed: int):
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    mean = tf.constant(rng.normal(0.0, 1.0, (rows, dim)), tf.float32)
    log_var = tf.constant(rng.uniform(-2.0, 1.5, (rows, dim)), tf.float32)
    return mean, log_var

"""The exercise spec (:class:`Exercise`, with its ``judge``), the registry and :func:`check`, the kernel's side.

An exercise is data: cases made from a seed, a probe that calls the
learner's function on a case and returns numbers, the reference's numbers for
a case, named mistakes (the numbers a common mistake gives on the same case)
and tolerances. The specs are in :mod:`vae.grading.exercises`.

Introduced in chapter 2, whose exercises are the first graded ones.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import re
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from vae.grading.records import _as_numbers, _case_digest, _write_record

TASK_VARIABLE = "VAE_GRADING_TASK"  # the grader's task file (seed, nonce, record folder), only while it runs
SELF_CHECK_SEED = 0  # the cases a learner's own check uses; the grader draws a fresh seed per run
OUTPUT_LIMIT = 2**20  # characters an answer may print during one check before it is stopped


class OutputLimitError(RuntimeError):
    """Raised in the kernel when an answer prints more than its share."""


@dataclasses.dataclass(frozen=True)
class Exercise:
    """One graded exercise, as data. See the contract in :mod:`vae.grading`.

    Attributes:
        id: ``"exNN.M"``; ``NN`` is the chapter the exercise belongs to.
        title: a few lowercase words, printed after the id.
        checks: one sentence for ``grade --list``: the inputs, the reference, the tolerance.
        cases: ``cases(rng) -> [case, ...]``; a case is a dict of numbers,
            strings and NumPy arrays, drawn only from ``rng`` (both the kernel
            and the grader call it, and must get the same inputs).
        probe: ``probe(answer, case) -> {key: numbers}``, run in the kernel:
            builds what the answer needs from the case (tensors, a small
            model, an optimizer), calls it and returns what it gave.
        reference: ``reference(case) -> {key: numbers}``, run in the grader.
        mistakes: ``{what the mistake is: mistake(case) -> {key: numbers}}``;
            a mistake may give only some keys, and matches when those agree.
        atol, rtol: the tolerances of every key, unless ``tolerances`` names it
            (``{key: (atol, rtol)}``).
        summary: ``summary(case, outputs) -> outputs``, run in the grader on
            the recorded outputs before they are compared (statistics of draws).
        names: how messages call each key (default: the key).
        hints: ``{key: hint}`` added when that key has the wrong shape, and
            ``{key + "!finite": hint}`` when it holds NaN or infinite values.
        implementations: the package's own names for the function asked for
            (``"kl_standard_normal"``); an answer whose source uses one of
            them earns no credit.
        explanation: why the answer is right (multiple-choice questions),
            shown in a student's feedback only after grading; never in the
            notebook's check line.

    Introduced in chapter 2, whose exercises are the first graded ones.
    """

    id: str
    title: str
    checks: str
    cases: Callable
    probe: Callable
    reference: Callable
    mistakes: dict
    atol: float = 1e-5
    rtol: float = 1e-5
    tolerances: dict = dataclasses.field(default_factory=dict)
    summary: Callable | None = None
    names: dict = dataclasses.field(default_factory=dict)
    hints: dict = dataclasses.field(default_factory=dict)
    implementations: tuple = ()
    explanation: str = ""

    @property
    def chapter(self) -> int:
        """The chapter number, from the id."""
        return int(self.id[2:4])

    def make_cases(self, seed: int) -> list[dict]:
        """The exercise's cases for ``seed``: the same in every process."""
        numbers = [int(n) for n in re.findall(r"\d+", self.id)]
        return list(self.cases(np.random.default_rng([int(seed) % 2**63, *numbers])))

    def register(self) -> "Exercise":
        """Add this exercise to :data:`EXERCISES` (its id new, of the form ``exNN.M``, with two mistakes or more); return it."""
        if not re.fullmatch(r"ex\d\d\.\d+", self.id):
            raise ValueError(f"an exercise id is 'exNN.M', not {self.id!r}")
        if self.id in EXERCISES:
            raise ValueError(f"exercise {self.id} is already registered")
        if len(self.mistakes) < 2:
            raise ValueError(f"exercise {self.id} names {len(self.mistakes)} mistakes; give at least two")
        EXERCISES[self.id] = self
        return self

    def judge(self, cases: list[dict], results: list) -> str | None:
        """None when every case's result matches the reference, else the reason for the first that does not."""
        return _judge(self, cases, results)


EXERCISES: dict[str, Exercise] = {}




# -- the kernel's side -----------------------------------------------------------------
class _CappedText(io.StringIO):
    def write(self, text):
        if self.tell() + len(text) > OUTPUT_LIMIT:
            raise OutputLimitError(f"the answer printed more than {OUTPUT_LIMIT // 2**20} MB")
        return super().write(text)


def _name_of(answer) -> str:
    return getattr(answer, "__name__", "the answer")


def _first_line(error: BaseException, limit: int = 160) -> str:
    text = str(error).strip().splitlines()
    text = text[0] if text else ""
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _run_case(exercise: Exercise, answer, case: dict):
    """The probe's outputs on one case as numeric arrays, or a one-line message saying why there are none.

    Introduced in chapter 2, whose exercises are the first graded ones.
    """
    if not callable(answer):
        return f"expected a function, got {type(answer).__name__}"
    try:
        with contextlib.redirect_stdout(_CappedText()), contextlib.redirect_stderr(_CappedText()), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outputs = exercise.probe(answer, case)
    except NotImplementedError:
        return f"not answered yet ({_name_of(answer)} still raises NotImplementedError)"
    except (Exception, SystemExit) as error:  # noqa: BLE001 - any bug in the answer fails the exercise
        return f"{_name_of(answer)} raised {type(error).__name__}: {_first_line(error)}"
    try:
        return {key: _as_numbers(value, _name_of(answer)) for key, value in outputs.items()}
    except TypeError as error:
        return str(error)


def _task() -> dict | None:
    path = os.environ.get(TASK_VARIABLE)
    if not path:
        return None
    return json.loads(Path(path).read_text(encoding="utf-8"))


def check(exercise: str, answer) -> None:
    """Run the learner's function on the exercise's cases; print one line.

    In a learner's notebook the line is a self-check, ``"<id> <title>:
    correct"`` or what is wrong, computed in the kernel: a help, not a grade.
    While ``python -m vae grade`` runs the notebook, this only records what the
    function returned on the grader's fresh cases (a record file, numbers
    only) and prints ``"<id> <title>: recorded"``; the grader, in another
    process, decides pass or fail.

    Args:
        exercise: the exercise id, e.g. ``"ex04.2"`` (see :data:`EXERCISES`).
        answer: the learner's function.

    Introduced in chapter 2, whose exercises are the first graded ones.
    """
    spec = EXERCISES.get(exercise)
    if spec is None:
        raise ValueError(f"unknown exercise {exercise!r}; known: {', '.join(EXERCISES)}")
    task = _task()
    cases = spec.make_cases(task["seed"] if task else SELF_CHECK_SEED)
    results = [_run_case(spec, answer, case) for case in cases]
    if task:
        _write_record(Path(task["records"]) / f"{spec.id}.npz", spec.id, task["nonce"],
                     [_case_digest(case) for case in cases], results)
        print(f"{spec.id} {spec.title}: recorded")
        return
    print(f"{spec.id} {spec.title}: {spec.judge(cases, results) or 'correct'}")


# -- the grader's side -----------------------------------------------------------------
def _shape(shape) -> str:
    shape = tuple(int(s) for s in shape)
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _close(exercise: Exercise, key: str, got, expected) -> bool:
    atol, rtol = exercise.tolerances.get(key, (exercise.atol, exercise.rtol))
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    return (got.shape == expected.shape and bool(np.all(np.isfinite(got)))
            and bool(np.allclose(got, expected, rtol=rtol, atol=atol)))


def _difference(exercise: Exercise, key: str, got, expected) -> str:
    what = exercise.names.get(key, key)
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        hint = f" ({exercise.hints[key]})" if key in exercise.hints else ""
        return f"{what} has shape {_shape(got.shape)}, expected {_shape(expected.shape)}{hint}"
    if not np.all(np.isfinite(got)):
        kind = "NaN" if np.isnan(got).any() else "infinite"
        hint = f" ({exercise.hints[key + '!finite']})" if key + "!finite" in exercise.hints else ""
        return f"{what} holds {kind} values where the reference is finite{hint}"
    atol, rtol = exercise.tolerances.get(key, (exercise.atol, exercise.rtol))
    error = np.abs(got - expected) - atol - rtol * np.abs(expected)
    index = np.unravel_index(int(np.argmax(error)), got.shape) if got.shape else ()
    where = f" at index {_shape(index)}" if got.shape else ""
    return f"{what} differs from the reference{where}: expected {expected[index]:.5g}, got {got[index]:.5g}"


def _generic_mistakes(expected: dict) -> dict:
    """The slips every single-valued answer can make: a wrong sign, a factor 2 too many or too few."""
    if list(expected) != ["value"]:
        return {}
    value = np.asarray(expected["value"], dtype=np.float64)
    return {"it has the wrong sign": {"value": -value},
            "it is twice the reference (is a factor 1/2 missing?)": {"value": 2.0 * value},
            "it is half the reference (a factor 1/2 too many?)": {"value": 0.5 * value}}


def _judge_case(exercise: Exercise, case: dict, result) -> str | None:
    """None when one case's recorded result matches the reference, else why not (a mistake's name if one matches).

    Introduced in chapter 2, whose exercises are the first graded ones.
    """
    if isinstance(result, str):
        return result
    got = exercise.summary(case, result) if exercise.summary else result
    expected = exercise.reference(case)
    if all(key in got and _close(exercise, key, got[key], value) for key, value in expected.items()):
        return None
    mistakes = {name: mistake(case) for name, mistake in exercise.mistakes.items()}
    for name, outputs in {**mistakes, **_generic_mistakes(expected)}.items():
        if outputs and all(key in got and _close(exercise, key, got[key], value) for key, value in outputs.items()):
            return f"wrong: {name}"
    for key, value in expected.items():
        if key not in got:
            return f"the record holds no {exercise.names.get(key, key)}"
        if not _close(exercise, key, got[key], value):
            return _difference(exercise, key, got[key], value)
    return "wrong"  # not reached: some key differs


def _judge(exercise: Exercise, cases: list[dict], results: list) -> str | None:
    """None when every case matches the reference, else the reason for the first that does not.

    Introduced in chapter 2, whose exercises are the first graded ones.
    """
    for case, result in zip(cases, results):
        reason = _judge_case(exercise, case, result)
        if reason is not None:
            label = case.get("label")
            return f"{label}: {reason}" if isinstance(label, str) and len(cases) > 1 else reason
    return None


# -- the kernel's limits, set by the grader's kernel profile ----------------------------------
class _CappedStream:
    """A kernel's stdout or stderr that stops the cell once the submission has printed ``limit`` characters."""

    def __init__(self, stream, counter: list, limit: int):
        self._stream, self._counter, self._limit = stream, counter, limit

    def write(self, text):
        self._counter[0] += len(text)
        if self._counter[0] > self._limit:
            if self._counter[0] - len(text) <= self._limit:  # the write that crosses the limit stops its cell
                raise OutputLimitError(f"the notebook printed more than {self._limit // 2**20} MB; "
                                       f"the rest is dropped")
            return len(text)
        return self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _limit_kernel(memory_bytes: int, output_bytes: int) -> None:
    """Cap the kernel's address space at its present size plus ``memory_bytes``, and what it may print.

    Called by the grader's kernel profile after ``import vae``, so the limits
    measure the submission, not TensorFlow. A submission could lift the print
    cap (it runs in this process); the grader caps the run's log on its side too.

    Introduced in chapter 2, whose exercises are the first graded ones.
    """
    import resource
    import sys

    import psutil

    if memory_bytes > 0:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        wanted = psutil.Process().memory_info().vms + int(memory_bytes)
        if hard != resource.RLIM_INFINITY:
            wanted = min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))
    if output_bytes > 0:
        counter = [0]
        sys.stdout = _CappedStream(sys.stdout, counter, int(output_bytes))
        sys.stderr = _CappedStream(sys.stderr, counter, int(output_bytes))

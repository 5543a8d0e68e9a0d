"""The machinery of the exercise checks: the registry and :func:`check` (the checks are in :mod:`vae.grading.exercises`).

Introduced in chapter 2, whose exercises are the first graded ones.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Callable

LOG_VARIABLE = "VAE_GRADING_LOG"  # where check() also records its line while the grader runs


class WrongAnswer(Exception):
    """An exercise's check: the answer ran but its result is wrong; the message says how."""


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

    @classmethod
    def register(cls, exercise_id: str, title: str, checks: str) -> Callable:
        """A decorator that registers ``run`` in :data:`EXERCISES` as the check of ``exercise_id``.

        ``run(answer)`` returns nothing for a right answer and raises
        :class:`WrongAnswer` (or anything else) for a wrong one.
        """
        def register(run):
            EXERCISES[exercise_id] = cls(exercise_id, title, int(exercise_id[2:4]), checks, run)
            return run
        return register


EXERCISES: dict[str, Exercise] = {}


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
        except WrongAnswer as wrong:
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

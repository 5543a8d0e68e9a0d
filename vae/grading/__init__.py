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
(the solution, ``vae/grading/references/exNN_*.ipynb``), runs ``pytest --nbval-lax``
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

The package has five parts: :mod:`~vae.grading.checking` (the registry and
:func:`check`), :mod:`~vae.grading.exercises` (one check per exercise),
:mod:`~vae.grading.notebooks` (answer and check cells, blanks, graded copies),
:mod:`~vae.grading.grader` (running nbval, verdicts) and
:mod:`~vae.grading.reports` (table, CSV, JUnit). Everything a notebook, the
command line or an instructor needs is importable from ``vae.grading``.

Introduced in chapter 2, whose exercises are the first graded ones (chapters 2 to 9 all
have graded exercises).
"""

from vae.grading import exercises  # noqa: F401  (registers every exercise's spec in EXERCISES)
from vae.grading.checking import EXERCISES, TASK_VARIABLE, Exercise, check, judge, register
from vae.grading.grader import (DEFAULT_MEMORY_LIMIT, DEFAULT_OUTPUT_LIMIT, DEFAULT_TIMEOUT, KERNEL_STARTUP_TIMEOUT,
                                REFERENCE_DIR, ExerciseResult, SubmissionResult, grade_submission, grade_submissions,
                                judge_records, submission_paths)
from vae.grading.notebooks import ANSWER_TAG, CHECK_TAG, EXERCISE_KEY, STUB_LINE, GradingError, blank_exercise
from vae.grading.records import RecordError, read_record, write_record
from vae.grading.reports import (feedback_text, format_table, student_of, write_csv, write_feedback, write_gradebook,
                                 write_junit)

__all__ = ["ANSWER_TAG", "CHECK_TAG", "DEFAULT_MEMORY_LIMIT", "DEFAULT_OUTPUT_LIMIT", "DEFAULT_TIMEOUT", "EXERCISES",
           "EXERCISE_KEY", "KERNEL_STARTUP_TIMEOUT", "REFERENCE_DIR", "STUB_LINE", "TASK_VARIABLE", "Exercise",
           "ExerciseResult", "GradingError", "RecordError", "SubmissionResult", "blank_exercise", "check",
           "feedback_text", "format_table", "grade_submission", "grade_submissions", "judge", "judge_records",
           "read_record", "register", "student_of", "submission_paths", "write_csv", "write_feedback",
           "write_gradebook", "write_junit", "write_record"]

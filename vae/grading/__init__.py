"""Graded exercises: the specs, the kernel's check and the grader behind ``python -m vae grade``.

Notebooks
---------
An exercise notebook (``chapters/exercises/exNN_*.ipynb``) pairs each task
with two code cells, both carrying the exercise's id in their metadata
(``"exercise": "ex04.2"``): an *answer* cell, tagged ``answer``, where the
learner writes a function (the blank notebook holds its signature, its
docstring and ``raise NotImplementedError``), and a *check* cell, tagged
``nbval-check-output``, that calls ``grading.check("ex04.2", kl_divergence)``.
Blank notebooks are derived from the executed solutions, the references in
``vae/grading/references/`` (found by the installed package; an instructor
passes a private set with ``--reference DIR``), by :func:`blank_exercise`.

Verdicts outside the submission
-------------------------------
:func:`check` runs in the kernel, next to the submitted code, so nothing it
computes is trusted. In a learner's own notebook it prints a self-check line
(``ex04.2 kl divergence: correct``, or what is wrong) computed on fixed cases.
While the grader runs the notebook it only *records*: it draws the
exercise's cases from the run's fresh random seed, calls the learner's
function on each and writes what it returned (numbers only; ``.npz`` read with
``allow_pickle=False``, see :mod:`~vae.grading.records`) with the run's
one-time nonce and a digest of each case's inputs.

:func:`grade_submission` copies only the submission's answer cells into a
fresh copy of the reference, runs it under nbval in a new kernel (a per-cell
timeout, a memory limit set with ``resource.setrlimit`` in the kernel, a cap
on what it prints, a budget for the whole run) and then, in the grader's own
process, where no submitted code runs, regenerates the cases, reads each
record and compares it with the spec's reference and its named mistakes
(``grader._judge_records``). A record that is missing, malformed, for other
inputs, from another run or oversized fails with that reason (nbval's own
report is read only to explain a failure: a timeout, an answer cell that
raised, a kernel that died). So rebinding
``grading.check`` or anything else of ``vae.grading`` in the kernel, editing
check cells or stored outputs, printing ``correct`` or ``PASSED``,
monkeypatching NumPy or TensorFlow, exiting the kernel, deleting records or
writing records made elsewhere gains nothing (``tests/test_grading_forgery.py``
tries each). :func:`grade_submissions` grades a class in parallel;
:func:`write_gradebook` and :func:`write_feedback` write its results.

The trust boundary that remains: the kernel holds the package, the seed, the
nonce and the record folder, so a submission that sets out to compute the
correct numbers by other means than its own function (the package's
reference implementation, the spec's ``reference``, the solutions in the
shipped reference notebooks) and write them as its record gets the outputs
right; the grader checks numbers on fresh inputs, not authorship. Answers
whose source names the package's own implementation of the function asked
for (``Exercise.implementations``) earn no credit and are told so, and
answers that name the grading machinery (``grading``, ``EXERCISES``,
``builtins``, ``sys``, ``exec``, ``get_ipython``, shell escapes) are withheld;
both are screens on the source, which obfuscation defeats. And the grader
runs the submission's code with the grader's rights: grade untrusted work in
a sandbox (a container with no network, as a separate user; see the
instructor page, ``book/instructors.md``).

Adding an exercise: the contract
--------------------------------
An exercise is data, an :class:`Exercise` registered with ``Exercise(...).register()``
in a module imported by this package (today :mod:`~vae.grading.exercises`):

- ``id`` ``"exNN.M"`` (``NN`` its chapter), ``title`` (a few lowercase words)
  and ``checks`` (one sentence for ``grade --list``: inputs, reference,
  tolerance).
- ``cases(rng)``: the inputs, drawn only from the NumPy generator it is given
  (the kernel and the grader must get identical cases): a list of dicts of
  numbers, strings and numeric arrays. Small configurations (a model's seed,
  a learning rate) are inputs too: the probe and the reference build the
  model from them. An optional ``"label"`` string names a case in messages.
- ``probe(answer, case) -> {key: numbers}``: runs in the kernel; turns the
  case into what the learner's function takes (tensors, a tiny model, an
  optimizer), calls it, and returns what it gave, as arrays or numbers.
  Anything it computes beyond the answer's result is untrusted.
- ``reference(case) -> {key: numbers}``: runs in the grader.
- ``mistakes``: at least two, ``{"what the mistake is, in words the learner
  reads": mistake(case) -> {key: numbers}}``, each the numbers a named
  common mistake gives on the same case; a mistake may give only some keys.
- ``atol``/``rtol`` or per-key ``tolerances``; optional ``summary(case,
  outputs)`` (statistics of random draws, computed in the grader), ``names``
  and ``hints`` for messages, ``implementations`` (the package's names
  for the function asked for) and ``explanation`` (why the answer is what it
  is: written after the verdict in the grader's feedback, never printed by
  the self-check; ``ex02.3``, a multiple-choice question, has one).

Kinds that fit: a function the learner re-implements; a derivation entered
as a function (``ex01.1``: the KL between two Gaussians, checked on fresh
means and variances) or as a number (a probe that returns the answer's
number, a reference that computes it from the case); a small experiment (the
probe trains a tiny model from the case's seed for a few steps and returns a
quantity; ``tolerances`` bound it); a multiple-choice answer (the probe
returns the index chosen; each wrong option worth naming is a mistake). Then add the answer and check cells to a
reference notebook under ``vae/grading/references/``, execute it, write the
blank with :func:`blank_exercise`, and add a wrong answer per mistake to the
tests: ``tests/test_grading_forgery.py`` already checks that every registered
mistake is told apart from the reference.

The package has six parts: :mod:`~vae.grading.checking` (the spec and its
``judge``, the registry, :func:`check`), :mod:`~vae.grading.exercises` (the
specs), :mod:`~vae.grading.records` (record files),
:mod:`~vae.grading.notebooks` (answer and check cells, blanks, graded copies),
:mod:`~vae.grading.grader` (running nbval, verdicts, a class) and
:mod:`~vae.grading.reports` (table, CSV, JUnit, gradebook, feedback).

Introduced in chapter 2, whose exercises are the first graded ones (chapters 1 to 10 all
have graded exercises).
"""

from vae.grading import exercises  # noqa: F401  (registers every exercise's spec in EXERCISES)
from vae.grading.checking import EXERCISES, TASK_VARIABLE, Exercise, check
from vae.grading.grader import (DEFAULT_MEMORY_LIMIT, DEFAULT_OUTPUT_LIMIT, DEFAULT_TIMEOUT, KERNEL_STARTUP_TIMEOUT,
                                REFERENCE_DIR, ExerciseResult, SubmissionResult, grade_submission, grade_submissions,
                                submission_paths)
from vae.grading.notebooks import ANSWER_TAG, CHECK_TAG, EXERCISE_KEY, STUB_LINE, GradingError, blank_exercise
from vae.grading.records import RecordError
from vae.grading.reports import format_table, write_csv, write_feedback, write_gradebook, write_junit

__all__ = ["ANSWER_TAG", "CHECK_TAG", "DEFAULT_MEMORY_LIMIT", "DEFAULT_OUTPUT_LIMIT", "DEFAULT_TIMEOUT", "EXERCISES",
           "EXERCISE_KEY", "KERNEL_STARTUP_TIMEOUT", "REFERENCE_DIR", "STUB_LINE", "TASK_VARIABLE", "Exercise",
           "ExerciseResult", "GradingError", "RecordError", "SubmissionResult", "blank_exercise", "check",
           "format_table", "grade_submission", "grade_submissions", "submission_paths", "write_csv", "write_feedback",
           "write_gradebook", "write_junit"]

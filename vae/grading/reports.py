"""Reports of graded submissions: a plain-text table, CSV and JUnit XML.

Introduced in chapter 2, whose exercises are the first graded ones.
"""

from __future__ import annotations

import contextlib
import csv
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from vae.grading.checking import EXERCISES
from vae.grading.grader import SubmissionResult


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


def _student_of(submission: Path, roots=()) -> str:
    """Who a submission belongs to: its first folder under the class folder it was found in, else its file's stem.

    ``submissions/alice/ex02_....ipynb`` is Alice's; ``submissions/bob.ipynb`` is Bob's. A notebook
    given by itself and named after its exercise (``alice/ex02_....ipynb``) is its folder's.

    Introduced in chapter 2, whose exercises are the first graded ones.
    """
    submission = Path(submission)
    for root in map(Path, roots):
        with contextlib.suppress(ValueError):
            parts = submission.resolve().relative_to(root.resolve()).parts
            if len(parts) > 1:
                return parts[0]
    if re.match(r"ex\d\d", submission.stem, re.IGNORECASE) and submission.parent.name:
        return submission.resolve().parent.name
    return submission.stem


def _by_student(results, roots) -> dict[str, list]:
    students: dict[str, list] = {}
    for result in results:
        students.setdefault(_student_of(result.submission, roots), []).append(result)
    return dict(sorted(students.items()))


def write_gradebook(results, path, roots=()) -> None:
    """Write the class's gradebook: one row per student, one column per exercise (1 pass, 0 fail), a total.

    An exercise a student did not hand in, or that could not be graded, is 0.

    Introduced in chapter 2, whose exercises are the first graded ones.
    """
    students = _by_student(results, roots)
    exercises = sorted({e.exercise for result in results for e in result.exercises})
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", *exercises, "total"])
        for student, graded in students.items():
            passed = {e.exercise for result in graded for e in result.exercises if e.passed}
            marks = [int(exercise in passed) for exercise in exercises]
            writer.writerow([student, *marks, sum(marks)])


def _feedback_text(student: str, results) -> str:
    """A student's feedback: for each notebook, each exercise passed or failed and why (no reference code).

    Introduced in chapter 2, whose exercises are the first graded ones.
    """
    lines = [f"# Feedback for {student}", ""]
    for result in results:
        lines.append(f"## {Path(result.submission).name}")
        lines.append("")
        if result.error is not None:
            lines += [f"Not graded: {result.error}", ""]
            continue
        passed = sum(e.passed for e in result.exercises)
        lines.append(f"{passed} of {len(result.exercises)} exercises passed.")
        lines.append("")
        for exercise in result.exercises:
            verdict = "passed" if exercise.passed else f"FAILED: {exercise.reason}"
            lines.append(f"- {exercise.exercise} {exercise.title}: {verdict}")
            spec = EXERCISES.get(exercise.exercise)
            if spec is not None and spec.explanation:
                lines.append(f"  Explanation: {spec.explanation}")
        lines.append("")
    return "\n".join(lines)


def write_feedback(results, folder, roots=()) -> list[Path]:
    """Write one Markdown feedback file per student into ``folder`` (``<student>.md``); return their paths.

    Introduced in chapter 2, whose exercises are the first graded ones.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for student, graded in _by_student(results, roots).items():
        path = folder / f"{student}.md"
        path.write_text(_feedback_text(student, graded), encoding="utf-8")
        written.append(path)
    return written

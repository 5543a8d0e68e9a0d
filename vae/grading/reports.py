"""Reports of graded submissions: a plain-text table, CSV and JUnit XML.

Introduced in chapter 2, whose exercises are the first graded ones.
"""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ElementTree

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

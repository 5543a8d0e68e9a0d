"""The grader behind ``python -m vae grade``: answers into the reference, nbval, one verdict per exercise.

Introduced in chapter 2, whose exercises are the first graded ones.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import psutil

from vae.grading.checking import TASK_VARIABLE as LOG_VARIABLE
from vae.grading.notebooks import (ANSWER_TAG, GradingError, _answers_of, _exercise_of, _graded_copy, _layout_of,
                                   _read_notebook, _ReferenceLayout, _tags, _tampering)

# The executed reference notebooks ship inside the package, so that an installed
# wheel grades as a checkout does. An instructor passes a private set with
# ``reference=`` (``python -m vae grade --reference DIR``).
REFERENCE_DIR = Path(__file__).resolve().parent / "references"
DEFAULT_TIMEOUT = 60.0
KERNEL_STARTUP_TIMEOUT = 300.0
_NAME_PATTERN = re.compile(r"ex(\d\d)", re.IGNORECASE)
_ANSI = re.compile(r"(?:\x1b|#x1B)\[[0-9;]*m")


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
    by default the folder is ``REFERENCE_DIR``, the references shipped in the
    package. In a folder, the reference is the file whose
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
    budget = _run_budget(timeout, cells)
    output, finished = _run_with_budget(command, folder, environment, budget)
    if not finished:
        output += f"\nthe whole run exceeded {budget:.0f} s and was stopped"
    return junit, output


def _run_budget(timeout: float, cells: int) -> float:
    """Seconds a whole nbval run may take: the kernel's start, then each cell's timeout and a margin."""
    return KERNEL_STARTUP_TIMEOUT + (max(cells, 1) + 1) * (timeout + 15.0)


# Its own process group (Windows) or session (POSIX): a Ctrl-C at the terminal reaches
# only the grader, which then stops the run's whole process tree itself.
_DETACHED = ({"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP} if os.name == "nt"
             else {"start_new_session": True})
_DRAIN_SECONDS = 30.0  # how long to wait for the output of a stopped run


def _run_with_budget(command: list[str], folder: Path, environment: dict, budget: float) -> tuple[str, bool]:
    """Run ``command`` in ``folder``, its standard output and error merged; stop it after ``budget`` seconds.

    On a timeout, or if the grader itself is interrupted (Ctrl-C), the
    command and every process it started (the Jupyter kernel, and whatever
    the submitted code spawned) are killed.

    Returns:
        ``(output, finished)``: what the command printed, and False when the
        budget ran out and the process tree was stopped.
    """
    process = subprocess.Popen(command, cwd=folder, env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, **_DETACHED)
    try:
        output, _ = process.communicate(timeout=budget)
        return output or "", True
    except subprocess.TimeoutExpired:
        _stop(process)
        try:
            output, _ = process.communicate(timeout=_DRAIN_SECONDS)
        except subprocess.TimeoutExpired:  # a process that left the tree still holds the pipe
            output = ""
        return output or "", False
    except BaseException:  # Ctrl-C: the run is detached from the terminal and would outlive us
        _stop(process)
        raise


def _stop(process: subprocess.Popen) -> None:
    """Kill ``process`` and all its descendants, and wait until they are gone (on any platform).

    The tree is frozen first, so that nothing forks while it is collected;
    then the descendants are killed, then the process itself. The kernel that
    nbval starts is in a session of its own, so the tree, not a process group,
    is what must be stopped.
    """
    try:
        root = psutil.Process(process.pid)
        tree = [*root.children(recursive=True), root]
    except psutil.Error:  # the process has already gone
        return
    for member in tree:
        with contextlib.suppress(psutil.Error):
            member.suspend()
    with contextlib.suppress(psutil.Error):  # add anything forked before the freeze
        tree = [*{*tree[:-1], *root.children(recursive=True)}, root]
    for member in tree:
        with contextlib.suppress(psutil.Error):
            member.kill()
    psutil.wait_procs(tree, timeout=_DRAIN_SECONDS)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=_DRAIN_SECONDS)


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

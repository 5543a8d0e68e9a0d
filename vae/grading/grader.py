"""The grader behind ``python -m vae grade``: answers into the reference, nbval records, verdicts here.

The kernel that runs a submission only records what its answers return on
fresh cases (:func:`vae.grading.check`); this process, where no submitted code
runs, regenerates the cases, reads the records (numbers only) and decides.

Introduced in chapter 2, whose exercises are the first graded ones.
"""

from __future__ import annotations

import ast
import concurrent.futures
import contextlib
import dataclasses
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import psutil

from vae.grading.checking import EXERCISES, TASK_VARIABLE
from vae.grading.notebooks import (ANSWER_TAG, CHECK_TAG, GradingError, _answers_of, _exercise_of, _graded_copy,
                                   _layout_of, _read_notebook, _ReferenceLayout, _tags, _tampering)
from vae.grading.records import MAX_RECORD_BYTES, RecordError, _case_digest, _read_record

# The executed reference notebooks ship inside the package, so that an installed
# wheel grades as a checkout does. An instructor passes a private set with
# ``reference=`` (``python -m vae grade --reference DIR``).
REFERENCE_DIR = Path(__file__).resolve().parent / "references"
DEFAULT_TIMEOUT = 60.0
KERNEL_STARTUP_TIMEOUT = 300.0
DEFAULT_MEMORY_LIMIT = 4 * 2**30  # bytes a kernel may allocate beyond what importing vae took
DEFAULT_OUTPUT_LIMIT = 4 * 2**20  # characters a submission may print (the kernel's and the run's log)
_JUDGING = threading.Lock()  # TensorFlow references are computed one submission at a time
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
    seconds: float = 0.0

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


def _ipython_dir(folder: Path, memory_limit: int = 0, output_limit: int = 0) -> Path:
    """An IPython profile whose kernels import vae (TensorFlow) while they start, then limit themselves.

    The import counts against the kernel start-up time, not against the cell
    timeout, which measures the exercises alone; the memory limit is set
    after it (:func:`vae.grading.checking._limit_kernel`).
    """
    profile = folder / "ipython" / "profile_default"
    profile.mkdir(parents=True)
    lines = ["import vae", "import vae.grading.checking",
             f"vae.grading.checking._limit_kernel({int(memory_limit)}, {int(output_limit)})"]
    (profile / "ipython_kernel_config.py").write_text(
        f"c.InteractiveShellApp.exec_lines = {lines!r}\n", encoding="utf-8")
    return folder / "ipython"


def _run_nbval(notebook_path: Path, folder: Path, timeout: float, task_path: Path, cells: int,
               memory_limit: int = 0, output_limit: int = 0) -> tuple[Path, str]:
    """Run ``pytest --nbval-lax`` on one notebook in ``folder``; return the JUnit file and the output."""
    config = folder / "pytest.ini"
    config.write_text("[pytest]\n", encoding="utf-8")
    junit = folder / "nbval.xml"
    command = [sys.executable, "-m", "pytest", "-c", str(config), "--rootdir", str(folder),
               "-o", "addopts=", "-p", "no:cacheprovider", "--nbval-lax", "--nbval-current-env",
               f"--nbval-cell-timeout={timeout:g}", f"--nbval-kernel-startup-timeout={KERNEL_STARTUP_TIMEOUT:g}",
               "--junitxml", str(junit), "-q", "--color=no", "-W", "ignore", str(notebook_path)]
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    environment[TASK_VARIABLE] = str(task_path)
    environment["IPYTHONDIR"] = str(_ipython_dir(folder, memory_limit, output_limit))
    environment["PYTHONDONTWRITEBYTECODE"] = "1"
    budget = _run_budget(timeout, cells)
    output, finished = _run_with_budget(command, folder, environment, budget,
                                        max_output=max(output_limit, 2**20) * 4 if output_limit else None)
    if not finished and not output.endswith("was stopped"):
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


def _run_with_budget(command: list[str], folder: Path, environment: dict, budget: float,
                     max_output: int | None = None) -> tuple[str, bool]:
    """Run ``command`` in ``folder``, its standard output and error merged into a file; stop it after ``budget`` s.

    On a timeout, on more than ``max_output`` bytes of output, or if the
    grader itself is interrupted (Ctrl-C), the command and every process it
    started (the Jupyter kernel, and whatever the submitted code spawned) are
    killed.

    Returns:
        ``(output, finished)``: what the command printed (at most
        ``max_output`` bytes of it), and False when the run was stopped.
    """
    descriptor, name = tempfile.mkstemp(prefix="vae-grade-run-", suffix=".log", dir=folder)
    os.close(descriptor)
    log_path = Path(name)
    limit = max_output if max_output else None
    try:
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, cwd=folder, env=environment, stdout=log, stderr=subprocess.STDOUT,
                                       **_DETACHED)
        deadline, stopped = time.monotonic() + budget, ""
        try:
            while process.poll() is None:
                if time.monotonic() > deadline:
                    stopped = "budget"
                elif limit is not None and log_path.stat().st_size > limit:
                    stopped = "output"
                if stopped:
                    _stop(process)
                    break
                time.sleep(0.1)
        except BaseException:  # Ctrl-C: the run is detached from the terminal and would outlive us
            _stop(process)
            raise
        with open(log_path, "rb") as log:
            output = log.read(limit if limit is not None else -1).decode("utf-8", errors="replace")
    finally:
        with contextlib.suppress(OSError):
            log_path.unlink()
    if stopped == "output":
        output += f"\nthe run printed more than {limit // 2**20} MB and was stopped"
    return output, not stopped


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


def _implementation_used(source: str, names) -> str | None:
    """The package name an answer uses for the very function it is asked to write, or None (read, never run)."""
    if not names:
        return None
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        found = []
        if isinstance(node, ast.Attribute):
            found = [node.attr]
        elif isinstance(node, ast.ImportFrom):
            found = [alias.name for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found = [node.value]
        for name in found:
            if name in names:
                return name
    return None


def _missing_record_reason(layout: _ReferenceLayout, exercise: str, cells: dict, timeout: float,
                           output: str, fallback: str) -> str:
    """Why an exercise has no record, from nbval's verdicts on its cells (the kernel's own words are not trusted)."""
    last_line = next((line for line in reversed(output.splitlines()) if line.strip()), "")
    for number, (owner, role) in enumerate(zip(layout.cell_exercise, layout.cell_role)):
        if owner != exercise or role != "check":
            continue
        outcome, message = cells.get(number, ("missing", ""))
        if outcome == "missing":
            return "not run (" + (last_line[:120] or "the kernel stopped") + ")"
        if outcome in ("fail", "xfail"):
            reason = _reason_of(message, timeout)
            return reason + (" (after an earlier cell timed out)" if outcome == "xfail" else "")
    if "was stopped" in last_line:
        return last_line
    return fallback


def _answer_cell_failure(layout: _ReferenceLayout, exercise: str, cells: dict, timeout: float) -> str | None:
    for number, (owner, role) in enumerate(zip(layout.cell_exercise, layout.cell_role)):
        if owner == exercise and role == "answer":
            outcome, message = cells.get(number, ("missing", ""))
            if outcome in ("fail", "xfail"):
                return "the answer cell " + _reason_of(message, timeout)
    return None


def _judge_records(exercises, records: Path, seed: int, nonce: str) -> dict[str, str | None]:
    """The grader's verdict on each exercise's record: None (pass) or the reason it fails.

    Runs in the grader: it regenerates each exercise's cases from ``seed``,
    reads the record (numbers only; see :mod:`vae.grading.records`) and
    compares it with the reference and the named mistakes.

    Introduced in chapter 2, whose exercises are the first graded ones.
    """
    verdicts = {}
    with _JUDGING:
        for exercise in exercises:
            spec = EXERCISES.get(exercise)
            if spec is None:
                verdicts[exercise] = f"no spec for exercise {exercise} in vae.grading.EXERCISES"
                continue
            cases = spec.make_cases(seed)
            try:
                results = _read_record(records / f"{exercise}.npz", exercise, nonce,
                                      [_case_digest(case) for case in cases], MAX_RECORD_BYTES)
            except RecordError as error:
                verdicts[exercise] = str(error)
                continue
            try:
                verdicts[exercise] = spec.judge(cases, results)
            except Exception as error:  # noqa: BLE001 - a record the comparison cannot use is a fail
                verdicts[exercise] = f"the record cannot be compared ({type(error).__name__})"
    return verdicts


def grade_submission(submission, reference=None, timeout: float = DEFAULT_TIMEOUT,
                     memory_limit: int = DEFAULT_MEMORY_LIMIT, output_limit: int = DEFAULT_OUTPUT_LIMIT,
                     seed: int | None = None) -> SubmissionResult:
    """Grade one submitted notebook: its answers run in a kernel that records, the verdicts are decided here.

    The submission file is only read. Its ``answer`` cells (matched by the
    ``exercise`` id in their metadata) replace the answers of a fresh copy of
    the reference, written to a temporary folder; ``pytest --nbval-lax`` runs
    that copy in a new kernel with ``timeout`` seconds per cell, a memory
    limit and an output cap. Each check cell, :func:`vae.grading.check`,
    records what the answer returns on cases drawn from a fresh ``seed``
    (random unless given), tagged with a one-time nonce. Then this process,
    where no submitted code ran, regenerates the cases, reads the records and
    compares them with the reference (:func:`_judge_records`). Everything else
    the submission holds, its check cells and their outputs included, is
    ignored, and nothing the kernel prints decides anything.

    This runs the submission's code: grade untrusted work in a sandbox.

    Args:
        submission: path of the learner's notebook.
        reference: the reference notebook or a folder of them (see :func:`_find_reference`).
        timeout: seconds each cell may run before it is stopped and counted as failed.
        memory_limit: bytes the kernel may allocate beyond its start (0: no limit).
        output_limit: characters the submission may print (0: no limit).
        seed: the cases' seed (default: a fresh random one).

    Returns:
        a :class:`SubmissionResult`; a submission that cannot be read or lacks
        an answer cell gets ``error`` set and no exercises.

    Raises:
        GradingError: the reference is missing or is not an executed exercise notebook.

    Introduced in chapter 2, whose exercises are the first graded ones.
    """
    start = time.perf_counter()
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
        if cell.get("cell_type") == "code":  # the verdicts come from records, not from outputs
            metadata = cell.setdefault("metadata", {})
            metadata["tags"] = [tag for tag in _tags(cell) if tag != CHECK_TAG]
            cell["outputs"] = []
    seed = secrets.randbits(62) if seed is None else int(seed)
    nonce = secrets.token_hex(16)
    folder = Path(tempfile.mkdtemp(prefix="vae-grade-"))
    try:
        records = folder / "records"
        records.mkdir()
        task_path = folder / "task.json"
        task_path.write_text(json.dumps({"seed": seed, "nonce": nonce, "records": str(records)}), encoding="utf-8")
        copy_path = folder / reference_path.name
        copy_path.write_text(json.dumps(graded, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        junit, output = _run_nbval(copy_path, folder, timeout, task_path, len(layout.cell_role),
                                   memory_limit, output_limit)
        cells = _cell_verdicts(junit) if junit.is_file() and junit.stat().st_size <= 64 * 2**20 else {}
        verdicts = _judge_records(layout.exercises, records, seed, nonce)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    results = []
    for exercise in layout.exercises:
        title = layout.titles.get(exercise, "")
        spec = EXERCISES.get(exercise)
        used = _implementation_used(answers[exercise], spec.implementations if spec else ())
        reason = verdicts.get(exercise)
        if exercise in withheld:
            reason = withheld[exercise]
        elif used is not None:
            reason = (f"the answer uses {used}, a ready-made implementation of the very function it is asked "
                      f"to write (the package's own, or the library's): no credit; write it yourself")
        elif (failure := _answer_cell_failure(layout, exercise, cells, timeout)) is not None:
            reason = failure
        elif reason is not None and reason.startswith("no record"):
            reason = _missing_record_reason(layout, exercise, cells, timeout, output, reason)
        results.append(ExerciseResult(exercise, title, passed=reason is None, reason=reason or ""))
    return SubmissionResult(submission, reference_path, tuple(results), seconds=time.perf_counter() - start)


def _grade_or_report(path: Path, reference, timeout: float, memory_limit: int, output_limit: int) -> SubmissionResult:
    """:func:`grade_submission`, with any failure of the grader itself reported as that submission's error."""
    try:
        return grade_submission(path, reference, timeout, memory_limit, output_limit)
    except GradingError as error:
        return SubmissionResult(path, None, error=str(error))
    except Exception as error:  # noqa: BLE001 - one submission's trouble must not stop the class
        return SubmissionResult(path, None, error=f"the grader failed on {path.name}: {type(error).__name__}: {error}")


def grade_submissions(paths, reference=None, timeout: float = DEFAULT_TIMEOUT, jobs: int | None = None,
                      memory_limit: int = DEFAULT_MEMORY_LIMIT, output_limit: int = DEFAULT_OUTPUT_LIMIT,
                      done=None) -> list[SubmissionResult]:
    """Grade many notebooks, ``jobs`` at a time (default: the available cores); results in the order given.

    Each submission has its own kernel, limits and temporary folder, so one
    that hangs, exhausts its memory, prints megabytes or kills its kernel
    fails its own exercises and nothing else. ``done(result)`` is called as
    each finishes.

    Introduced in chapter 2, whose exercises are the first graded ones.
    """
    paths = [Path(path) for path in paths]
    if jobs is None:
        jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    jobs = max(1, int(jobs))
    results: dict[int, SubmissionResult] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(jobs, max(len(paths), 1))) as pool:
        futures = {pool.submit(_grade_or_report, path, reference, timeout, memory_limit, output_limit): index
                   for index, path in enumerate(paths)}
        for future in concurrent.futures.as_completed(futures):
            result = future.result()
            results[futures[future]] = result
            if done is not None:
                done(result)
    return [results[index] for index in range(len(paths))]

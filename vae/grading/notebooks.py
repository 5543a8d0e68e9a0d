"""Exercise notebooks: the answer and check cells, blank exercises made from solutions, and graded copies.

Introduced in chapter 2, whose exercises are the first graded ones.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import json
from pathlib import Path

from vae.grading.checking import EXERCISES

ANSWER_TAG = "answer"
CHECK_TAG = "nbval-check-output"
EXERCISE_KEY = "exercise"
STUB_LINE = 'raise NotImplementedError("write your answer here")'


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

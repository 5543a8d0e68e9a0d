"""Static checks of the committed notebooks: what a reader or nbval would trip over.

nbval (in the same test run) re-executes every notebook and compares the
outputs of the cells tagged ``nbval-check-output``; these tests check the
stored notebooks themselves.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import vae

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(ROOT.glob("chapters/*.ipynb")) + sorted(ROOT.glob("book/*.ipynb"))
CHAPTERS = sorted(ROOT.glob("chapters/[0-9][0-9]_*.ipynb"))
MACHINE_PATH = re.compile(r"/(work|tmp|root|home/\w+)/")


def cells_of(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def code_cells(path: Path) -> list[dict]:
    return [c for c in cells_of(path) if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def text_of(output: dict) -> str:
    return "".join(output.get("text", "")) + "".join(output.get("data", {}).get("text/plain", ""))


def test_there_are_chapters():
    assert len(CHAPTERS) >= 9


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_was_executed_once_top_to_bottom(path):
    counts = [c["execution_count"] for c in code_cells(path)]
    assert counts == list(range(1, len(counts) + 1))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_outputs_are_clean(path):
    problems = []
    for index, cell in enumerate(code_cells(path)):
        tags = cell.get("metadata", {}).get("tags", [])
        for output in cell.get("outputs", []):
            if output.get("name") == "stderr":
                problems.append(f"cell {index}: stderr")
            if output["output_type"] == "error" and "raises-exception" not in tags:
                problems.append(f"cell {index}: error {output.get('ename')}")
            text = text_of(output)
            if MACHINE_PATH.search(text):
                problems.append(f"cell {index}: machine path")
            if re.search(r"\b\w*Warning\b", text):
                problems.append(f"cell {index}: a warning")
            if re.search(r"\d+%\|", text):
                problems.append(f"cell {index}: progress-bar debris")
    assert problems == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_starts_quietly_and_checks_some_facts(path):
    cells = code_cells(path)
    assert cells[0]["metadata"].get("colab_install"), "the Colab cell comes first (tools/colab_cells.py)"
    assert "vae.quiet(" in "".join(cells[1]["source"])
    checked = [c for c in cells if "nbval-check-output" in c.get("metadata", {}).get("tags", [])]
    assert checked, "no cell is tagged nbval-check-output: nbval would compare nothing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_figure_has_a_caption_and_alt_text(path):
    missing = []
    for index, cell in enumerate(code_cells(path)):
        if any("image/png" in o.get("data", {}) for o in cell.get("outputs", [])):
            options = cell.get("metadata", {}).get("mystnb", {})
            if not options.get("figure", {}).get("caption") or not options.get("image", {}).get("alt"):
                missing.append(index)
    assert missing == []


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_opens_with_its_goals_and_closes_with_summary_and_exercises(path):
    markdown = [("".join(c["source"])) for c in cells_of(path) if c["cell_type"] == "markdown"]
    assert markdown[0].startswith("# ")
    headings = [line.lower() for text in markdown for line in text.splitlines() if line.startswith("#")]
    assert any("summary" in h for h in headings)
    assert any("exercise" in h for h in headings)


def public_names():
    for module_info in pkgutil.walk_packages(vae.__path__, prefix="vae."):
        short = module_info.name.rsplit(".", 1)[-1]
        if short.startswith("_") or module_info.name in ("vae.cli", "vae.__main__"):
            continue
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if (not name.startswith("_") and (inspect.isfunction(value) or inspect.isclass(value))
                    and value.__module__ == module.__name__ and not issubclass_exception(value)):
                yield f"{module_info.name}.{name}", name


def issubclass_exception(value):
    return inspect.isclass(value) and issubclass(value, BaseException)


def test_every_public_name_of_the_package_is_used_by_some_notebook_the_cli_or_a_benchmark():
    """A public name earns its place by a user outside the package: a notebook, the CLI, or a benchmark
    script (the scripts that measure and record the book's figures)."""
    exercises = sorted(ROOT.glob("chapters/exercises/*.ipynb"))
    sources = "\n".join("".join(c["source"]) for path in NOTEBOOKS + exercises for c in code_cells(path))
    sources += (ROOT / "vae" / "cli.py").read_text()
    sources += "\n".join(path.read_text() for path in sorted((ROOT / "benchmarks").glob("*.py")))
    unused = [full for full, name in public_names() if not re.search(rf"\b{name}\b", sources)]
    assert unused == []


# Every notebook whose code a reader sees: the chapters, the book's pages, the
# graded exercises and their references (the instructors' solutions).
FORMATTED = NOTEBOOKS + sorted(ROOT.glob("chapters/exercises/*.ipynb")) + sorted(
    ROOT.glob("vae/grading/references/*.ipynb"))
COLUMN = 79


def test_notebook_code_is_formatted_to_fit_the_column():
    # ruff format at 79 columns (cell magics such as the errata's %%article are
    # left alone); the site test measures what a reader sees.
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run([str(ruff), "format", "--check", "--line-length", str(COLUMN), *map(str, FORMATTED)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", FORMATTED, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_line_of_notebook_code_is_longer_than_the_column(path):
    """ruff format cannot split a long string or comment: this measures every line.

    Exempt: the generated Colab cell (tools/colab_cells.py writes its one long
    %pip line) and cells tagged ``verbatim`` (the errata's quotes of the
    article's code as printed; the site's CSS wraps them).
    """
    long_lines = []
    for index, cell in enumerate(code_cells(path)):
        metadata = cell.get("metadata", {})
        if metadata.get("colab_install") or "verbatim" in metadata.get("tags", []):
            continue
        for line in "".join(cell["source"]).splitlines():
            if len(line) > COLUMN:
                long_lines.append(f"code cell {index} ({cell.get('id')}): {len(line)} characters: {line.strip()[:40]}")
    assert long_lines == []

"""Numbers in the prose come from code: every glued name is recorded and used.

A chapter's markdown writes ``{glue}`name``` where a number computed by a
cell belongs; the cell records it with ``vae.glue.glue(name, value, spec)``
(or MyST-NB's own ``glue``). The site puts the recorded text in place. These
tests fail when a notebook uses a name no cell of it records (the site would
show an error or nothing), or records a name its prose never uses (a number
computed for the text that the text dropped), and check the recorded form is
the one MyST-NB reads.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(ROOT.glob("chapters/*.ipynb")) + sorted(ROOT.glob("book/*.ipynb"))
# {glue}`name`, {glue:text}`name:.2f`, and the ```{glue} name``` directive.
ROLE = re.compile(r"\{glue(?::[a-z]+)?\}`([^`:]+)(?::[^`]*)?`")
DIRECTIVE = re.compile(r"^[`:]{3,}\{glue(?::[a-z]+)?\}\s+(\S+)", re.MULTILINE)
PREFIX = "application/papermill.record/"


def used_names(cells: list[dict]) -> set[str]:
    names: set[str] = set()
    for cell in cells:
        text = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            names |= set(ROLE.findall(text)) | set(DIRECTIVE.findall(text))
        figure = cell.get("metadata", {}).get("mystnb", {})
        names |= set(ROLE.findall(json.dumps(figure)))
    return names


def recorded(cells: list[dict]) -> dict[str, dict]:
    names: dict[str, dict] = {}
    for cell in cells:
        for output in cell.get("outputs", []):
            scrapbook = output.get("metadata", {}).get("scrapbook")
            if scrapbook:
                names[scrapbook["name"]] = output
    return names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_glued_name_is_recorded_and_used(path: Path) -> None:
    cells = json.loads(path.read_text())["cells"]
    used, defined = used_names(cells), recorded(cells)
    assert not used - defined.keys(), f"used in the prose, recorded by no cell: {sorted(used - defined.keys())}"
    assert not defined.keys() - used, f"recorded, never used in the prose: {sorted(defined.keys() - used)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_glued_outputs_are_hidden_text_myst_nb_reads(path: Path) -> None:
    for name, output in recorded(json.loads(path.read_text())["cells"]).items():
        data = output.get("data", {})
        # display=False: only prefixed entries, so the cell shows nothing.
        assert data and all(key.startswith(PREFIX) for key in data), name
        assert output["metadata"]["scrapbook"]["mime_prefix"] == PREFIX, name
        assert PREFIX + "text/plain" in data, name


def test_the_book_uses_glue() -> None:
    # The two tests above pass trivially on a book without glue.
    assert any(recorded(json.loads(p.read_text())["cells"]) for p in NOTEBOOKS)


def test_glue_helper_writes_what_myst_nb_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython.display
    from myst_nb import glue as myst_glue

    from vae.glue import glue

    shown: list[tuple] = []
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: shown.append((a, k)))
    assert glue("x", 3.14159, ".2f") == "3.14"
    import myst_nb.ext.glue as ext

    monkeypatch.setattr(ext, "ipy_display", lambda *a, **k: shown.append((a, k)))
    myst_glue("x", 3.14, display=False)
    (ours, kw_ours), (theirs, kw_theirs) = shown
    assert ours[0] == theirs[0]
    assert kw_ours["metadata"]["scrapbook"] == kw_theirs["metadata"]["scrapbook"]


def ends_with_a_glue_call(source: str) -> bool:
    """Whether a cell's last statement is a bare ``glue(...)``, whose returned text the notebook would print."""
    try:
        body = ast.parse(source).body
    except SyntaxError:  # IPython magics: not what glue cells look like
        return False
    last = body[-1] if body else None
    return (isinstance(last, ast.Expr) and isinstance(last.value, ast.Call)
            and isinstance(last.value.func, ast.Name) and last.value.func.id == "glue")


def test_the_glue_check_sees_a_trailing_call() -> None:
    assert ends_with_a_glue_call('x = 1\nglue("ch01_x", x)')
    assert not ends_with_a_glue_call('glue("ch01_x", 1)\nprint(1)')


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_cell_ends_with_a_glue_call_whose_text_would_show_as_an_output(path: Path) -> None:
    cells = json.loads(path.read_text())["cells"]
    trailing = [i for i, c in enumerate(cells)
                if c["cell_type"] == "code" and ends_with_a_glue_call("".join(c["source"]))]
    assert trailing == [], f"cells {trailing} end with glue(...): record first, then print (vae/glue.py)"

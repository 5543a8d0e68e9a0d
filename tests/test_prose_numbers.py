"""No number from a run is typed into the prose: it is glued, or declared fixed.

A number in a chapter's markdown that a model, a recorded evaluation or a
live run produced must come from the cell that computed it, through
``{glue}`name``` (``tests/test_glue.py``). What may stay typed: constants of
the literature, on a line that cites their source (``{cite}``), and the fixed
facts of a worked example or a definition (a threshold of 0.01 nats, 784
pixels), which each notebook declares in its metadata under
``book.fixed_numbers``, a map from the number as written to the reason it
cannot change. Any other decimal number, percentage, ratio or quantity with
a unit in the prose fails this test; so does a declared number the prose no
longer contains.

The scan is a regular expression, so it catches numbers as readers see them
(``0.52``, ``19 %``, ``28×``, ``85 nats``, ``547 bytes``) but not bare
integers ("four of 32 units"); those stay the reviewer's job.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Notebooks whose prose is still being glued (issue 15): remove each as it is
# done; the list must end empty.
NOTEBOOKS = sorted(ROOT.glob("chapters/*.ipynb")) + sorted(ROOT.glob("book/*.ipynb"))

# What is not prose: code, maths, link targets, HTML tags, glue and cite roles.
NOT_PROSE = re.compile(r"```.*?```|`[^`\n]*`|\$\$.*?\$\$|\$[^$\n]*\$|\]\([^)]*\)|<[^>\n]+>", re.DOTALL)
# Cross-references by number: section 3.1, equation (4.4), figure 6.2, chapter 9.
REFERENCE = re.compile(r"(?:§\s?|\b(?:[Ss]ections?|equations?|Equations?|[Ee]qs?\.|[Ff]igures?|[Tt]ables?|[Ee]xercises?|"
                       r"[Cc]hapters?|[Pp]ython|and|to|or)\s+)\d+(?:\.\d+)*|\(\d+\.\d+\)")
UNIT = r"%|×|nats?\b|bits?\b|bits/dim\b|bpp\b|dB\b|bytes?\b|kB\b|MB\b|GB\b|images/s\b|seconds?\b|minutes?\b|hours?\b"
NUMBER = re.compile(rf"(?<![\w.])[−+-]?\d[\d,]*(?:\.\d+)?\s?(?:{UNIT})|(?<![\w.])[−+-]?\d+\.\d+(?![\w.])")


def typed_numbers(cells: list[dict]) -> list[tuple[int, str]]:
    """(cell index, number as written) for every number the prose types, headings and cited lines aside."""
    found = []
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "markdown":
            continue
        for line in "".join(cell["source"]).splitlines():
            if line.lstrip().startswith("#") or "{cite" in line:
                continue
            text = REFERENCE.sub(" ", NOT_PROSE.sub(" ", line))
            found += [(index, " ".join(m.group(0).split())) for m in NUMBER.finditer(text)]
    return found


def fixed_numbers(notebook: dict) -> dict[str, str]:
    return notebook.get("metadata", {}).get("book", {}).get("fixed_numbers", {})


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_prose_types_no_number_from_a_run(path: Path) -> None:
    notebook = json.loads(path.read_text())
    fixed = fixed_numbers(notebook)
    typed = typed_numbers(notebook["cells"])
    loose = sorted({f"cell {i}: {n}" for i, n in typed if n not in fixed})
    assert not loose, f"glue these or declare them in metadata book.fixed_numbers with a reason: {loose}"
    stale = sorted(set(fixed) - {n for _, n in typed})
    assert not stale, f"declared fixed but no longer in the prose: {stale}"
    assert all(isinstance(r, str) and r.strip() for r in fixed.values()), "each fixed number needs its reason"


def test_the_scan_catches_run_numbers_and_spares_references() -> None:
    cells = [{"cell_type": "markdown", "source": [
        "## 6.3 A heading with 85.57 nats\n",
        "The model reaches 85.57 nats, saves 19 % and is 28× faster; see section 6.3 and equation (4.4).\n",
        "Burda et al. report 85.33 {cite}`burda2016`.\n",
        "Glued: {glue}`ch06_nll` nats, maths $0.5$, code `0.25`.\n"]},
        {"cell_type": "code", "source": ["x = 0.75\n"]}]
    assert typed_numbers(cells) == [(0, "85.57 nats"), (0, "19 %"), (0, "28×")]

"""The book's spelling: codespell for typos, and the house rules of CONTRIBUTING.md.

House rule: Oxford spelling, that is British spelling (colour, behaviour,
modelling) with -ize endings (amortized, reparameterization, optimize,
binarize, recognize), which match the names of the literature and of the
APIs the book calls (``vae.data.binarize``, Keras's ``optimizer``). The check
reads the prose a reader sees: the markdown of every notebook (with figure
captions and alt text), the book's ``.md`` pages and the package's docstrings;
code spans, code blocks and identifiers (anything with an underscore) are
left alone, since names are not prose.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(ROOT.glob("chapters/*.ipynb")) + sorted(ROOT.glob("chapters/exercises/*.ipynb")) + sorted(
    ROOT.glob("book/*.ipynb"))
PAGES = sorted(ROOT.glob("book/*.md")) + [ROOT / "README.md", ROOT / "CONTRIBUTING.md"]
MODULES = sorted((ROOT / "vae").rglob("*.py"))

STEMS = ("amortis|parameteris|optimis|minimis|maximis|normalis|summaris|recognis|memoris|factoris|"
         "initialis|visualis|regularis|generalis|discretis|quantis|randomis|binaris|serialis|stabilis|"
         "penalis|utilis|standardis|vectoris|synchronis|realis|organis|categoris|characteris|emphasis|"  # codespell:ignore utilis
         "specialis|centralis|finalis|criticis|apologis|parallelis|customis|prioritis|symbolis|localis|"
         "formalis|marginalis|linearis|tokenis|theoris|hypothesis")
# A British -ise word with an -ize house spelling, not part of an identifier.
ISE = re.compile(rf"(?<![\w.])([A-Za-z]*?(?:{STEMS}))(e|ed|es|er|ers|ing|ation|ations|able)\b(?![\w(])",
                 re.IGNORECASE)
CODE = re.compile(r"```.*?```|`[^`\n]*`|\$\$.*?\$\$|\$[^$\n]*\$|\]\([^)]*\)", re.DOTALL)


def prose_of_notebook(path: Path) -> str:
    parts = []
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "markdown":
            parts.append("".join(cell["source"]))
        figure = cell.get("metadata", {}).get("mystnb", {})
        parts += [figure.get("figure", {}).get("caption", ""), figure.get("image", {}).get("alt", "")]
    return "\n".join(parts)


def docstrings_of(path: Path) -> str:
    tree = ast.parse(path.read_text())
    nodes = [tree] + [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                   ast.ClassDef))]
    return "\n".join(ast.get_docstring(n) or "" for n in nodes)


def ise_words(text: str) -> list[str]:
    return sorted({m.group(0) for m in ISE.finditer(CODE.sub(" ", text))})


def checked() -> list[tuple[Path, str]]:
    items = [(p, prose_of_notebook(p)) for p in NOTEBOOKS] + [(p, p.read_text()) for p in PAGES if p.exists()]
    items += [(p, docstrings_of(p)) for p in MODULES]
    return items


@pytest.mark.parametrize("path,text", checked(), ids=lambda v: str(v.relative_to(ROOT)) if isinstance(v, Path) else "")
def test_house_spelling_is_ize(path: Path, text: str) -> None:
    assert ise_words(text) == [], "use -ize (CONTRIBUTING.md, Spelling)"


def test_the_house_check_catches_and_spares() -> None:
    text = ("An amortised encoder, the reparameterisation trick, optimising; but "
            "`optimise_posterior`, vae.rate_distortion.optimise_posterior, emphasis, "
            "noise, exercise, otherwise, analyses and precise stay.")
    assert ise_words(text) == ["amortised", "optimising", "reparameterisation"]


def test_codespell_finds_no_typo(tmp_path: Path) -> None:
    # codespell (the test extra, requirements.txt) over what people write: the
    # notebooks' markdown and code (not their outputs, whose images are base64),
    # the pages, and the Python files. .codespellrc holds the words it accepts.
    files = {p: p.read_text() for p in [*PAGES, *MODULES, *sorted((ROOT / "tests").glob("*.py")),
                                         *sorted((ROOT / "tools").glob("*.py"))] if p.exists()}
    for path in NOTEBOOKS:
        cells = json.loads(path.read_text())["cells"]
        files[path] = prose_of_notebook(path) + "\n" + "\n".join("".join(c["source"]) for c in cells
                                                                if c["cell_type"] == "code")
    for path, text in files.items():
        copy = tmp_path / path.relative_to(ROOT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(text)
    result = subprocess.run([sys.executable, "-m", "codespell_lib", "--config", str(ROOT / ".codespellrc"), "."],
                            capture_output=True, text=True, cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]

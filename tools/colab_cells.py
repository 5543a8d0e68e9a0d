"""The Colab cell that opens every notebook, generated from pyproject.toml.

    python tools/colab_cells.py            # list notebooks whose cell is missing or stale (exit 1 if any)
    python tools/colab_cells.py --write    # insert or update the cell in every notebook

On Colab the cell installs the package at the book's version from the
repository; anywhere else it does nothing. The repository's address and the
version are read from ``pyproject.toml`` (``[project.urls] Repository`` and
``[project] version``), the one place they are written, so that a release
changes every notebook's cell by running this script once.

The cell is the notebook's first code cell, tagged ``remove-cell`` so the
published site does not show it (readers of the site need no install) and
identified by the metadata key ``colab_install``. Inserting it shifts every
execution count by one: re-execute a notebook after ``--write`` changed it
(``tools/execute_notebooks.py``).
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = "colab_install"
NOTEBOOK_GLOBS = ("chapters/*.ipynb", "chapters/exercises/*.ipynb", "book/*.ipynb",
                  "vae/grading/references/*.ipynb")


def project() -> tuple[str, str]:
    """``(repository_url, version)`` as pyproject.toml declares them."""
    with open(ROOT / "pyproject.toml", "rb") as handle:
        meta = tomllib.load(handle)["project"]
    return meta["urls"]["Repository"], meta["version"]


def install_requirement(url: str, version: str) -> str:
    """The pip requirement that installs the package at the tag ``v{version}`` of ``url``."""
    return f"vae-book @ git+{url}@v{version}"


def cell_source(url: str, version: str) -> str:
    """The source of the Colab cell."""
    return (f"# On Colab, install the book's package (vae-book {version}); elsewhere do nothing.\n"
            "import sys\n"
            "\n"
            'if "google.colab" in sys.modules:\n'
            f'    %pip install --quiet "{install_requirement(url, version)}"')


def notebooks() -> list[Path]:
    """Every notebook of the book, its exercises and their references."""
    return sorted(path for pattern in NOTEBOOK_GLOBS for path in ROOT.glob(pattern))


def colab_cell_of(notebook: dict) -> dict | None:
    """The notebook's Colab cell if its first code cell is one, else None."""
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    if code and code[0].get("metadata", {}).get(MARKER):
        return code[0]
    return None


def is_current(notebook: dict, source: str) -> bool:
    """Whether the notebook opens with the Colab cell ``source``, tagged to be hidden on the site."""
    cell = colab_cell_of(notebook)
    return (cell is not None and "".join(cell["source"]) == source
            and "remove-cell" in cell["metadata"].get("tags", []))


def with_cell(notebook: dict, source: str) -> dict:
    """The notebook with its Colab cell set to ``source`` (inserted before the first code cell)."""
    cell = colab_cell_of(notebook)
    if cell is None:
        cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": []}
        if (notebook.get("nbformat", 0), notebook.get("nbformat_minor", 0)) >= (4, 5):
            cell["id"] = "colab-install"  # nbformat 4.5 gives every cell an id
        cells = notebook["cells"]
        first_code = next((i for i, c in enumerate(cells) if c["cell_type"] == "code"), len(cells))
        cells.insert(first_code, cell)
    cell["metadata"][MARKER] = True
    cell["metadata"]["tags"] = ["remove-cell"]
    cell["source"] = source.splitlines(keepends=True)
    return notebook


def main(argv: list[str]) -> int:
    write = argv == ["--write"]
    if argv not in ([], ["--write"]):
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: python tools/colab_cells.py [--write]", file=sys.stderr)
        return 2
    source = cell_source(*project())
    stale = []
    for path in notebooks():
        notebook = json.loads(path.read_text(encoding="utf-8"))
        if is_current(notebook, source):
            continue
        stale.append(path.relative_to(ROOT).as_posix())
        if write:
            path.write_text(json.dumps(with_cell(notebook, source), sort_keys=True, indent=1, ensure_ascii=False) + "\n",
                            encoding="utf-8")
    verb = "updated (re-execute them)" if write else "missing or stale"
    for name in stale:
        print(f"{verb}: {name}")
    return 1 if stale and not write else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

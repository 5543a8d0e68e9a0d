"""How long the book takes to execute: seconds per notebook and in total.

    python benchmarks/book_time.py [NOTEBOOK ...]

Executes every chapter and appendix notebook (or the ones named) in a fresh
kernel of this environment, on copies in a temporary folder (the committed
notebooks are not touched), and prints the seconds each took against the
budget: 3 minutes per notebook and 15 for the whole book on a 2-core CPU.
Absolute times on shared machines vary by 15 % or more; nothing here is a test.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_BUDGET_SECONDS = 180
BOOK_BUDGET_SECONDS = 15 * 60


def book_notebooks() -> list[Path]:
    return sorted(ROOT.glob("chapters/*.ipynb")) + sorted(ROOT.glob("book/*.ipynb"))


def execution_seconds(path: Path) -> float:
    """Execute a copy of ``path`` (in a scratch folder next to nothing of ours) and time it."""
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(shutil.copy(path, scratch))
        notebook = nbformat.read(copy, as_version=4)
        client = NotebookClient(notebook, timeout=900, kernel_name="python3",
                                resources={"metadata": {"path": scratch}})
        start = time.perf_counter()
        client.execute()
        return time.perf_counter() - start


def main(names: list[str]) -> int:
    paths = [Path(n).resolve() for n in names] or book_notebooks()
    total = 0.0
    print(f"{'notebook':48} {'seconds':>8}  budget {NOTEBOOK_BUDGET_SECONDS} s")
    for path in paths:
        seconds = execution_seconds(path)
        total += seconds
        verdict = "ok" if seconds <= NOTEBOOK_BUDGET_SECONDS else "OVER"
        print(f"{str(path.relative_to(ROOT)):48} {seconds:8.1f}  {verdict}", flush=True)
    verdict = "ok" if total <= BOOK_BUDGET_SECONDS else "OVER"
    print(f"{'whole book':48} {total:8.1f}  {verdict} (budget {BOOK_BUDGET_SECONDS} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

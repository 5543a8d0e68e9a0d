"""Execute notebooks in place, top to bottom, the way they are committed.

    python tools/execute_notebooks.py chapters/02_autoencoders.ipynb [...]

Runs each notebook in a fresh kernel of this environment (cells tagged
``raises-exception`` may raise; any other error stops), then checks what a
reader would trip over: stderr output, warnings, error outputs in untagged
cells, machine paths, unexecuted cells. Prints the seconds each notebook took.
Exit status 1 if any notebook failed a check.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

MACHINE_PATH = re.compile(r"/(work|tmp|root|home/\w+)/")
TIMEOUT_SECONDS = 900


def problems_of(notebook) -> list[str]:
    found = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        tags = cell.metadata.get("tags", [])
        if cell.get("execution_count") is None:
            found.append(f"cell {index}: not executed")
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and "raises-exception" not in tags:
                found.append(f"cell {index}: error {output.get('ename')}")
            if output.get("name") == "stderr":
                found.append(f"cell {index}: stderr {''.join(output.get('text', ''))[:120]!r}")
            text = json.dumps(output.get("text", "")) + json.dumps(output.get("data", {}).get("text/plain", ""))
            if "Warning" in text:
                found.append(f"cell {index}: a warning in the output")
            if MACHINE_PATH.search(text):
                found.append(f"cell {index}: a machine path in the output")
    return found


def execute(path: Path) -> tuple[float, list[str]]:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=TIMEOUT_SECONDS, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    notebook.metadata.pop("widgets", None)
    nbformat.write(notebook, path)
    return seconds, problems_of(notebook)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description="Execute notebooks in place, top to bottom, in a fresh kernel each, and check "
                    "their outputs (stderr, warnings, errors, machine paths, unexecuted cells).")
    parser.add_argument("notebooks", nargs="+", type=Path, help="the .ipynb files to execute, in this order")
    paths = parser.parse_args(argv).notebooks
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    failed = False
    for name in paths:
        seconds, problems = execute(name)
        print(f"{seconds:7.1f} s  {name}")
        for problem in problems:
            print(f"           {problem}")
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Benchmark: grade a generated class of 30 notebooks with ``python -m vae grade`` and print seconds per submission.

The class is made from chapter 4's blank exercise notebook (four exercises): a third
of the students hand in the solutions, a third wrong answers, a third the
blank notebook. Measured, not asserted::

    PYTHONPATH=$PWD nice -n 10 python benchmarks/grading_class.py [--students 30] [--jobs N]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAME = "ex04_the_objective"


def _answers(notebook: dict) -> dict:
    return {cell["metadata"]["exercise"]: cell for cell in notebook["cells"]
            if cell["cell_type"] == "code" and "answer" in cell["metadata"].get("tags", [])}


def make_class(folder: Path, students: int) -> None:
    """Write ``students`` submissions into ``folder/studentNN/``: solutions, wrong answers and blanks in turn."""
    solution = json.loads((ROOT / "vae" / "grading" / "references" / f"{NAME}.ipynb").read_text(encoding="utf-8"))
    blank = json.loads((ROOT / "chapters" / "exercises" / f"{NAME}.ipynb").read_text(encoding="utf-8"))
    for index in range(students):
        notebook = copy.deepcopy(blank)
        if index % 3 != 2:
            for exercise, cell in _answers(notebook).items():
                cell["source"] = _answers(solution)[exercise]["source"]
        if index % 3 == 1:  # the classic slip of exercise 4.2: the factor 1/2 is missing
            cell = _answers(notebook)["ex04.2"]
            cell["source"] = "".join(cell["source"]).replace("0.5 * tf.reduce_sum", "tf.reduce_sum")
        path = folder / f"student{index:02d}" / f"{NAME}.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(notebook), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vae-grading-bench-") as temporary:
        folder = Path(temporary) / "class"
        make_class(folder, args.students)
        command = [sys.executable, "-m", "vae", "grade", str(folder), "--out", str(Path(temporary) / "graded")]
        if args.jobs:
            command += ["--jobs", str(args.jobs)]
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, cwd=temporary)
        seconds = time.perf_counter() - start
        gradebook = (Path(temporary) / "graded" / "gradebook.csv").read_text(encoding="utf-8").splitlines()
    jobs = args.jobs or len(os.sched_getaffinity(0))
    totals = sorted({line.rsplit(",", 1)[1] for line in gradebook[1:]})
    print(f"{args.students} submissions of {NAME} (4 exercises each), {jobs} at a time: {seconds:.1f} s in all, "
          f"{seconds / args.students:.2f} s per submission (exit status {result.returncode}; totals seen: "
          f"{', '.join(totals)})")


if __name__ == "__main__":
    main()

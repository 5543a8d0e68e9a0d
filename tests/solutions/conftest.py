"""The executed solution notebooks are the grader's references, not tests of their own.

tests/test_grading.py grades each of them through ``python -m vae grade``
(which runs nbval on a copy); collecting them here as well would run every
reference twice.
"""

collect_ignore_glob = ["*.ipynb"]

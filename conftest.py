"""Root pytest configuration.

The blank exercise notebooks are meant to fail until a learner fills them in:
nbval does not run them directly; the grading tests (tests/test_grading.py)
run them through the grader instead.
"""

collect_ignore_glob = ["chapters/exercises/*", "runs/*", "artifacts/*", "_build/*"]

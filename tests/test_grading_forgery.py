"""Verdicts a submission cannot forge, and a class graded at once: ``python -m vae grade FOLDER``.

Each attack is a submission of the chapter 2-4 notebook whose answer cells
also try to fool the grader from inside the kernel; each is graded for real
(one Jupyter kernel per submission, two at a time). Then a class folder with
a good, a bad, a hanging, a crashing (kernel killed, exceptions, out of
memory) and a forging student goes through the command line, and its
gradebook and feedback files are read back.
"""

from __future__ import annotations

import csv
import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.test_grading import (EXERCISE_DIR, FIRST, SOLUTION_ANSWERS, SOLUTIONS, answer_cells, answer_with, blank_of,
                                load, with_answers, write)
from vae import grading
from vae.grading import records

EXERCISES = list(answer_cells(blank_of(FIRST)))  # ex04.1 ... ex04.4
SOLVED = {e: SOLUTION_ANSWERS[e] for e in EXERCISES}
WRONG_KL = answer_with("ex04.2", "return tf.reduce_sum(tf.exp(log_var) + tf.square(mean) - 1.0 - log_var, axis=-1)")
BLANK = {e: answer_with(e, grading.STUB_LINE) for e in EXERCISES}


def submission(answers: dict) -> dict:
    return with_answers(blank_of(FIRST), {**SOLVED, **answers})


# -- the attacks, each appended to an answer cell (module-level code runs when the cell runs) ----------
REBIND_CHECKS = '''
import vae as _v
_g = getattr(_v, "gra" + "ding")
def _fake_check(exercise, answer):
    print(exercise, "correct")
_g.check = _fake_check
_g.checking.judge = lambda *a, **k: None
'''

CHANGE_CASES = '''
import vae as _v
_spec = getattr(getattr(_v, "gra" + "ding"), "EXER" + "CISES")["ex04.2"]
object.__setattr__(_spec, "cases", lambda rng: [{"mean": np.zeros((4, 3)), "log_var": np.zeros((4, 3))}])
'''

MONKEYPATCH_NUMPY = '''
np.allclose = lambda *a, **k: True
np.isclose = lambda a, b, *r, **k: np.ones(np.shape(a), bool)
np.testing.assert_allclose = lambda *a, **k: None
'''

FORGE_RECORDS = '''
import json as _j, os as _o, numpy as _n
import vae as _v
_task = _j.load(open(_o.environ["VAE_GRAD" + "ING_TASK"]))
_dir = _task["records"]
_rec = getattr(_v, "gra" + "ding")
_specs = getattr(_rec, "EXER" + "CISES")
open(_o.path.join(_dir, "ex04.1.npz"), "wb").write(b"PK not a record")           # malformed
_rec.records._write_record(_o.path.join(_dir, "ex04.2.npz"), "ex04.2", "0" * 32, [], [])    # another run's nonce
_cases = _specs["ex04.3"].make_cases(12345)                                # other inputs
_rec.records._write_record(_o.path.join(_dir, "ex04.3.npz"), "ex04.3", _task["nonce"],
                  [_rec.records._case_digest(c) for c in _cases], [{"value": 0.0} for c in _cases])
_n.savez(_o.path.join(_dir, "big.npz"), x=_n.zeros(1))
'''

DELETE_AND_RECOMPUTE_RECORDS = '''
import json as _j, os as _o
import vae as _v
_task = _j.load(open(_o.environ["VAE_GRAD" + "ING_TASK"]))
_dir = _task["records"]
_rec = getattr(_v, "gra" + "ding")
_o.remove(_o.path.join(_dir, "ex04.1.npz"))                                        # a deleted record
_spec = getattr(_rec, "EXER" + "CISES")["ex04.2"]                          # the full forgery:
_cases = _spec.make_cases(_task["seed"])                                           # the package's own reference
_rec.records._write_record(_o.path.join(_dir, "ex04.2.npz"), "ex04.2", _task["nonce"],
                  [_rec.records._case_digest(c) for c in _cases], [_spec.reference(c) for c in _cases])
'''

OVERSIZED_RECORD = '''
import json as _j, os as _o, numpy as _n
_task = _j.load(open(_o.environ["VAE_GRAD" + "ING_TASK"]))
_n.savez(_o.path.join(_task["records"], "ex04.2.npz"), meta=_n.array("{}"), filler=_n.zeros(40 * 2**20 // 8))
'''


def _with_attack(exercise: str, code: str, body: str | None = None) -> str:
    answer = answer_with(exercise, body) if body else SOLVED[exercise]
    return answer + "\n\n" + code


ATTACKS = {
    # ex04.1's answer rebinds vae.grading.check and judge in the kernel: no record is written after it
    "rebind": submission({"ex04.1": _with_attack("ex04.1", REBIND_CHECKS)}),
    # ex04.1's answer changes the cases of ex04.2 in the kernel to easy ones; its KL is wrong
    "cases": submission({"ex04.1": _with_attack("ex04.1", CHANGE_CASES), "ex04.2": WRONG_KL}),
    # ex04.1's answer makes NumPy's comparisons always true; the KL is wrong
    "numpy": submission({"ex04.1": _with_attack("ex04.1", MONKEYPATCH_NUMPY), "ex04.2": WRONG_KL}),
    # ex04.4's answer (the last) forges the records of the three exercises before it, all blank
    "records": submission({**{e: BLANK[e] for e in EXERCISES[:3]}, "ex04.4": _with_attack("ex04.4", FORGE_RECORDS)}),
    # ex04.4's answer deletes ex04.1's record and writes ex04.2's from the package's reference; both blank
    "recomputed": submission({**{e: BLANK[e] for e in EXERCISES[:2]},
                              "ex04.4": _with_attack("ex04.4", DELETE_AND_RECOMPUTE_RECORDS)}),
    # ex04.4's answer replaces ex04.2's record with one of 40 MB
    "oversized": submission({"ex04.4": _with_attack("ex04.4", OVERSIZED_RECORD)}),
    # ex04.2 answered with the package's own function: no credit, and the feedback says so
    "package": submission({"ex04.2": answer_with("ex04.2", "return losses.kl_standard_normal(mean, log_var)")}),
}


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    folder = tmp_path_factory.mktemp("attacks")
    paths = [write(notebook, folder / name / f"{FIRST}.ipynb") for name, notebook in ATTACKS.items()]
    results = grading.grade_submissions(paths, timeout=60, jobs=2)
    return {name: {e.exercise: e for e in result.exercises} for name, result in zip(ATTACKS, results)}


def test_rebinding_the_checks_in_the_kernel_leaves_no_records_and_fails_every_later_exercise(attacked):
    verdicts = attacked["rebind"]
    assert not any(e.passed for e in verdicts.values())
    assert all("no record" in e.reason or "did not finish" in e.reason for e in verdicts.values()), verdicts


def test_changing_the_cases_in_the_kernel_gives_a_record_for_other_inputs(attacked):
    verdicts = attacked["cases"]
    assert not verdicts["ex04.2"].passed and "other inputs" in verdicts["ex04.2"].reason
    assert verdicts["ex04.3"].passed  # the other exercises are graded as usual


def test_monkeypatching_numpy_in_the_kernel_does_not_reach_the_grader(attacked):
    verdicts = attacked["numpy"]
    assert not verdicts["ex04.2"].passed and "factor 1/2 is missing" in verdicts["ex04.2"].reason
    assert verdicts["ex04.1"].passed and verdicts["ex04.3"].passed


def test_forged_stale_other_and_deleted_records_fail_with_their_reasons(attacked):
    verdicts = attacked["records"]
    assert "malformed" in verdicts["ex04.1"].reason
    assert "not written during this grading run" in verdicts["ex04.2"].reason
    assert "other inputs" in verdicts["ex04.3"].reason
    assert not any(verdicts[e].passed for e in ("ex04.1", "ex04.2", "ex04.3"))
    assert "no record" in attacked["recomputed"]["ex04.1"].reason and not attacked["recomputed"]["ex04.1"].passed


def test_a_record_recomputed_with_the_packages_reference_in_the_kernel_is_the_documented_limit(attacked):
    # The kernel holds the package, the seed and the nonce: a submission that sets out to compute the
    # reference there and write it as its record gets the outputs right. The grader cannot tell who
    # computed correct numbers; vae.grading's docstring and book/instructors.md say so.
    assert attacked["recomputed"]["ex04.2"].passed


def test_an_oversized_record_is_refused_without_being_read(attacked):
    verdicts = attacked["oversized"]
    assert not verdicts["ex04.2"].passed and "larger than" in verdicts["ex04.2"].reason


def test_an_answer_that_calls_the_packages_own_function_earns_no_credit_and_is_told_so(attacked):
    verdict = attacked["package"]["ex04.2"]
    assert not verdict.passed and "uses kl_standard_normal, a ready-made implementation" in verdict.reason
    assert attacked["package"]["ex04.3"].passed


# -- records, unit by unit (no kernel) ---------------------------------------------------------------
def test_a_record_round_trips_and_is_checked_against_this_runs_nonce_and_inputs(tmp_path):
    spec = grading.EXERCISES["ex04.2"]
    cases = spec.make_cases(7)
    digests = [records._case_digest(c) for c in cases]
    results = [spec.reference(c) for c in cases]
    path = tmp_path / "ex04.2.npz"
    records._write_record(path, "ex04.2", "n1", digests, results)
    stored = records._read_record(path, "ex04.2", "n1", digests)
    assert spec.judge(cases, stored) is None
    with pytest.raises(records.RecordError, match="not written during this grading run"):
        records._read_record(path, "ex04.2", "n2", digests)
    with pytest.raises(records.RecordError, match="other inputs"):
        records._read_record(path, "ex04.2", "n1", [records._case_digest(c) for c in spec.make_cases(8)])
    with pytest.raises(records.RecordError, match="for exercise"):
        records._read_record(path, "ex04.1", "n1", digests)
    with pytest.raises(records.RecordError, match="larger than"):
        records._read_record(path, "ex04.2", "n1", digests, max_bytes=100)


def test_a_record_holding_objects_is_malformed_and_never_unpickled(tmp_path):
    path = tmp_path / "ex04.2.npz"
    np.savez(path, meta=np.array('{"exercise": "ex04.2"}'), evil=np.array([object()], dtype=object))
    with pytest.raises(records.RecordError, match="malformed"):
        records._read_record(path, "ex04.2", "n", [])


@pytest.mark.parametrize("exercise", sorted(grading.EXERCISES))
def test_every_exercise_names_at_least_two_mistakes_each_told_apart_from_the_reference(exercise):
    spec = dataclasses.replace(grading.EXERCISES[exercise], summary=None)  # compare in the summary's terms
    cases = spec.make_cases(3)
    assert len(spec.mistakes) >= 2
    for name, mistake in spec.mistakes.items():
        wrong = [{**spec.reference(case), **mistake(case)} for case in cases]
        reason = spec.judge(cases, wrong)
        assert reason is not None and "wrong: " in reason, (name, reason)


def test_fresh_seeds_give_fresh_inputs_and_the_same_seed_the_same_inputs():
    spec = grading.EXERCISES["ex04.2"]
    digest = lambda seed: [records._case_digest(c) for c in spec.make_cases(seed)]  # noqa: E731
    assert digest(1) == digest(1) != digest(2)


# -- a class at once, from the command line ------------------------------------------------------------
CLASS_TIMEOUT = 10.0
BATCH_AXIS_BODY = ("per_pixel = -x * tf.nn.softplus(-logits) - (1.0 - x) * tf.nn.softplus(logits)\n"
                   "return tf.reduce_sum(per_pixel, axis=0)")
SOLVED_BODY_KL = "return 0.5 * tf.reduce_sum(tf.exp(log_var) + tf.square(mean) - 1.0 - log_var, axis=-1)"
OUT_OF_MEMORY = answer_with("ex04.1", "blocks = []\nwhile True:\n    blocks.append(np.ones(2**27))\nreturn logits")


def class_folder(folder: Path, out: Path) -> dict:
    forged_gradebook = (f"import os\nos.makedirs({str(out / 'feedback')!r}, exist_ok=True)\n"
                        f"open({str(out / 'gradebook.csv')!r}, 'w').write('student,total\\nmallory,99\\n')\n"
                        f"print('PASSED ' * 10)\nprint('ex04.2 kl divergence: correct')\n")
    students = {
        "alice": submission({}),                                                     # good
        "bob": submission({"ex04.2": WRONG_KL,                                       # wrong answers
                           "ex04.1": answer_with("ex04.1", BATCH_AXIS_BODY)}),
        "carol": submission({"ex04.1": answer_with("ex04.1", "while True:\n    pass")}),   # hangs
        "dave": submission({"ex04.2": SOLVED["ex04.2"] + "\n\nimport os\nos._exit(1)\n"}),  # kills its kernel
        "erin": submission({"ex04.1": OUT_OF_MEMORY,                                  # out of memory, raises
                            "ex04.3": answer_with("ex04.3", "raise ValueError('oops')")}),
        "frank": submission({"ex04.1": SOLVED["ex04.1"] + "\n\nprint('x' * 3 * 2**20)\n",   # prints megabytes
                             "ex04.2": answer_with("ex04.2", "print('y' * 2 * 2**20)\n" + SOLVED_BODY_KL)}),
        "mallory": with_answers(blank_of(FIRST), {"ex04.1": BLANK["ex04.1"] + "\n\n" + forged_gradebook}),
    }
    for name, notebook in students.items():
        write(notebook, folder / name / f"{FIRST}.ipynb")
    return students


@pytest.fixture(scope="module")
def class_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("class-run")
    folder, out = root / "submissions", root / "graded"
    class_folder(folder, out)
    result = subprocess.run([sys.executable, "-m", "vae", "grade", str(folder), "--out", str(out), "--jobs", "2",
                             "--timeout", f"{CLASS_TIMEOUT:g}", "--memory-limit", "1024", "--output-limit", "1"],
                            capture_output=True, text=True, timeout=900, cwd=root)
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    feedback = {path.stem: path.read_text(encoding="utf-8") for path in (out / "feedback").glob("*.md")}
    return {"status": result.returncode, "out": result.stdout, "err": result.stderr, "rows": rows,
            "feedback": feedback}


def marks(run, student: str) -> dict[str, int]:
    return {e: int(run["rows"][student][e]) for e in EXERCISES}


def test_the_gradebook_has_one_row_per_student_one_column_per_exercise_and_a_total(class_run):
    rows = class_run["rows"]
    assert sorted(rows) == ["alice", "bob", "carol", "dave", "erin", "frank", "mallory"]
    assert list(next(iter(rows.values()))) == ["student", *sorted(EXERCISES), "total"]
    for row in rows.values():
        assert int(row["total"]) == sum(int(row[e]) for e in EXERCISES)
    assert class_run["status"] == 1 and "7 submissions: 1 passed every exercise" in class_run["out"]


def test_good_and_bad_students_get_the_right_marks(class_run):
    assert set(marks(class_run, "alice").values()) == {1}
    assert marks(class_run, "bob") == {**dict.fromkeys(EXERCISES, 1), "ex04.2": 0, "ex04.1": 0}
    assert "factor 1/2 is missing" in class_run["feedback"]["bob"]
    assert "summed over the batch axis" in class_run["feedback"]["bob"]


def test_a_hanging_answer_fails_alone_after_the_timeout(class_run):
    assert marks(class_run, "carol") == {**dict.fromkeys(EXERCISES, 1), "ex04.1": 0}
    assert f"stopped after {CLASS_TIMEOUT:g} s" in class_run["feedback"]["carol"]


def test_a_killed_kernel_fails_the_exercises_it_did_not_reach_and_no_other_students(class_run):
    dave = marks(class_run, "dave")
    assert dave["ex04.1"] == 1
    assert dave["ex04.3"] == dave["ex04.4"] == 0


def test_out_of_memory_and_exceptions_fail_their_own_exercises(class_run):
    assert marks(class_run, "erin") == {**dict.fromkeys(EXERCISES, 1), "ex04.1": 0, "ex04.3": 0}
    assert "MemoryError" in class_run["feedback"]["erin"] and "ValueError: oops" in class_run["feedback"]["erin"]


def test_printing_megabytes_fails_the_exercises_that_printed_them(class_run):
    assert marks(class_run, "frank") == {**dict.fromkeys(EXERCISES, 1), "ex04.1": 0, "ex04.2": 0}
    assert class_run["feedback"]["frank"].count("printed more than 1 MB") == 2


def test_printing_passed_and_forging_the_gradebook_earn_nothing(class_run):
    assert class_run["rows"]["mallory"]["total"] == "0"  # every answer blank; the forged file was replaced
    assert "not answered yet" in class_run["feedback"]["mallory"]


def test_feedback_holds_no_reference_code(class_run):
    code = {line.strip() for e in EXERCISES for line in SOLUTION_ANSWERS[e].splitlines()
            if line.strip().startswith("return ") or " = " in line}
    assert len(code) >= 8  # the four exercises of FIRST give ten such lines
    for text in class_run["feedback"].values():
        assert not any(line in text for line in code)


# -- the gradebook and feedback files, from results (no kernel) -----------------------------------------
def result(path: Path, verdicts: dict, error: str | None = None) -> grading.SubmissionResult:
    exercises = tuple(grading.ExerciseResult(e, grading.EXERCISES[e].title, reason == "", reason)
                      for e, reason in verdicts.items())
    return grading.SubmissionResult(path, None, () if error else exercises, error=error)


def test_the_gradebook_gathers_each_students_notebooks_into_one_row(tmp_path):
    root = tmp_path / "submissions"
    results = [result(root / "alice" / "ex02_a.ipynb", {"ex04.2": "", "ex04.3": "wrong: the KL term is missing"}),
               result(root / "alice" / "ex05_b.ipynb", {"ex06.3": ""}),
               result(root / "bob" / "ex02_a.ipynb", {"ex04.2": "wrong: the factor 1/2 is missing", "ex04.3": ""}),
               result(root / "carol.ipynb", {}, error="carol.ipynb is not valid JSON")]
    grading.write_gradebook(results, tmp_path / "gradebook.csv", [root])
    with open(tmp_path / "gradebook.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows == [["student", "ex04.2", "ex04.3", "ex06.3", "total"], ["alice", "1", "0", "1", "2"],
                    ["bob", "0", "1", "0", "1"], ["carol", "0", "0", "0", "0"]]
    written = grading.write_feedback(results, tmp_path / "feedback", [root])
    assert [path.name for path in written] == ["alice.md", "bob.md", "carol.md"]
    alice = (tmp_path / "feedback" / "alice.md").read_text(encoding="utf-8")
    assert "ex02_a.ipynb" in alice and "ex05_b.ipynb" in alice and "FAILED: wrong: the KL term is missing" in alice
    assert "Not graded: carol.ipynb is not valid JSON" in (tmp_path / "feedback" / "carol.md").read_text()


def test_a_multiple_choice_explanation_appears_in_the_feedback_after_grading_and_never_in_the_check_line(
        tmp_path, capsys):
    explained = [e for e, spec in grading.EXERCISES.items() if spec.explanation]
    assert explained
    for exercise in explained:
        explanation = grading.EXERCISES[exercise].explanation
        for verdict in ("", "wrong: option 1"):
            written = grading.write_feedback([result(tmp_path / "dan.ipynb", {exercise: verdict})],
                                             tmp_path / "feedback")
            assert f"Explanation: {explanation}" in written[0].read_text(encoding="utf-8")
        grading.check(exercise, lambda: 1)
        grading.check(exercise, lambda: 0)
        out = capsys.readouterr().out
        assert out.count("\n") == 2 and explanation not in out
    plain = grading.write_feedback([result(tmp_path / "erin.ipynb", {"ex04.2": ""})], tmp_path / "plain")
    assert "Explanation" not in plain[0].read_text(encoding="utf-8")


def test_grading_a_folder_refuses_to_overwrite_a_gradebook_and_a_bad_jobs_count(tmp_path, monkeypatch):
    from tests.test_grading import run_main

    folder = tmp_path / "class"
    write(blank_of(FIRST), folder / "alice" / f"{FIRST}.ipynb")
    (tmp_path / "graded").mkdir()
    (tmp_path / "graded" / "gradebook.csv").write_text("old\n")
    monkeypatch.chdir(tmp_path)
    status, _, err = run_main(["grade", str(folder)])  # the default --out is ./graded
    assert status == 2 and "gradebook.csv exists; pass --force" in err
    status, _, err = run_main(["grade", str(folder), "--out", str(tmp_path / "elsewhere"), "--jobs", "0"])
    assert status == 2 and "--jobs must be >= 1" in err
    assert (tmp_path / "graded" / "gradebook.csv").read_text() == "old\n"


def test_a_student_is_the_folder_under_the_class_or_else_the_file(tmp_path):
    from vae.grading.reports import _student_of

    root = tmp_path / "class"
    assert _student_of(root / "alice" / "deep" / "ex02_a.ipynb", [root]) == "alice"
    assert _student_of(root / "bob.ipynb", [root]) == "bob"
    assert _student_of(tmp_path / "carol" / "ex02_a.ipynb") == "carol"  # given by itself
    assert _student_of(tmp_path / "dave_homework.ipynb") == "dave_homework"

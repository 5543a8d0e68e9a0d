"""The graded exercises and ``python -m vae grade``: what they promise, proved.

The solution notebooks (``vae/grading/references``, executed) are the source and the
instructor's references; the blank exercise notebooks (``chapters/exercises``)
are derived from them. The first tests read the notebooks; the middle ones
call the checks in this process (fast); the last ones run the real grader,
which starts one Jupyter kernel per submission: the blank notebooks, the
solutions, and ``python -m vae grade`` on a class folder holding a good
submission and a bad one whose author also forged his check cells.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import inspect
import io
import json
import os
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import psutil
import pytest

from vae import grading
from vae.cli import main
from vae.grading import exercises, grader, notebooks

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "vae" / "grading" / "references"
EXERCISE_DIR = ROOT / "chapters" / "exercises"
NAMES = sorted(path.stem for path in SOLUTIONS.glob("ex*.ipynb"))
FIRST = "ex04_the_objective"  # the notebook the class-folder and cheating tests use (ex04.1 ... ex04.4)
CLASS_TIMEOUT = 10.0  # seconds per cell in the class-folder run (its endless loop costs this much)


# -- helpers ---------------------------------------------------------------------------
def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def tags(cell: dict) -> list:
    return cell.get("metadata", {}).get("tags", [])


def code_cells(notebook: dict) -> list[dict]:
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def answer_cells(notebook: dict) -> dict[str, dict]:
    return {cell["metadata"]["exercise"]: cell for cell in code_cells(notebook) if "answer" in tags(cell)}


def check_cells(notebook: dict) -> dict[str, dict]:
    return {cell["metadata"]["exercise"]: cell for cell in code_cells(notebook)
            if "nbval-check-output" in tags(cell)}


SOLUTION_ANSWERS = {exercise: source(cell) for name in NAMES
                    for exercise, cell in answer_cells(load(SOLUTIONS / f"{name}.ipynb")).items()}


def answer_with(exercise: str, body: str) -> str:
    """The solution's function for ``exercise`` (signature and docstring) with another body."""
    indented = "\n".join("    " + line if line else line for line in body.strip("\n").splitlines())
    return notebooks._stub_of(SOLUTION_ANSWERS[exercise]).replace("    " + grading.STUB_LINE, indented)


def with_answers(notebook: dict, answers: dict[str, str]) -> dict:
    edited = copy.deepcopy(notebook)
    for exercise, cell in answer_cells(edited).items():
        if exercise in answers:
            cell["source"] = answers[exercise]
    return edited


def write(notebook: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook, indent=1), encoding="utf-8")
    return path


def run_main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


def function_from(answer: str, setup: str):
    namespace: dict = {}
    exec(setup, namespace)  # noqa: S102 - the book's own solution code
    before = set(namespace)
    exec(answer, namespace)  # noqa: S102
    (name,) = [key for key in namespace if key not in before and callable(namespace[key])
               and not key.startswith("_") and inspect.isfunction(namespace[key])]
    return namespace[name]


def setup_of(exercise: str) -> str:
    for name in NAMES:
        notebook = load(SOLUTIONS / f"{name}.ipynb")
        if exercise in answer_cells(notebook):
            setup = [cell for cell in code_cells(notebook) if not cell["metadata"].get("colab_install")]
            return source(setup[0])
    raise KeyError(exercise)


# Typical wrong answers: (exercise, body of the learner's function, words the check's line must contain).
WRONG_ANSWERS = [
    ("ex04.2", "return -0.5 * tf.reduce_sum(tf.exp(log_var) + tf.square(mean) - 1.0 - log_var, axis=-1)",
     "wrong sign"),
    ("ex04.2", "return tf.reduce_sum(tf.exp(log_var) + tf.square(mean) - 1.0 - log_var, axis=-1)",
     "factor 1/2 is missing"),
    ("ex04.1", "per_pixel = -x * tf.nn.softplus(-logits) - (1.0 - x) * tf.nn.softplus(logits)\n"
               "return tf.reduce_sum(per_pixel, axis=0)", "summed over the batch axis"),
    ("ex04.1", "p = tf.sigmoid(logits)\n"
               "return tf.reduce_sum(x * tf.math.log(p) + (1.0 - x) * tf.math.log(1.0 - p), axis=[1, 2, 3])",
     "softplus"),
    ("ex03.1", "return mean + tf.exp(log_var) * eps", "scaled by the variance"),
    ("ex03.1", "return mean + np.exp(0.5 * np.asarray(log_var)) * np.asarray(eps)", "no gradient flows"),
    ("ex03.2", "return mean + tf.exp(0.5 * log_var) * tf.random.normal(mean.shape)", "tf.shape(mean)"),
    ("ex04.3", "mean, log_var = model.encode(x)\nz = model.reparameterize(mean, log_var, seed=seed)\n"
               "ll = losses.bernoulli_log_likelihood(x, model.decode(z))\n"
               "return ll + losses.kl_standard_normal(mean, log_var)", "plus sign"),
    ("ex05.1", "z = keras.Input((latent_dim,))\n"
               "return keras.Model(z, keras.layers.Dense(28, activation='sigmoid')(z))", "expected (5, 28, 28, 1)"),
    ("ex05.1", "z = keras.Input((latent_dim,))\nh = keras.layers.Dense(784, activation='sigmoid')(z)\n"
               "return keras.Model(z, keras.layers.Reshape((28, 28, 1))(h))", "must return logits"),
    ("ex05.2", "with tf.GradientTape() as tape:\n    loss = -tf.reduce_mean(losses.elbo(model, x, seed=seed))\n"
               "return loss", "did not change"),
    ("ex06.1", "return np.log(np.mean(np.exp(values), axis=axis))", "subtract the maximum"),
    ("ex06.2", "k, batch = z.shape[0], x.shape[0]\nmean, log_var = model.encode(x)\n"
               "logits = model.decode(tf.reshape(z, [k * batch, -1]))\n"
               "log_px_z = tf.reshape(losses.bernoulli_log_likelihood(tf.tile(x, [k, 1, 1, 1]), logits), [k, batch])\n"
               "log_w = log_px_z + losses.log_normal_density(z, 0.0, 0.0)\n"
               "log_w -= losses.log_normal_density(z, mean, log_var)\n"
               "return tf.reduce_mean(log_w, axis=0)", "averages the log-weights"),
    ("ex06.3", "return np.asarray(nll_nats) / np.log(2.0)", "not by the number of dimensions"),
    ("ex07.1", "return np.linspace(z_start, z_end, steps, endpoint=False)", "misses the last point"),
    ("ex08.1", "mean, log_var = model.encode(images)\nz = model.reparameterize(mean, log_var, seed=seed)\n"
               "rate = tf.reduce_mean(losses.kl_standard_normal(mean, log_var))\n"
               "distortion = -tf.reduce_mean(losses.bernoulli_log_likelihood(images, model.decode(z)))\n"
               "return float(distortion), float(rate)", "swapped"),
    ("ex09.1", "return -losses.bernoulli_log_likelihood(x, logits)", "in nats"),
    ("ex09.2", "return -losses.bernoulli_log_likelihood(x, model.decode(z)) / np.log(2.0)", "only the bits of x"),
    ("ex01.2", "p = np.asarray(p, dtype=float)\nreturn -np.sum(p * np.log(np.where(p > 0, p, 1.0)), axis=-1)",
     "in nats"),
    ("ex01.2", "p = np.asarray(p, dtype=float)\nreturn -np.sum(np.log2(np.where(p > 0, p, 1.0)), axis=-1)",
     "without weighting"),
    ("ex01.2", "p = np.asarray(p, dtype=float)\nreturn -np.sum(p * np.log2(p), axis=-1)", "0 log 0 is 0"),
    ("ex01.3", "return -np.sum(q * np.log2(p), axis=-1)", "roles are swapped"),
    ("ex01.3", "return np.sum(p * np.log2(p / q), axis=-1)", "only the excess"),
    ("ex01.3", "return -np.sum(p * np.log(q), axis=-1)", "in nats"),
    ("ex02.2", "s = np.linalg.svd(data, compute_uv=False) ** 2 / len(data)\nreturn s[k:].sum() / data.shape[1]",
     "not centred"),
    ("ex02.2", "x = data - data.mean(axis=0)\ns = np.linalg.svd(x, compute_uv=False) ** 2 / len(x)\n"
               "return s[:k].sum() / data.shape[1]", "variance kept"),
    ("ex02.2", "x = data - data.mean(axis=0)\ns = np.linalg.eigvalsh(np.cov(x.T))[::-1]\n"
               "return s[k:].sum() / data.shape[1]", "n - 1"),
    ("ex02.3", "return 2", "largest"),
    ("ex02.3", "return 5", "numbered from 0"),
    ("ex02.3", "return 3", "the option chosen differs"),
    ("ex03.3", "m, s = np.asarray(mean), np.asarray(std)\n"
               "return (m**4 / s**2 + 18 * m**2 + 15 * s**2, 4 * s**2 + 4 * m**2)", "second moment"),
    ("ex03.3", "m, s = np.asarray(mean), np.asarray(std)\nreturn (m**4 / s**2 + 14 * m**2 + 15 * s**2, 2 * s)",
     "4 std^2"),
    ("ex04.4", "return 0.5 * ((1 + offset**2) / ratio - 1 + np.log(ratio))", "other way round"),
    ("ex04.4", "return 0.5 * (ratio - 1 - np.log(ratio))", "mean's term"),
    ("ex01.4", "p = (train.sum(axis=0) + alpha) / (len(train) + alpha)\n"
               "b = test * np.log2(p) + (1 - test) * np.log2(1 - p)\nreturn float(-np.mean(b.sum(axis=1)))",
     "adds alpha, not 2 alpha"),
    ("ex01.4", "p = (test.sum(axis=0) + alpha) / (len(test) + 2 * alpha)\n"
               "b = test * np.log2(p) + (1 - test) * np.log2(1 - p)\nreturn float(-np.mean(b.sum(axis=1)))",
     "fitted to the test images"),
    ("ex05.4", "a = np.asarray(slope, dtype=float)\nm = np.full(a.shape, -0.5)\nfor _ in range(200):\n"
               "    m = -np.exp(a * m)\nreturn m", "the variance"),
    ("ex05.4", "a = np.asarray(slope, dtype=float)\nm = np.full(a.shape, -0.5)\nfor _ in range(200):\n"
               "    m = -np.exp(0.5 * a * m)\nreturn -m", "wrong sign"),
    ("ex05.3", "out = []\nfor step in range(steps):\n"
               "    out.append(float(-tf.reduce_mean(losses.elbo(model, x, seed=seed + step))))\n"
               "return np.array(out)", "never went down"),
    ("ex05.3", "out = []\nfor step in range(steps):\n    with tf.GradientTape() as tape:\n"
               "        loss = -tf.reduce_mean(losses.elbo(model, x, seed=seed + step))\n"
               "    g = tape.gradient(loss, model.trainable_variables)\n"
               "    keras.optimizers.Adam(0.01).apply_gradients(zip(g, model.trainable_variables))\n"
               "    out.append(float(loss))\nreturn np.array(out)", "new optimizer"),
    ("ex06.4", "return 0.5 * np.log(1.0 / q_var) + (q_var + q_mean ** 2) / 2.0 - 0.5", "the rate"),
    ("ex06.5", "return int(np.sum(np.std(means, axis=0) > threshold))", "standard deviation"),
    ("ex07.2", "return float(tf.math.ndtri(tf.constant(high, tf.float64))), high - low", "one axis"),
    ("ex08.2", "return np.diff(distortions) / np.diff(rates)", "sign is wrong"),
    ("ex08.3", "return int(np.argmin(beta * np.asarray(distortions) + np.asarray(rates)))", "weighs the distortion"),
    ("ex09.3", "return float(np.sum(posterior * -np.log2(prior * likelihood)))", "no bits came back"),
    ("ex10.2", "return 20.0 * np.log10(peak ** 2 / np.asarray(mse))", "20 log10"),
]


# =====================================================================================
# The exercise notebooks
# =====================================================================================
def test_there_are_at_least_twelve_exercises_across_chapters_1_to_10_covering_the_required_topics():
    exercises = list(SOLUTION_ANSWERS)
    assert len(exercises) >= 12
    assert sorted(exercises) == sorted(grading.EXERCISES)
    assert {grading.EXERCISES[e].chapter for e in exercises} == set(range(1, 11))
    titles = " | ".join(grading.EXERCISES[e].title for e in exercises)
    for topic in ["reparameterization", "bernoulli log-likelihood", "kl divergence", "elbo", "log-mean-exp",
                  "importance-weighted bound", "train step", "bits per dimension", "latent interpolation",
                  "rate-distortion point", "decoder output shape"]:
        assert topic in titles


def test_chapters_1_to_5_have_three_graded_exercises_each_in_one_notebook_per_chapter():
    chapters = {}
    for exercise in grading.EXERCISES.values():
        chapters.setdefault(exercise.chapter, []).append(exercise.id)
    assert all(len(chapters.get(chapter, [])) >= 3 for chapter in range(1, 6)), chapters
    assert sum(len(chapters[chapter]) for chapter in range(1, 6)) >= 15
    for name in NAMES:
        if int(name[2:4]) <= 5:
            assert {e[2:4] for e in answer_cells(load(SOLUTIONS / f"{name}.ipynb"))} == {name[2:4]}, name


def test_an_explanation_appears_in_the_feedback_after_grading_and_never_in_the_self_check(capsys):
    from vae.grading import reports

    spec = grading.EXERCISES["ex02.3"]
    assert spec.explanation
    for passed in (True, False):
        result = grading.SubmissionResult(Path("alice/ex02_autoencoders.ipynb"), None, (
            grading.ExerciseResult("ex02.3", spec.title, passed, "" if passed else "wrong: d = 8"),
            grading.ExerciseResult("ex02.1", "pca reconstruction", True)))
        text = reports._feedback_text("alice", [result])
        assert f"Explanation: {spec.explanation}" in text and text.count("Explanation:") == 1
    grading.check("ex02.3", function_from(answer_with("ex02.3", "return 2"), setup_of("ex02.3")))
    out = capsys.readouterr().out
    assert "largest" in out and spec.explanation not in out


def test_the_multiple_choice_answer_of_ex02_3_is_what_chapter_2s_stored_table_says():
    """The table of test errors is a run's output: if a re-execution changes its argmin, this fails."""
    table = ""
    for cell in load(ROOT / "chapters" / "02_autoencoders.ipynb")["cells"]:
        for output in cell.get("outputs", []):
            text = "".join(output.get("text", ""))
            if "PCA components to match" in text:
                table = text
    rows = [line.split() for line in table.splitlines()[1:] if line.strip()]
    sizes = [int(row[0]) for row in rows]
    ratios = [int(row[-1]) / int(row[0]) for row in rows]
    options = [f"d = {d}" for d in sizes]
    assert tuple(options) == exercises._TABLE_OPTIONS
    case = grading.EXERCISES["ex02.3"].make_cases(0)[0]
    assert grading.EXERCISES["ex02.3"].reference(case)["choice"] == int(np.argmin(ratios))


@pytest.mark.parametrize("name", NAMES)
def test_each_exercise_has_its_task_in_prose_an_answer_cell_and_a_check_cell(name):
    cells = load(SOLUTIONS / f"{name}.ipynb")["cells"]
    answers = [i for i, cell in enumerate(cells) if "answer" in tags(cell)]
    assert answers
    for i in answers:
        exercise = cells[i]["metadata"]["exercise"]
        prose, check = cells[i - 1], cells[i + 1]
        assert prose["cell_type"] == "markdown" and source(prose).startswith("## Exercise ")
        assert cells[i]["cell_type"] == "code"
        assert "nbval-check-output" in tags(check) and check["metadata"]["exercise"] == exercise
        function = source(cells[i]).split("def ", 1)[1].split("(", 1)[0]
        assert source(check) == f'grading.check("{exercise}", {function})'


@pytest.mark.parametrize("name", NAMES)
def test_each_exercise_notebook_is_its_solution_with_only_the_answers_blanked(name):
    solution, blank = load(SOLUTIONS / f"{name}.ipynb"), load(EXERCISE_DIR / f"{name}.ipynb")
    derived = grading.blank_exercise(solution)
    assert len(blank["cells"]) == len(solution["cells"])
    for stored, expected, original in zip(blank["cells"], derived["cells"], solution["cells"]):
        assert (stored["cell_type"], source(stored), stored["metadata"]) == \
               (expected["cell_type"], source(expected), expected["metadata"])
        if "answer" in tags(original):
            assert source(stored) != source(original)
        else:
            assert source(stored) == source(original)
    assert blank["metadata"]["vae"] == solution["metadata"]["vae"] == {"exercises": name}


@pytest.mark.parametrize("exercise", sorted(SOLUTION_ANSWERS))
def test_every_stub_keeps_the_solutions_signature_and_raises_not_implemented(exercise):
    setup = setup_of(exercise)
    solution = function_from(SOLUTION_ANSWERS[exercise], setup)
    stub = function_from(notebooks._stub_of(SOLUTION_ANSWERS[exercise]), setup)
    assert inspect.signature(stub) == inspect.signature(solution)
    assert stub.__doc__ == solution.__doc__
    arguments = [None] * len(inspect.signature(stub).parameters)
    with pytest.raises(NotImplementedError):
        stub(*arguments)


@pytest.mark.parametrize("name", NAMES)
def test_solutions_are_executed_references_that_store_the_passing_lines(name):
    notebook = load(SOLUTIONS / f"{name}.ipynb")
    counts = [cell["execution_count"] for cell in code_cells(notebook)]
    assert counts == list(range(1, len(counts) + 1))
    for exercise, cell in check_cells(notebook).items():
        text = "".join("".join(output.get("text", "")) for output in cell["outputs"])
        assert text == f"{exercise} {grading.EXERCISES[exercise].title}: correct\n"


@pytest.mark.parametrize("name", NAMES)
def test_blank_notebooks_are_stored_unexecuted_and_start_by_importing_vae_quietly(name):
    notebook = load(EXERCISE_DIR / f"{name}.ipynb")
    assert all(cell["outputs"] == [] and cell["execution_count"] is None for cell in code_cells(notebook))
    colab, first = code_cells(notebook)[:2]
    assert colab["metadata"].get("colab_install")
    assert source(first).startswith("import vae\n") and "vae.quiet(0)" in source(first)
    assert notebook["cells"][0]["cell_type"] == "markdown" and source(notebook["cells"][0]).startswith("# ")


# =====================================================================================
# The checks, called in this process
# =====================================================================================
@pytest.mark.parametrize("exercise", sorted(SOLUTION_ANSWERS))
def test_the_solution_passes_its_check_with_one_line(exercise, capsys):
    grading.check(exercise, function_from(SOLUTION_ANSWERS[exercise], setup_of(exercise)))
    assert capsys.readouterr().out == f"{exercise} {grading.EXERCISES[exercise].title}: correct\n"


@pytest.mark.parametrize("exercise", sorted(SOLUTION_ANSWERS))
def test_the_stub_fails_its_check_with_one_line(exercise, capsys):
    grading.check(exercise, function_from(notebooks._stub_of(SOLUTION_ANSWERS[exercise]), setup_of(exercise)))
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "not answered yet" in out and out.startswith(exercise + " ")


@pytest.mark.parametrize("exercise, body, words", WRONG_ANSWERS,
                         ids=[f"{e}-{w.split()[0]}" for e, _, w in WRONG_ANSWERS])
def test_a_typical_wrong_answer_fails_with_a_line_that_names_the_mistake(exercise, body, words, capsys):
    grading.check(exercise, function_from(answer_with(exercise, body), setup_of(exercise)))
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and not out.endswith(": correct\n")
    assert words in out


def test_a_check_swallows_what_the_answer_prints_and_warns(capsys):
    solution_body = textwrap.dedent(SOLUTION_ANSWERS["ex04.2"].split('"""')[2])  # after the docstring
    body = "print('debugging')\nimport warnings\nwarnings.warn('hmm')\n" + solution_body.strip("\n")
    grading.check("ex04.2", function_from(answer_with("ex04.2", body), setup_of("ex04.2")))
    captured = capsys.readouterr()
    assert captured.out == "ex04.2 kl divergence: correct\n" and captured.err == ""


@pytest.mark.parametrize("body, words", [("raise SystemExit(3)", "raised SystemExit"),
                                          ("return undefined_name", "raised NameError"),
                                          ("return 'a string'", "should be numbers")])
def test_a_check_turns_any_failure_of_the_answer_into_one_failing_line(body, words, capsys):
    grading.check("ex04.2", function_from(answer_with("ex04.2", body), setup_of("ex04.2")))
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and words in out


def test_a_check_of_an_unknown_exercise_is_an_error():
    with pytest.raises(ValueError, match="unknown exercise"):
        grading.check("ex99.9", print)


def test_a_stub_keeps_comments_and_imports_and_refuses_other_statements():
    answer = '# my answer\nimport math\n\n\ndef f(x):\n    """Doc."""\n    return math.sqrt(x)\n'
    assert notebooks._stub_of(answer) == ('# my answer\n\n\nimport math\n\n\ndef f(x):\n    """Doc."""\n    '
                                        + grading.STUB_LINE)
    with pytest.raises(ValueError, match="only imports and functions"):
        notebooks._stub_of("x = 1\n")
    with pytest.raises(ValueError, match="docstring"):
        notebooks._stub_of("def f():\n    return 1\n")


@pytest.mark.parametrize("answer", ["from vae import grading\n", "import builtins\n",
                                    "get_ipython().events.register('post_run_cell', print)\n",
                                    "exec('x = 1')\n", "import sys\nsys.modules['vae.grading'].check = print\n",
                                    "def f(x):\n    !rm -rf ~\n", "%%bash\necho hi\n",
                                    # reading the solutions from the shipped reference notebook
                                    "import vae\nopen(vae.__file__.replace('__init__.py', "
                                    "'grading/references/ex04_the_objective.ipynb')).read()\n"])
def test_an_answer_that_reaches_for_the_grader_is_withheld(answer):
    assert "may not touch" in notebooks._tampering(answer) or "shell command" in notebooks._tampering(answer)


def test_an_ordinary_answer_is_not_withheld():
    assert all(notebooks._tampering(answer) is None for answer in SOLUTION_ANSWERS.values())


# =====================================================================================
# The grader: arguments and unreadable submissions (no kernel is started)
# =====================================================================================
def test_grade_list_names_every_exercise_and_what_it_checks():
    status, out, _ = run_main(["grade", "--list"])
    assert status == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == list(grading.EXERCISES)
    assert all("compares" in line or "checks" in line for line in lines)


@pytest.mark.parametrize("argv, message", [
    (["grade"], "at least one SUBMISSION"),
    (["grade", "/nonexistent/ex02_x.ipynb"], "does not exist"),
    (["grade", "x.ipynb", "--timeout", "0"], "> 0"),
    (["grade", "x.ipynb", "--reference", "/nonexistent.ipynb"], "--reference"),
    (["grade", "x.ipynb", "--csv", "/nonexistent/out.csv"], "--csv"),
])
def test_bad_grade_arguments_exit_2_with_one_line(argv, message):
    status, out, err = run_main(argv)
    assert status == 2 and message in err and err.strip().count("\n") == 0 and out == ""


def blank_of(name: str) -> dict:
    return load(EXERCISE_DIR / f"{name}.ipynb")


def without_answer(notebook: dict, exercise: str) -> dict:
    edited = copy.deepcopy(notebook)
    edited["cells"] = [cell for cell in edited["cells"]
                       if not ("answer" in tags(cell) and cell["metadata"]["exercise"] == exercise)]
    return edited


@pytest.mark.parametrize("content, message", [
    (b'{"cells": [', "is not valid JSON"),
    (b"\x89PNG\r\n\x1a\n\x00\x00binary", "not UTF-8"),
    (b"[1, 2, 3]", "is not a Jupyter notebook"),
    (b'{"nbformat": 4, "cells": [1]}', "is not a Jupyter notebook"),
    (json.dumps(without_answer(blank_of(FIRST), "ex04.2")).encode(), "no answer cell for exercise ex04.2"),
    (json.dumps({**blank_of(FIRST), "nbformat": 3}).encode(), "version 3 notebook"),
], ids=["bad-json", "binary", "json-list", "bad-cells", "missing-answer", "old-format"])
def test_an_unreadable_submission_gives_one_line_and_exit_1_without_a_traceback(content, message, tmp_path):
    path = tmp_path / f"{FIRST}.ipynb"
    path.write_bytes(content)
    status, out, err = run_main(["grade", str(path)])
    assert status == 1 and out == ""
    assert message in err and err.strip().count("\n") == 0 and "Traceback" not in err


def test_a_submission_whose_exercise_cannot_be_told_gives_one_line(tmp_path):
    notebook = blank_of(FIRST)
    notebook["metadata"].pop("vae")
    path = write(notebook, tmp_path / "homework.ipynb")
    status, _, err = run_main(["grade", str(path)])
    assert status == 1 and "cannot tell which exercise notebook" in err and err.strip().count("\n") == 0


def test_the_name_is_not_needed_when_the_notebook_says_which_exercises_it_answers(tmp_path):
    path = write(blank_of(FIRST), tmp_path / "homework.ipynb")
    assert grader._find_reference(path, notebook=load(path)) == SOLUTIONS / f"{FIRST}.ipynb"


def test_an_unexecuted_reference_is_refused(tmp_path):
    path = write(blank_of(FIRST), tmp_path / f"{FIRST}.ipynb")
    status, _, err = run_main(["grade", str(path), "--reference", str(EXERCISE_DIR / f"{FIRST}.ipynb")])
    assert status == 1 and "not an executed reference" in err and err.strip().count("\n") == 0


def cheat(notebook: dict) -> dict:
    """Every check cell replaced by a print of its passing line, with that line stored as its output."""
    edited = copy.deepcopy(notebook)
    for exercise, cell in check_cells(edited).items():
        line = f"{exercise} {grading.EXERCISES[exercise].title}: correct"
        cell["source"] = f"print({line!r})"
        cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": [line + "\n"]}]
        cell["execution_count"] = 1
    return edited


def test_the_copy_the_grader_runs_holds_the_references_checks_and_only_the_learners_answers():
    reference = load(SOLUTIONS / f"{FIRST}.ipynb")
    answers = {e: f"# answer of {e}\n" for e in answer_cells(reference)}
    submission = cheat(with_answers(blank_of(FIRST), answers))
    path = SOLUTIONS / f"{FIRST}.ipynb"
    layout = notebooks._layout_of(reference, path)
    graded = notebooks._graded_copy(reference, notebooks._answers_of(submission, path), layout, path)
    for graded_cell, reference_cell in zip(graded["cells"], reference["cells"]):
        if "answer" in tags(reference_cell):
            assert source(graded_cell) == answers[reference_cell["metadata"]["exercise"]]
        else:
            assert graded_cell == reference_cell


# =====================================================================================
# The grader end to end: each submission runs in its own Jupyter kernel
# =====================================================================================
@pytest.fixture(scope="module")
def blank_results():
    return {name: grading.grade_submission(EXERCISE_DIR / f"{name}.ipynb") for name in NAMES}


@pytest.fixture(scope="module")
def solution_results():
    """The solutions graded as submissions (the first notebook's is Alice's, in the class folder)."""
    return {name: grading.grade_submission(SOLUTIONS / f"{name}.ipynb") for name in NAMES if name != FIRST}


BOB = {  # an endless loop, a typical wrong answer and one exercise left blank; ex04.3 is right
    "ex04.1": "total = 0\nwhile total >= 0:  # never ends\n    total += 1\nreturn logits",
    "ex04.2": "return -0.5 * tf.reduce_sum(tf.exp(log_var) + tf.square(mean) - 1.0 - log_var, axis=-1)",
    "ex04.4": grading.STUB_LINE,
}


@pytest.fixture(scope="module")
def class_run(tmp_path_factory):
    """``python -m vae grade FOLDER --csv --junit`` on Alice (the solution) and Bob.

    Bob answers badly (:data:`BOB`) and, to hide it, made every check cell print
    its passing line and stored that line as its output.
    """
    folder = tmp_path_factory.mktemp("class")
    blank = blank_of(FIRST)
    alice = with_answers(blank, {e: SOLUTION_ANSWERS[e] for e in answer_cells(blank)})
    bob = cheat(with_answers(alice, {e: answer_with(e, body) for e, body in BOB.items()}))
    write(alice, folder / "alice" / f"{FIRST}.ipynb")
    bob_path = write(bob, folder / "bob" / f"{FIRST}.ipynb")
    bob_bytes = bob_path.read_bytes()
    report, junit = folder.parent / f"{folder.name}.csv", folder.parent / f"{folder.name}.xml"
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "vae", "grade", str(folder), "--csv", str(report),
                             "--junit", str(junit), "--timeout", f"{CLASS_TIMEOUT:g}"],
                            capture_output=True, text=True, timeout=900, cwd=folder)
    seconds = time.perf_counter() - start
    with open(report, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {"status": result.returncode, "out": result.stdout, "err": result.stderr, "rows": rows,
            "junit": junit, "seconds": seconds, "bob_unchanged": bob_path.read_bytes() == bob_bytes}


def rows_of(run, student: str) -> dict[str, dict]:
    return {row["exercise"]: row for row in run["rows"] if Path(row["submission"]).parent.name == student}


def test_every_blank_exercise_fails(blank_results):
    for name, result in blank_results.items():
        assert result.error is None and result.exercises, name
        for exercise in result.exercises:
            assert not exercise.passed and "NotImplementedError" in exercise.reason, (name, exercise)


def test_every_solution_passes(solution_results, class_run):
    for name, result in solution_results.items():
        assert result.passed, grading.format_table(result)
    assert all(row["result"] == "pass" for row in rows_of(class_run, "alice").values())
    graded = {e.exercise for r in solution_results.values() for e in r.exercises} | set(rows_of(class_run, "alice"))
    assert graded == set(grading.EXERCISES)


def test_the_csv_of_a_class_folder_says_who_passed_and_who_did_not(class_run):
    assert class_run["status"] == 1 and class_run["err"] == ""
    alice, bob = rows_of(class_run, "alice"), rows_of(class_run, "bob")
    assert set(alice) == set(bob) == set(answer_cells(blank_of(FIRST)))
    assert all(row["result"] == "pass" and row["reason"] == "" for row in alice.values())
    assert {e for e, row in bob.items() if row["result"] == "fail"} == set(BOB)
    assert "2 submissions: 1 passed every exercise, 1 failed some" in class_run["out"]


def test_typical_wrong_answers_fail_in_the_grader_with_their_reasons(class_run):
    bob = rows_of(class_run, "bob")
    assert "wrong sign" in bob["ex04.2"]["reason"]
    assert "NotImplementedError" in bob["ex04.4"]["reason"]
    assert bob["ex04.3"]["result"] == "pass"  # one wrong answer does not fail the others


def test_an_endless_loop_stops_at_the_timeout_fails_and_the_later_exercises_are_still_graded(class_run):
    bob = rows_of(class_run, "bob")
    assert bob["ex04.1"]["result"] == "fail"
    assert f"stopped after {CLASS_TIMEOUT:g} s" in bob["ex04.1"]["reason"]
    assert "wrong sign" in bob["ex04.2"]["reason"]  # graded after the timeout
    assert bob["ex04.3"]["result"] == "pass"
    assert class_run["seconds"] < 600


def test_editing_the_check_cells_and_their_outputs_does_not_fool_the_grader(class_run):
    reference = load(SOLUTIONS / f"{FIRST}.ipynb")
    bob = load(next(Path(row["submission"]) for row in class_run["rows"]
                    if Path(row["submission"]).parent.name == "bob"))
    for exercise, cell in check_cells(bob).items():  # plain nbval on Bob's file would pass every check:
        stored = "".join(cell["outputs"][0]["text"])  # each prints exactly what the reference stores
        assert source(cell) == f"print({stored.strip()!r})"
        assert stored == "".join(text for output in check_cells(reference)[exercise]["outputs"]
                                 for text in output["text"])  # a print may be stored as several streams
    assert {e for e, row in rows_of(class_run, "bob").items() if row["result"] == "fail"} == set(BOB)
    assert class_run["bob_unchanged"]  # the submission itself is never modified


def test_the_class_run_prints_a_table_per_submission_and_writes_a_junit_report(class_run):
    out = class_run["out"]
    assert "ex04.2 kl divergence" in out and "FAIL" in out and "4 of 4 exercises passed" in out
    assert "Traceback" not in out + class_run["err"]
    suites = ElementTree.parse(class_run["junit"]).getroot().findall("testsuite")
    assert [len(suite.findall("testcase")) for suite in suites] == [4, 4]
    assert [int(suite.get("failures")) for suite in suites] == [0, len(BOB)]


# =====================================================================================
# The grader's time budget: a run that overstays it is stopped with its whole process tree
# =====================================================================================
PROCESS_TREE = """\
import os, subprocess, sys, time
record = sys.argv[1]
if sys.argv[2:] == ["middle"]:  # a grandchild in a session of its own, as Jupyter starts its kernels
    grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
    with open(record, "a") as handle:
        handle.write(f"{os.getpid()} {grandchild.pid}\\n")
else:
    subprocess.Popen([sys.executable, __file__, record, "middle"])
    with open(record, "a") as handle:
        handle.write(f"{os.getpid()}\\n")
    while len(open(record).read().split()) < 3:
        time.sleep(0.05)
    print("ready", flush=True)
time.sleep(600)
"""


def gone(pid: int) -> bool:
    """No process ``pid`` runs (a killed process its new parent has not reaped yet, a zombie, counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_run_over_its_budget_is_stopped_with_its_whole_process_tree(tmp_path):
    script, record = tmp_path / "tree.py", tmp_path / "pids.txt"
    script.write_text(PROCESS_TREE)
    output, finished = grader._run_with_budget([sys.executable, str(script), str(record)], tmp_path,
                                               dict(os.environ), budget=10.0)
    assert not finished and output == "ready\n"
    pids = [int(pid) for pid in record.read_text().split()]
    assert len(pids) == 3 and all(gone(pid) for pid in pids), [psutil.Process(p) for p in pids if not gone(p)]


def test_a_run_within_its_budget_returns_its_output():
    output, finished = grader._run_with_budget([sys.executable, "-c", "print('hello')"], Path.cwd(),
                                               dict(os.environ), budget=60.0)
    assert finished and output == "hello\n"


def one_exercise_notebook(answer: str) -> dict:
    """An executed exercise notebook of one exercise, ex06.3, whose check cell records the answer."""
    def code(source, tags, outputs, count, exercise="ex06.3"):
        metadata = {"tags": tags, "exercise": exercise} if exercise else {"tags": tags}
        return {"cell_type": "code", "id": f"cell{count}", "execution_count": count, "outputs": outputs,
                "metadata": metadata, "source": source}

    line = {"output_type": "stream", "name": "stdout", "text": ["ex06.3 bits per dimension: correct\n"]}
    return {"nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "cells": [code("import numpy as np\nfrom vae import grading\n", [], [], 1, exercise=None),
                      code(answer, ["answer"], [], 2),
                      code('grading.check("ex06.3", bits_per_dim)\n', ["nbval-check-output"], [line], 3)]}


HANGING_ANSWER = """\
import os, subprocess, time
child = subprocess.Popen([{python!r}, "-c", "import time; time.sleep(600)"])
with open({record!r}, "w") as handle:
    handle.write(f"{{os.getppid()}} {{os.getpid()}} {{child.pid}}")
while True:  # never ends, even when the kernel is interrupted
    try:
        time.sleep(1)
    except KeyboardInterrupt:
        pass
"""


def test_a_submission_that_outlasts_the_run_budget_is_stopped_reported_and_leaves_no_process(tmp_path,
                                                                                            monkeypatch):
    reference = write(one_exercise_notebook(SOLUTION_ANSWERS["ex06.3"]), tmp_path / "reference" / "ex98_hang.ipynb")
    start = time.perf_counter()
    assert grading.grade_submission(reference, reference, timeout=600).passed  # the harness works

    budget = time.perf_counter() - start + 20.0  # time enough to start the kernel and reach the answer
    record = tmp_path / "pids.txt"
    hanging = HANGING_ANSWER.format(python=sys.executable, record=str(record))
    submission = write(one_exercise_notebook(hanging), tmp_path / "learner" / "ex98_hang.ipynb")
    monkeypatch.setattr(grader, "_run_budget", lambda timeout, cells: budget)
    hanging += "\n\n" + SOLUTION_ANSWERS["ex06.3"]
    result = grading.grade_submission(submission, reference, timeout=600)
    (exercise,) = result.exercises
    assert not exercise.passed and f"the whole run exceeded {budget:.0f} s and was stopped" in exercise.reason
    pytest_pid, kernel_pid, child_pid = map(int, record.read_text().split())  # nbval, its kernel, the answer's child
    assert all(gone(pid) for pid in (pytest_pid, kernel_pid, child_pid))

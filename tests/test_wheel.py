"""The package as a learner or an instructor installs it: a wheel, in a fresh Python 3.13, outside the repository.

Builds the wheel from a copy of the repository's sources, installs it into a
new virtual environment of Python 3.13 (pinned to the lock's versions, so
pip's cache serves it), and from a folder outside the repository runs the
commands a user runs: ``--version``, ``grade`` on a reference notebook,
``compress`` and ``decompress`` of digits, ``sample`` and a quick
``evaluate``. Nothing here may find the repository's files: the data, the
checkpoints and the exercise references must come from the wheel.

Python 3.13 is found as ``python3.13`` on the PATH or under pyenv; without
it the test is skipped, except under CI, where it fails.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
WHEEL_LIMIT_BYTES = 50 * 1024 * 1024


def python313() -> str | None:
    """A working Python 3.13 interpreter, or None."""
    candidates = [os.environ.get("VAE_TEST_PYTHON313"), shutil.which("python3.13"),
                  *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.13*/bin/python3.13")))]
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 13))"],
                               capture_output=True, text=True)
        if probe.stdout.strip() == "True":
            return candidate
    return None


def run(command: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("PYTEST_", "PYTHONPATH", "VIRTUAL_ENV"))}
    result = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the project files and of vae/ as git sees it (tracked or new, not ignored)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    tracked = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "vae"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    for name in tracked:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(source)], cwd=out)
    (built,) = out.glob("vae_book-*.whl")
    return built


@pytest.fixture(scope="module")
def venv313(wheel, tmp_path_factory) -> Iterator[Path]:
    """A fresh Python 3.13 environment with the wheel installed (non-editable), its python."""
    interpreter = python313()
    if interpreter is None:
        if os.environ.get("CI"):
            pytest.fail("CI must test the wheel on Python 3.13, and found no python3.13")
        pytest.skip("no Python 3.13 here (set VAE_TEST_PYTHON313)")
    home = tmp_path_factory.mktemp("venv313")
    run([interpreter, "-m", "venv", str(home)], cwd=home)
    python = home / "bin" / "python"
    constraints = home / "constraints.txt"
    constraints.write_text("".join(line + "\n" for line in (ROOT / "requirements.txt").read_text().splitlines()
                                   if line and not line.startswith(("#", "-e"))))
    run([str(python), "-m", "pip", "install", "--quiet", "--no-cache-dir", str(wheel), "-c", str(constraints)],
        cwd=home, timeout=1200)
    yield python
    # About 2 GB of TensorFlow: CI's disk also holds two more environments, so it goes as soon as it is done.
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def outside(tmp_path_factory) -> Path:
    """A working folder far from the repository."""
    return tmp_path_factory.mktemp("learner")


def test_the_wheel_holds_data_checkpoints_and_references_and_stays_small(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "vae/datasets/mnist.npz" in names
    assert {"conv", "latent2", "mlp"} <= {n.split("/")[2] for n in names if n.startswith("vae/checkpoints/")
                                          and n.endswith("model.weights.h5")}
    assert any(n.startswith("vae/grading/references/ex") and n.endswith(".ipynb") for n in names)
    assert any(n.startswith("vae/compression/") for n in names)
    lossy = {n.split("/")[3] for n in names if n.startswith("vae/checkpoints/lossy/") and n.count("/") == 4}
    assert {"hyperprior-q1", "hyperprior-q2", "hyperprior-q3", "hyperprior-q4"} <= lossy
    for codec in lossy:  # weights, tables and manifest: what LossyCodec.pretrained needs
        assert {f"vae/checkpoints/lossy/{codec}/{f}" for f in ("manifest.json", "model.weights.h5",
                                                                  "codec_tables.npz")} <= set(names)
    assert "vae/checkpoints/lossy/rate_distortion.json" in names
    controls = [p.name for p in (ROOT / "vae" / "checkpoints" / "controls").iterdir() if p.is_dir()]
    assert controls
    for control in controls:  # chapter 11 loads them
        assert {f"vae/checkpoints/controls/{control}/{f}" for f in ("manifest.json", "model.weights.h5")} <= set(names)
    assert wheel.stat().st_size < WHEEL_LIMIT_BYTES


def test_the_installed_package_is_the_wheel_not_the_checkout(venv313, outside):
    located = run([str(venv313), "-c", "import vae; print(vae.__file__)"], cwd=outside).stdout.strip()
    assert "site-packages" in located and str(ROOT) not in located
    assert run([str(venv313), "-m", "vae", "--version"], cwd=outside).stdout.split()[-1] == VERSION


def test_the_installed_wheel_grades_a_solution_notebook(venv313, outside):
    references = Path(run([str(venv313), "-c", "import vae.grading as g; print(g.REFERENCE_DIR)"],
                          cwd=outside).stdout.strip())
    assert str(ROOT) not in str(references)
    submission = outside / "alice" / "ex04_the_objective.ipynb"
    submission.parent.mkdir()
    shutil.copy2(references / submission.name, submission)
    result = run([str(venv313), "-m", "vae", "grade", str(submission)], cwd=outside)
    passed = re.search(r"^\s*(\d+) of (\d+) exercises passed$", result.stdout, re.MULTILINE)
    assert passed and passed[1] == passed[2] and int(passed[1]) >= 3, result.stdout


def test_the_installed_wheel_compresses_decompresses_and_samples(venv313, outside):
    digits = outside / "digits.npz"
    run([str(venv313), "-c",
         "import numpy as np, vae.data as d\n"
         "images, _ = d.load_mnist('test')\n"
         f"np.savez({str(digits)!r}, images=(images[:30, :, :, 0] > 0.5).astype(np.uint8))"], cwd=outside)
    run([str(venv313), "-m", "vae", "compress", str(digits), "-o", "digits.vbb", "--model", "conv"], cwd=outside)
    run([str(venv313), "-m", "vae", "decompress", "digits.vbb", "-o", "restored.npz"], cwd=outside)
    with np.load(digits) as original, np.load(outside / "restored.npz") as restored:
        (key,) = restored.files
        np.testing.assert_array_equal(restored[key].reshape(original["images"].shape), original["images"])
    assert (outside / "digits.vbb").stat().st_size < digits.stat().st_size
    run([str(venv313), "-m", "vae", "sample", "--model", "latent2", "-n", "16", "-o", "samples.png"], cwd=outside)
    assert (outside / "samples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_installed_wheel_compresses_grey_digits_lossily(venv313, outside):
    digits = outside / "grey.npz"
    run([str(venv313), "-c",
         "import numpy as np, vae.data as d\n"
         "images, _ = d.load_mnist('test')\n"
         f"np.savez({str(digits)!r}, images=np.rint(images[:20, :, :, 0] * 255).astype(np.uint8))"], cwd=outside)
    result = run([str(venv313), "-m", "vae", "compress", str(digits), "-o", "grey.vlc", "--model", "hyperprior-q2"],
                 cwd=outside)
    assert "lossily" in result.stdout
    run([str(venv313), "-m", "vae", "decompress", "grey.vlc", "-o", "grey-restored.npz"], cwd=outside)
    with np.load(digits) as original, np.load(outside / "grey-restored.npz") as restored:
        images = restored["images"]
        assert images.shape == (20, 28, 28) and images.dtype == np.float32
        error = images - original["images"] / 255.0
        assert 15 < 10 * np.log10(1 / np.mean(error ** 2)) < 60  # lossy, but a picture of the digits


def test_the_installed_wheel_evaluates_a_shipped_model(venv313, outside):
    result = run([str(venv313), "-m", "vae", "evaluate", "--model", "latent2", "--k", "10", "--limit", "20",
                  "--json"], cwd=outside)
    figures = json.loads(result.stdout)
    assert figures["n_images"] == 20 and figures["k"] == 10 and figures["latent_dim"] == 2
    assert 50 < figures["nll"] <= -figures["elbo"] + 1.0  # a bound near latent2's recorded 141 nats

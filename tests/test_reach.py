"""What a learner meets first: the Python versions, the lock, the dependencies, JupyterLab, Colab.

The wheel installed outside the repository is tested in ``test_wheel.py``;
the licences and workflows in ``test_publishing.py``.
"""

from __future__ import annotations

import ast
import configparser
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SUPPORTED = ("3.11", "3.12", "3.13")


def load_tool(name: str):
    """A script of tools/ imported as a module."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


colab_cells = load_tool("colab_cells")


# ---------------------------------------------------------------------------- Python versions
def fake_python(tmp_path: Path, version: str) -> Path:
    """An executable that answers the Makefile's version question as Python ``version`` would."""
    script = tmp_path / f"python{version}"
    script.write_text(f"#!/bin/sh\necho {version}\n")
    script.chmod(0o755)
    return script


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("version", ["3.10", "3.14", "2.7"])
def test_make_refuses_an_unsupported_python_in_one_line(version, tmp_path):
    result = subprocess.run(["make", "--no-print-directory", "test", f"PYTHON={fake_python(tmp_path, version)}",
                             f"VENV={tmp_path / 'venv'}"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode != 0
    assert f"needs Python 3.11, 3.12 or 3.13; " in result.stderr and f"is {version} " in result.stderr
    assert not (tmp_path / "venv").exists()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("version", SUPPORTED)
def test_make_accepts_each_supported_python(version, tmp_path):
    result = subprocess.run(["make", "--no-print-directory", "-n", "test", f"PYTHON={fake_python(tmp_path, version)}",
                             f"VENV={tmp_path / 'venv'}"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"-m venv {tmp_path / 'venv'}" in result.stdout
    assert f"{tmp_path / 'venv'}/bin/python -m pytest" in result.stdout


def test_the_package_declares_the_same_pythons_as_the_makefile():
    declared = PYPROJECT["project"]["requires-python"]
    assert declared == ">=3.11,<3.14"
    classifiers = {c.rsplit(" ", 1)[-1] for c in PYPROJECT["project"]["classifiers"] if "Python :: 3." in c}
    assert classifiers == set(SUPPORTED)


# ---------------------------------------------------------------------------- lock and dependencies
def pins(path: Path) -> dict[str, str]:
    """``{normalised name: version}`` of the ``name==version`` lines of a requirements file."""
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if match:
            found[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return found


def test_the_lock_pins_every_direct_requirement_at_its_version_and_installs_the_package():
    direct, locked = pins(ROOT / "requirements.in"), pins(ROOT / "requirements.txt")
    assert direct and {name: locked.get(name) for name in direct} == direct
    assert "jupyterlab" in direct
    assert (ROOT / "requirements.txt").read_text().splitlines()[-1] == "-e ."


def test_the_installed_environment_matches_the_lock():
    """The environment running these tests is the lock's (on this platform), so what passes here is what learners get."""
    text = (ROOT / "requirements.txt").read_text()
    wrong = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)\s*(?:;\s*(.+))?$", line)
        if not match:
            continue
        name, version, marker = match.groups()
        if marker and not _marker_holds(marker):
            continue
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            wrong[name] = (version, installed)
    assert wrong == {}


def _marker_holds(marker: str) -> bool:
    from packaging.markers import Marker
    return Marker(marker).evaluate()


def _imports_of_package() -> set[str]:
    """Top-level names that the package's modules import (outside ``if TYPE_CHECKING``)."""
    names = set()
    for path in (ROOT / "vae").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"vae", "__future__"}


def test_pyproject_declares_every_third_party_package_the_package_imports_with_a_range():
    declared = {re.split(r"[<>=!~ ;\[]", spec, maxsplit=1)[0].lower(): spec
                for spec in PYPROJECT["project"]["dependencies"]}
    distributions = importlib.metadata.packages_distributions()
    missing = {}
    for name in _imports_of_package():
        dists = {d.lower() for d in distributions.get(name, [name])}
        if not dists & set(declared):
            missing[name] = sorted(dists)
    assert missing == {}
    assert {"constriction", "pillow", "psutil"} <= set(declared)
    exact = [spec for spec in declared.values() if "==" in spec]
    assert exact == [], "pyproject declares ranges; requirements.txt pins"


def test_the_oldest_versions_tested_are_pyprojects_lower_bounds():
    oldest = pins(ROOT / "requirements-oldest.txt")
    lower = {}
    for spec in PYPROJECT["project"]["dependencies"]:
        match = re.match(r"^([A-Za-z0-9_.\-]+)>=([^,\s]+)", spec)
        assert match, f"{spec}: no lower bound"
        lower[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    assert oldest == lower


def test_the_extras_cover_the_lab_the_book_and_the_tests():
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert any(spec.startswith("jupyterlab") for spec in extras["lab"])
    assert any(spec.startswith("jupyter-book") for spec in extras["book"])
    assert any(spec.startswith("hypothesis") for spec in extras["test"])


# ---------------------------------------------------------------------------- JupyterLab
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(url: str, token: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def lab_command_of_the_makefile() -> list[str]:
    """The command ``make lab`` runs, with ``$(BIN)/python`` as this interpreter."""
    recipe = subprocess.run(["make", "--no-print-directory", "-n", "lab"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout.splitlines()[-1]
    words = recipe.split()
    assert words[0].endswith("/bin/python"), recipe
    return [sys.executable, *words[1:]]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_lab_serves_the_chapters_and_stops(tmp_path):
    port, token = free_port(), "vae-book-test-token"
    command = lab_command_of_the_makefile() + [
        "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
        "--ServerApp.port_retries=0"] + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])
    assert command[1:5] == ["-m", "jupyter", "lab", "chapters"]
    environment = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
                   "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_DATA_DIR": str(tmp_path / "data")}
    server = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL,
                              stderr=open(tmp_path / "lab.log", "w"))
    try:
        base, status = f"http://127.0.0.1:{port}", None
        deadline = time.monotonic() + 90
        while status is None and time.monotonic() < deadline and server.poll() is None:
            try:
                status = get_json(f"{base}/api/status", token)
            except OSError:
                time.sleep(0.5)
        assert status is not None, (tmp_path / "lab.log").read_text()[-2000:]
        listed = {item["name"] for item in get_json(f"{base}/api/contents", token)["content"]}
        chapters = {path.name for path in (ROOT / "chapters").glob("[0-9][0-9]_*.ipynb")}
        assert chapters and chapters <= listed
        with urllib.request.urlopen(f"{base}/lab?token={token}", timeout=10) as page:
            assert page.status == 200 and b"JupyterLab" in page.read()
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert server.returncode is not None


# ---------------------------------------------------------------------------- Colab and Binder
def test_every_notebook_opens_with_the_colab_cell_made_from_pyproject():
    source = colab_cells.cell_source(*colab_cells.project())
    paths = colab_cells.notebooks()
    assert len(paths) >= 15
    stale = [path.name for path in paths if not colab_cells.is_current(json.loads(path.read_text()), source)]
    assert stale == []


def test_the_colab_cell_installs_at_the_books_version_on_colab_only():
    url, version = colab_cells.project()
    source = colab_cells.cell_source(url, version)
    assert f'"vae-book @ git+{url}@v{version}"' in source
    assert 'if "google.colab" in sys.modules:' in source
    namespace = {}
    exec(compile(source.replace("%pip", "raise RuntimeError #"), "<colab cell>", "exec"), namespace)  # not Colab


def test_the_repository_address_is_the_same_everywhere():
    url = PYPROJECT["project"]["urls"]["Repository"]
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["repository"]["url"] == url
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["repository-code"] == url


def test_the_colab_tool_inserts_and_updates_the_cell_before_the_first_code_cell():
    notebook = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# T"]},
                          {"cell_type": "code", "metadata": {}, "source": ["import vae"], "outputs": [],
                           "execution_count": None}]}
    updated = colab_cells.with_cell(notebook, "old")
    assert [c["cell_type"] for c in updated["cells"]] == ["markdown", "code", "code"]
    assert not colab_cells.is_current(updated, "new")
    updated = colab_cells.with_cell(updated, "new")
    assert len(updated["cells"]) == 3 and colab_cells.is_current(updated, "new")

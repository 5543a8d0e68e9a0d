"""What a learner or a reuser meets besides the book: licences, citation
metadata, the GitHub workflows, Binder's environment and the setup page.

Nothing here needs the network. The workflows are checked with actionlint
(the binary shipped by a PyPI wheel, installed next to the venv's Python);
without it this check is skipped on a developer's machine and fails under CI.
"""

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
SUPPORTED_PYTHONS = ("3.11", "3.12", "3.13")
TEXT_LICENCE = "CC BY-SA 4.0"
TEXT_LICENCE_URL = "https://creativecommons.org/licenses/by-sa/4.0/legalcode"


def _read(relative: str) -> str:
    return (ROOT / relative).read_text(encoding="utf-8")


def _pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as file:
        return tomllib.load(file)


def _repository_url() -> str:
    """The repository URL of _config.yml: the one place the book names its repository."""
    url = yaml.safe_load(_read("_config.yml"))["repository"]["url"]
    assert url.startswith("https://github.com/") and "<" not in url, url
    declared = _pyproject()["project"].get("urls", {}).get("Repository")
    assert declared is None or declared.rstrip("/") == url.rstrip("/"), (declared, url)
    return url.rstrip("/")


def _readme_licence_section() -> str:
    readme = _read("README.md")
    assert "## Data and licence" in readme, "README.md has lost its 'Data and licence' section"
    section = readme.split("## Data and licence", 1)[1]
    return section.split("\n## ", 1)[0]


# ---------------------------------------------------------------- licences


def test_code_licence_is_mit():
    text = _read("LICENSE")
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 The authors of VAEs — Compression and Generation" in text
    assert "Permission is hereby granted, free of charge" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text


def test_text_licence_names_cc_by_sa_4_and_what_it_covers():
    text = _read("LICENSE-text")
    assert "Creative Commons Attribution-ShareAlike 4.0 International" in text
    assert TEXT_LICENCE in text
    assert TEXT_LICENCE_URL in text
    # What it covers, what it does not, and the MNIST digits in the figures.
    for needle in ("prose", "figures", "MIT", "LICENSE", "CC BY-SA 3.0", "LeCun", "vae/datasets/README.md"):
        assert needle in text, needle


@pytest.mark.parametrize("where", ["README", "book/intro.md"])
def test_both_licences_and_the_mnist_credit_are_stated(where):
    text = _readme_licence_section() if where == "README" else _read("book/intro.md")
    text = " ".join(text.split())  # line breaks inside a phrase do not matter
    assert "MIT" in text, f"{where} does not say the code is under the MIT licence"
    assert TEXT_LICENCE in text, f"{where} does not say the text and figures are under {TEXT_LICENCE}"
    for credit in ("Yann LeCun", "Corinna Cortes", "Christopher J.C. Burges", "CC BY-SA 3.0"):
        assert credit in text, f"{where} has lost the MNIST credit ({credit})"


# ---------------------------------------------------------------- citation


def test_citation_cff_is_valid_and_agrees_with_the_project():
    citation = yaml.safe_load(_read("CITATION.cff"))
    # The keys CFF 1.2.0 requires, with the types its schema gives them.
    for key in ("cff-version", "message", "title", "authors"):
        assert key in citation, f"CITATION.cff lacks the required key {key!r}"
    assert citation["cff-version"] == "1.2.0"
    assert isinstance(citation["message"], str) and citation["message"].strip()
    assert isinstance(citation["title"], str) and citation["title"].strip()
    authors = citation["authors"]
    assert isinstance(authors, list) and authors
    for author in authors:  # a person (family-names) or an entity (name)
        assert isinstance(author, dict) and ("name" in author or "family-names" in author), author
    allowed = {
        "abstract", "authors", "cff-version", "commit", "contact", "date-released", "doi",
        "identifiers", "keywords", "license", "license-url", "message", "preferred-citation",
        "references", "repository", "repository-artifact", "repository-code", "title", "type",
        "url", "version",
    }
    assert set(citation) <= allowed, f"keys CFF 1.2.0 does not define: {set(citation) - allowed}"
    assert citation.get("type", "software") in ("software", "dataset")

    assert citation["title"] == yaml.safe_load(_read("_config.yml"))["title"]
    assert str(citation["version"]) == _pyproject()["project"]["version"]
    licences = citation["license"] if isinstance(citation["license"], list) else [citation["license"]]
    assert set(licences) == {"MIT", "CC-BY-SA-4.0"}  # SPDX identifiers
    assert citation["repository-code"] == _repository_url()


# ---------------------------------------------------------------- workflows


def _actionlint() -> str:
    name = "actionlint.exe" if os.name == "nt" else "actionlint"
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.is_file() else shutil.which("actionlint")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("actionlint is not installed (requirements.txt installs a wheel that ships it)")
        pytest.skip("actionlint is not installed (requirements.txt installs a wheel that ships it)")
    return found


def _run_actionlint(*files: Path, cwd: Path) -> subprocess.CompletedProcess:
    # shellcheck and pyflakes are turned off so that the result does not depend
    # on which of them happen to be installed on the machine.
    command = [_actionlint(), "-no-color", "-shellcheck=", "-pyflakes=", *map(str, files)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_workflows_pass_actionlint():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"tests.yml", "pages.yml"}
    result = _run_actionlint(*files, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_fails_on_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "name: broken\n"
        "on: push\n"
        "jobs:\n"
        "  test:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - uses: actions/checkout@v4\n"
        "      - run: echo ${{ matrix.python }}\n"  # no matrix in this job
        "        tiemout-minutes: 5\n",  # a misspelt key
        encoding="utf-8",
    )
    result = _run_actionlint(broken, cwd=tmp_path)
    assert result.returncode != 0
    assert "matrix" in result.stdout and "tiemout-minutes" in result.stdout, result.stdout


def _workflow(name: str) -> dict:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as true
    return workflow


def test_tests_workflow_runs_make_test_on_the_oldest_and_newest_python():
    workflow = _workflow("tests.yml")
    (job,) = workflow["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    assert job["strategy"]["matrix"]["python"] == ["3.11", "3.13"]
    uses = [step.get("uses", "") for step in job["steps"]]
    assert "actions/checkout@v4" in uses
    setup = next(step for step in job["steps"] if step.get("uses") == "actions/setup-python@v5")
    assert setup["with"]["cache"] == "pip" and "requirements.txt" in setup["with"]["cache-dependency-path"]
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    assert "chromium" in runs
    assert "make test PYTHON=python${{ matrix.python }}" in runs
    assert "shared" not in (WORKFLOWS / "tests.yml").read_text(encoding="utf-8")


def test_pages_workflow_builds_the_book_and_deploys_it():
    workflow = _workflow("pages.yml")
    assert workflow["on"]["push"]["branches"] == ["main"] and "workflow_dispatch" in workflow["on"]
    assert workflow["permissions"]["pages"] == "write"
    assert workflow["permissions"]["id-token"] == "write"
    assert workflow["concurrency"]["group"]
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    assert any("make book" in step.get("run", "") for step in build["steps"])
    upload = next(s for s in build["steps"] if s.get("uses") == "actions/upload-pages-artifact@v3")
    assert upload["with"]["path"] == "_build/html"
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert any(step.get("uses") == "actions/deploy-pages@v4" for step in deploy["steps"])


# ---------------------------------------------------------------- Binder


def _requirement_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_binder_runtime_is_a_supported_python():
    from packaging.specifiers import SpecifierSet

    runtime = _read("binder/runtime.txt").strip()
    match = re.fullmatch(r"python-(3\.\d+)", runtime)
    assert match, f"repo2docker expects 'python-3.X' in binder/runtime.txt, found {runtime!r}"
    version = match.group(1)
    assert version in SUPPORTED_PYTHONS
    assert SpecifierSet(_pyproject()["project"]["requires-python"]).contains(f"{version}.0")


def test_binder_requirements_are_the_lock_with_the_package_not_editable():
    """repo2docker runs `pip install -r binder/requirements.txt` from the repository root."""
    binder = _requirement_lines(_read("binder/requirements.txt"))
    lock = _requirement_lines(_read("requirements.txt"))
    assert lock[-1] == "-e .", "requirements.txt no longer ends with '-e .': revisit binder/requirements.txt"
    assert binder[-1] == ".", "binder/requirements.txt must end with '.', the package, installed non-editably"
    assert not any(line.startswith(("-e", "--editable", "-r", "--requirement")) for line in binder)
    assert binder[:-1] == lock[:-1], (
        "binder/requirements.txt no longer holds requirements.txt's pins; regenerate it with the "
        "command in its header"
    )


# ---------------------------------------------------------------- setup page


def test_setup_page_installs_this_version_from_this_repository():
    setup = _read("book/setup.md")
    version = _pyproject()["project"]["version"]
    assert f'"vae-book @ git+{_repository_url()}@v{version}"' in setup
    for command in ("make lab", "make book", "make test", "PYTHON=python3.13 make lab",
                    "python -m venv .venv", r".venv\Scripts\activate", "source .venv/bin/activate",
                    "pip install -r requirements.txt", "python -m jupyter lab chapters/"):
        assert command in setup, command

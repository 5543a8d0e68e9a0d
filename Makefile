# The two commands of the README, and a few helpers.
#   make book   build the book into _build/html from the committed notebook outputs
#   make test   run the whole test suite (unit tests, notebooks under nbval, site checks)
# Each creates the virtual environment .venv and installs requirements.txt first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: book test lock clean

$(INSTALLED): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "error: the book needs Python 3.11, found " + sys.version.split()[0] + " (set PYTHON=python3.11)")'
	@echo "==> Creating the virtual environment $(VENV) and installing requirements.txt (a few minutes the first time)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $@
	@echo "==> Environment ready"

book: $(INSTALLED)
	@echo "==> Building the book into _build/html (warnings are errors; notebooks are not re-executed)"
	$(BIN)/jupyter-book build . -W -n --keep-going
	@echo "==> Done: open _build/html/index.html"

test: $(INSTALLED)
	@echo "==> Running the test suite"
	$(BIN)/python -m pytest

lock: $(INSTALLED)
	@echo "==> Regenerating requirements.txt from requirements.in"
	$(PYTHON) -m venv /tmp/vae-lock-venv && /tmp/vae-lock-venv/bin/pip install --quiet -r requirements.in
	{ echo "# Exact versions that install together on Python 3.11 (generated from requirements.in by 'make lock')."; \
	  /tmp/vae-lock-venv/bin/pip freeze --exclude-editable; echo "-e ."; } > requirements.txt
	rm -rf /tmp/vae-lock-venv

clean:
	rm -rf _build

# The three commands of the README, and a few helpers.
#   make lab    open the chapters in JupyterLab (a learner's first command)
#   make book   build the book into _build/html from the committed notebook outputs
#   make test   run the whole test suite (unit tests, notebooks under nbval, site checks)
#   make pdf    the built book as one PDF, _build/pdf/book.pdf (needs Debian's chromium)
# Each creates the virtual environment $(VENV) and installs requirements.txt first.
# Python 3.11, 3.12 and 3.13 are supported: PYTHON=python3.13 make test. If $(VENV)
# was made by another Python, it is made again. Without make (Windows), see
# book/setup.md: python -m venv, pip install -r requirements.txt, python -m jupyter lab.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The interpreter's X.Y, or a line saying what is wrong with it.
PYTHON_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
INSTALLED := $(VENV)/.installed-$(PYTHON_VERSION)
LAB_ARGS ?=
PYTEST_ARGS ?=

.PHONY: lab book test test-oldest pdf lock clean

$(INSTALLED): requirements.txt pyproject.toml
	@case "$(PYTHON_VERSION)" in \
	  3.11|3.12|3.13) ;; \
	  "") echo "error: '$(PYTHON)' is not a Python interpreter (set PYTHON=python3.11, 3.12 or 3.13)" >&2; exit 2 ;; \
	  *) echo "error: the book needs Python 3.11, 3.12 or 3.13; '$(PYTHON)' is $(PYTHON_VERSION) (set PYTHON=python3.13, say)" >&2; exit 2 ;; \
	esac
	@if [ -d $(VENV) ] && [ "$$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" != "$(PYTHON_VERSION)" ]; then \
	  echo "==> $(VENV) was made by another Python: making it again with $(PYTHON_VERSION)"; rm -rf $(VENV); fi
	@echo "==> Creating the virtual environment $(VENV) (Python $(PYTHON_VERSION)) and installing requirements.txt (a few minutes the first time)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@rm -f $(VENV)/.installed-*
	@touch $@
	@echo "==> Environment ready"

lab: $(INSTALLED)
	@echo "==> Opening the chapters in JupyterLab (Ctrl-C here stops it)"
	$(BIN)/python -m jupyter lab chapters $(LAB_ARGS)

book: $(INSTALLED)
	@echo "==> Building the book into _build/html (warnings are errors; notebooks are not re-executed)"
	$(BIN)/jupyter-book build . -W -n --keep-going
	@echo "==> Done: open _build/html/index.html"

pdf: book
	@echo "==> Printing every page of _build/html to one PDF with Chromium (about a minute)"
	$(BIN)/python tools/book_pdf.py
	@echo "==> Done: _build/pdf/book.pdf (also _build/html/book.pdf, the site's download link)"

# Two worker processes, each taking whole files (a notebook, a test module and its fixtures):
# on two cores the unit tests ran a third faster than in one process.
test: $(INSTALLED)
	@echo "==> Running the test suite"
	$(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

# The unit tests against the lowest versions pyproject.toml admits (TensorFlow 2.19,
# Keras 3.10, ...: requirements-oldest.txt), on Python 3.12, in .venv-oldest.
OLDEST_PYTHON ?= python3.12
test-oldest:
	@echo "==> Unit tests against requirements-oldest.txt on $(OLDEST_PYTHON) in .venv-oldest"
	rm -rf .venv-oldest && $(OLDEST_PYTHON) -m venv .venv-oldest
	.venv-oldest/bin/python -m pip install --quiet --upgrade pip
	.venv-oldest/bin/python -m pip install --quiet -r requirements-oldest.txt pytest-timeout hypothesis pyyaml
	.venv-oldest/bin/python -m pip install --quiet --no-deps -e .
	.venv-oldest/bin/python -m pytest tests --ignore=tests/test_site.py --ignore=tests/test_wheel.py \
	  --ignore=tests/test_reach.py --ignore=tests/test_publishing.py $(PYTEST_ARGS)

# The lock is resolved for Linux, macOS and Windows on Python 3.11-3.13 at once
# (uv's universal resolution), keeping the current pins where they still fit.
lock:
	@echo "==> Regenerating requirements.txt from requirements.in"
	rm -rf /tmp/vae-lock-venv && $(PYTHON) -m venv /tmp/vae-lock-venv && /tmp/vae-lock-venv/bin/pip install --quiet uv
	grep -v '^-e\|^#' requirements.txt > /tmp/vae-lock-current.txt
	/tmp/vae-lock-venv/bin/uv pip compile requirements.in --universal --python-version 3.11.5 \
	  -c /tmp/vae-lock-current.txt --no-header --no-annotate -o /tmp/vae-lock.txt
	{ echo "# Exact versions that install together on Python 3.11, 3.12 and 3.13 (Linux, macOS"; \
	  echo "# and Windows markers resolved by 'uv pip compile --universal'; generated from"; \
	  echo "# requirements.in by 'make lock'). The last line installs this repository's package."; \
	  cat /tmp/vae-lock.txt; echo "-e ."; } > requirements.txt
	@echo "==> Regenerating binder/requirements.txt: the same pins, then the package installed non-editably"
	{ sed -n '1,/^# ---- pins/p' binder/requirements.txt; grep -v -e '^#' -e '^-e \.$$' requirements.txt; echo .; } > binder/requirements.new
	mv binder/requirements.new binder/requirements.txt
	rm -rf /tmp/vae-lock-venv /tmp/vae-lock-current.txt /tmp/vae-lock.txt

clean:
	rm -rf _build

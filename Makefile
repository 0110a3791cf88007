# The course's commands. `make book` and `make test` create .venv from requirements.txt on
# first use, so on a fresh machine they are the only two set-up commands.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Notebook kernels and CLIs (jupyter-book, nbgrader) resolve `python` through PATH.
export PATH := $(CURDIR)/$(BIN):$(PATH)
# The chapters multiply small matrices, where a second BLAS thread costs more in hand-offs than
# it saves, and on a busy machine it stalls every product; one thread is faster and steadier.
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: help venv book test test-fast lint lab release grade clean bench

help:
	@echo "make book   build the HTML book into _build/html (executes every notebook, cached)"
	@echo "make test   run the whole test suite: lint, rnnlib, every notebook (nbval), nbgrader, built site"
	@echo "make test-fast  lint, then the tests that execute no notebook and open no browser (under a minute)"
	@echo "make lab    open JupyterLab in work/ with rnnlib and nbgrader's Validate button (for exercises)"
	@echo "make release  student versions of every assignment into exercises/release/, one zip each"
	@echo "make grade    grade exercises/submitted/ (and LMS=folder-or-zip), gradebook, feedback, grades.csv, report"
	@echo "make bench  speed vs torch, cache memory, charlm chars/s, grading, book builds (~20 min); BENCH_FULL=1 adds make test-fast and make test on a fresh clone (~35 min)"
	@echo "make clean  remove the build, caches, release/ and reports; keeps .venv and all grading data"

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

venv: $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going

# pytest-xdist runs whole files on TEST_WORKERS processes (the cells of a notebook share one kernel),
# the longest files first (conftest.py orders them). Markers: conftest.py.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# Every notebook runs once: nbval executes the chapters and hands their outputs to the build's cache
# (conftest.py), the build then executes nothing that passed, and the tests of the site come last.
test: lint
	$(PYTEST) -m "not site"
	$(BIN)/jupyter-book build . -W -n --keep-going
	$(PYTEST) -m site

test-fast: lint
	$(PYTEST) -m "not slow"

# Code style (ruff, configured in pyproject.toml) and notebooks stored without outputs.
lint: $(STAMP)
	$(BIN)/ruff check .
	find book exercises/source -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' -print0 \
	    | xargs -0 $(BIN)/nbstripout --verify --keep-id

# A learner's workspace: JupyterLab in the course's environment, rooted at work/ (git-ignored),
# where downloaded exercise notebooks go. Its kernel imports rnnlib, and nbgrader's Validate
# button runs a notebook's tests. It starts inside work/ so that nbgrader's tools take that folder
# as their root. LAB_ARGS passes options, e.g. LAB_ARGS=--no-browser.
LAB_DIR  ?= work
LAB_ARGS ?=
lab: $(STAMP)
	mkdir -p $(LAB_DIR)
	cd $(LAB_DIR) && jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

# Instructors: one command each (the package rnncourse). GRADEBOOK_URL (any SQLAlchemy URL) replaces
# the SQLite gradebook exercises/gradebook.db; LMS names a folder or zip of downloaded notebooks;
# WORKERS sets how many notebooks are graded at once (default: one per core).
release: $(STAMP)
	$(BIN)/python -m rnncourse.release

grade: $(STAMP)
	$(BIN)/python -m rnncourse.grade $(if $(LMS),--lms "$(LMS)") $(if $(WORKERS),--workers $(WORKERS))

# benchmarks/bench.py prints every measurement with its command; benchmarks/RESULTS.md records them.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py $(if $(BENCH_FULL),--full) $(if $(BENCH_STUDENTS),--students $(BENCH_STUDENTS))

# Submissions, autograded notebooks, feedback and the gradebook are the class's record: never cleaned.
clean:
	rm -rf _build .pytest_cache exercises/release exercises/report exercises/grades.csv \
	       exercises/grading_notes.json
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

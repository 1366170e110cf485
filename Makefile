# qfe: every target does its own set-up on a fresh machine.
#   make venv       .venv with pinned dependencies + qfe (plugin compiled) installed
#   make lint       ruff (settings in pyproject.toml); seconds
#   make test       lint, then the test suite (about 30 min on 2 cores, install included)
#   make test-long  longer physics runs (opt-in)
#   make demo       NCT free energy of bcc Li, 54 atoms, 100 K, built-in model (<= 10 min)
#   make bench      benchmarks/ scripts (print measured ratios, write benchmarks/results/)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=
export OMP_NUM_THREADS ?= 1
export TF_CPP_MIN_LOG_LEVEL ?= 3
export PYTHONUNBUFFERED = 1

.PHONY: venv deps install lint test test-long demo bench clean

venv: install

deps: $(VENV)/.deps-stamp

$(VENV)/.deps-stamp: requirements/lock.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements/lock.txt
	touch $@

# Always re-installs (incremental CMake build in build/), so tests see the current sources.
install: deps
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation .
	$(BIN)/python -c "import qfe.lammps as q, os; p = q.plugin_path(); assert os.path.exists(p), p; print('qfe plugin:', p)"

lint: deps
	$(BIN)/ruff check .

test: venv lint
	$(BIN)/python -m pytest -q -rxXs -m "not slow" $(PYTEST_ARGS) tests

test-long: venv
	$(BIN)/python -m pytest -q -rxXs -m slow $(PYTEST_ARGS) tests

demo: venv
	$(BIN)/qfe demo

bench: venv
	for f in benchmarks/*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf build dist $(VENV) .pytest_cache

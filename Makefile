# `make run`: the API and a worker on SQLite. `make test`: lint, types and every test that needs no second process
# (about 3 minutes on 2 cores). `make test-all`: everything, as CI (.ci/run) runs it: e2e with real workers on both
# backends, the browser, the walkthrough, the drills, the wheel, the GPU script in CPU mode.
# Each creates .venv in the project root when it is missing and installs the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run demo test test-all lint bench clean

FAST := not e2e and not browser and not slow  # the pytest markers (pyproject.toml) that `make test` leaves out
# Two pytest-xdist workers, one test at a time each, the longest first (tests/conftest.py): 2:27 against 3:52 for
# `make test`'s tests, 11:58 against about 21 minutes for all, on this machine's 2 cores
XDIST := -n 2 --dist load --maxschedchunk 1

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/sth serve

demo: $(STAMP)
	$(BIN)/sth train --preset quick --out runs/quick.safetensors

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest $(XDIST) -m "$(FAST)"

test-all: lint
	$(BIN)/pytest $(XDIST)

bench: $(STAMP)
	$(BIN)/python bench/bench_sthlib.py
	$(BIN)/python bench/bench_evaluate.py
	$(BIN)/python bench/bench_service.py
	$(BIN)/python bench/bench_memory.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache runs

# Salvo — build and test entry points. `make test` is what CI runs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST := $(PY) -m pytest

.PHONY: venv test test-fast test-unit test-integration bench clean

$(VENV)/.installed: shared/pyproject.toml requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e 'shared[executor]' -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

## test: every test suite (unit + integration; e2e joins when the images exist)
test: venv
	$(PYTEST) tests

## test-fast: unit tests only (seconds, no subprocesses)
test-fast: venv
	$(PYTEST) tests/unit

test-integration: venv
	$(PYTEST) tests/integration

bench: venv
	@echo "no benchmarks yet"

clean:
	rm -rf $(VENV) .pytest_cache

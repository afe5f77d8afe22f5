# Salvo — build and test entry points. `make test` is what CI runs (.ci/run).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST := $(PY) -m pytest
# The images' base: BASE_IMAGE when given, else python:3.12-slim, else (no registry reachable)
# the stand-in salvo-base:bookworm, built when missing: scripts/base-image.sh decides, as in CI.
export BASE_IMAGE
COMPOSE := docker compose

.PHONY: venv test test-fast test-e2e images image-jmeter base-image rehearsal lint bench clean readme-config lock report-screenshot

$(VENV)/.installed: shared/pyproject.toml requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e 'shared[executor]' -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

## test: the docs site (make docs), then unit + integration (loopback processes) + e2e (docker compose rehearsal)
test: venv docs
	$(PYTEST) tests

## test-fast: unit + integration, no Docker
test-fast: venv
	$(PYTEST) tests/unit tests/integration

test-e2e: venv
	$(PYTEST) tests/e2e

# SALVO_TOOL=jmeter: the rehearsal runs demo/jmeter on the executor image with JMeter
SALVO_TOOL ?= locust
SALVO_TAG ?= dev
ifeq ($(SALVO_TOOL),jmeter)
export SALVO_EXECUTOR_IMAGE := salvo-executor-jmeter
export SALVO_DEMO := demo.zip
endif

## images: the executor, controller and rehearsal images (base: see BASE_IMAGE above); with
## SALVO_TOOL=jmeter also salvo-executor-jmeter
images:
	BASE_IMAGE="$$(scripts/base-image.sh)" && export BASE_IMAGE && echo "images: BASE_IMAGE=$$BASE_IMAGE" \
	  && $(COMPOSE) build \
	  && if [ "$(SALVO_TOOL)" = jmeter ]; then $(MAKE) --no-print-directory image-jmeter; fi

## image-jmeter: salvo-executor-jmeter, FROM the executor image (JMeter 5.6.3 from Maven Central + the start gate)
image-jmeter:
	BASE_IMAGE="$$(scripts/base-image.sh)" && docker build -f images/executor-jmeter/Dockerfile \
	  --build-arg BASE_IMAGE="$$BASE_IMAGE" --build-arg EXECUTOR_IMAGE=salvo-executor:$(SALVO_TAG) \
	  -t salvo-executor-jmeter:$(SALVO_TAG) .

## base-image: a python:3.12-slim stand-in built from Debian packages (no registry needed)
base-image:
	scripts/build-base-image.sh salvo-base:bookworm

## rehearsal: a whole distributed test on this machine; exits with the controller's verdict (report in ./reports)
rehearsal: images
	$(COMPOSE) up --scale executor=5 --exit-code-from controller; status=$$?; \
	  $(COMPOSE) down -v --remove-orphans >/dev/null 2>&1; exit $$status

## lint: ruff's checks and formatting over every Python file (configuration: ruff.toml); CI runs it
LINT_PATHS := shared tests bench scripts demo images/rehearsal/lifecycle.py
lint: venv
	$(PY) -m ruff check $(LINT_PATHS)
	$(PY) -m ruff format --check $(LINT_PATHS)

## bench: fan-out to 2,000 executors, executor overhead vs bare locust, open-model rate, post-run, merge, scan (-> bench/results.json)
bench: venv
	@command -v nginx >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light)
	ulimit -n 20000 && $(PY) bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache reports site

.PHONY: docs docs-config
## docs: the documentation site (mkdocs.yml, docs/) into site/; strict, so a broken link fails
docs: venv
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

## docs-config: rewrite docs/configuration.md's tables from the settings models
docs-config: venv
	$(PY) scripts/config-table.py --write docs/configuration.md

readme-config: docs-config  # its former name: the tables left the README for docs/configuration.md

## report-screenshot: regenerate docs/report.png and docs/report-example.html (needs chromium)
report-screenshot: venv
	$(PY) scripts/report-screenshot.py

## lock: re-hash requirements/*.lock for linux/amd64 and linux/arm64 from PyPI (pins unchanged; see scripts/lock.py)
lock: venv
	$(PY) scripts/lock.py

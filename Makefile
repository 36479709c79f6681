# Every target bootstraps what it needs: a fresh machine only needs python3 (>= 3.11) and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: test lint typecheck run bench test-containers clean system-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet -e '.[test,ansible]'
	@# xds-protos ships an old copy of the OpenTelemetry protos at the same paths: the installed
	@# opentelemetry-proto's files must be the ones on disk (mesh/telemetry/otlp.py checks it).
	$(BIN)/pip install --quiet --force-reinstall --no-deps \
		"opentelemetry-proto==$$($(BIN)/python -c 'import importlib.metadata as m; print(m.version("opentelemetry-proto"))')"
	touch $(STAMP)

# Debian packages the suite drives for real (systemd-analyze, ip netns); installed only if missing.
system-deps:
	@.ci/system-deps

test: $(STAMP) system-deps
	$(BIN)/ruff check mesh agent tests bench
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check mesh agent tests bench
	$(BIN)/ruff format --check mesh agent tests bench
	$(BIN)/mypy

test-containers: $(STAMP)
	$(BIN)/pytest -m containers tests/containers tests/contract

run: $(STAMP)
	$(BIN)/python examples/demo.py

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

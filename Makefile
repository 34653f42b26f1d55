# Two commands: `make run` (a full refresh on the bundled example) and `make test` (ruff, then the test suite).
# Both create or refresh .venv from the pinned, tested dependency set in constraints.txt.
# `make bench` compares synthpipe with SDV's models in a separate environment (bench/.venv, see BENCHMARKS.md).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The benchmark's own environment: SDV (Business Source License, pandas<3) never enters .venv.
BENCH_VENV := bench/.venv
BENCH_STAMP := $(BENCH_VENV)/.installed

# Keep Prefect's state inside the project, telemetry off, and DVC analytics off.
export PREFECT_HOME ?= $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120
export DO_NOT_TRACK := 1
export DVC_NO_ANALYTICS := 1

# pip on this kind of machine warns about every package missing from a configured local index; keep the log readable.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PIP_QUIET_FILTER := grep -v "is ignored: it is neither a file nor a directory" || true

.PHONY: run test lint repro serve bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --constraint constraints.txt --editable ".[dev]" 2>&1 | { $(PIP_QUIET_FILTER); }
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/synthpipe refresh

test: lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

serve: $(STAMP)
	$(BIN)/synthpipe serve

repro: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

$(BENCH_STAMP): bench/requirements.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet torch==2.13.0  # the CPU wheel first: no CUDA packages
	$(BENCH_VENV)/bin/python -m pip install --quiet -r bench/requirements.txt
	touch $(BENCH_STAMP)

bench: $(STAMP) $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python bench/run.py

clean:
	rm -rf data/raw data/prepared data/synthetic data/merged models reports .prefect

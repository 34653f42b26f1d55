# Two commands: `make run` (a full refresh on the bundled example) and `make test`.
# Both create or refresh .venv from the pinned, tested dependency set in constraints.txt.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

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

.PHONY: run test repro serve clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --constraint constraints.txt --editable ".[dev]" 2>&1 | { $(PIP_QUIET_FILTER); }
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/synthpipe refresh

test: $(STAMP)
	$(BIN)/python -m pytest

serve: $(STAMP)
	$(BIN)/synthpipe serve

repro: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

clean:
	rm -rf data/raw data/prepared data/synthetic data/merged models reports .prefect

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

.PHONY: run test repro clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --constraint constraints.txt --editable ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/synthpipe refresh

test: $(STAMP)
	$(BIN)/python -m pytest

repro: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

clean:
	rm -rf data/raw data/prepared data/synthetic data/merged models reports .prefect

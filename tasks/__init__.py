"""The six pipeline stages. Each module has a plain function working on paths, a `run(params)` that
maps params.yaml onto it, and a Prefect task wrapping `run`; `synthpipe stage NAME` calls `run` for DVC."""

import os
from pathlib import Path

STAGES = ("ingest", "preprocess", "train", "generate", "validate", "merge")

# Prefect reads its settings at import time: keep its state inside the project and its telemetry off,
# unless the caller has chosen otherwise.
os.environ.setdefault("PREFECT_HOME", str(Path.cwd() / ".prefect"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

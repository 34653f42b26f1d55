"""The refresh flow: ingest -> preprocess -> train -> generate -> validate -> merge, as Prefect tasks."""

from __future__ import annotations

import importlib

from synthpipe.config import load_params, set_environment_defaults

set_environment_defaults()  # before Prefect loads: it reads its settings at import time
from prefect import flow, get_run_logger  # noqa: E402
from prefect.context import get_run_context  # noqa: E402

from flows.dvc_sync import DvcStages  # noqa: E402
from synthpipe.gate.summary import summarize  # noqa: E402
from synthpipe.io import exclusive_lock  # noqa: E402
from synthpipe.stages import STAGES  # noqa: E402

# Each stage module defines `<stage>_task`, the Prefect task around the same `run` that DVC calls;
# generate with several shards runs as a flow of shard tasks on Dask instead (same file as the task writes).
STAGE_TASKS = {stage: getattr(importlib.import_module(f"tasks.{stage}"), f"{stage}_task") for stage in STAGES}
STAGE_TASKS["generate"] = importlib.import_module("tasks.generate").generate_in_flow

LOCK_FILE = ".synthpipe.lock"


@flow(name="refresh")
def refresh(params_file: str = "params.yaml", overrides: list[str] | None = None) -> dict:
    """Run every stage that is out of date; returns the run summary. A failed gate raises GateFailed."""
    logger = get_run_logger()
    overrides = list(overrides or [])
    params = load_params(params_file, overrides)
    dvc = DvcStages.for_run(params_file, overrides)
    if dvc is None:
        logger.warning("Not recording this run in DVC: it uses parameters other than the project's params.yaml "
                       "(or the project is not a DVC repository); every stage runs.")
    # One refresh of a project at a time, however it was started (by hand, schedule or CI).
    with exclusive_lock(LOCK_FILE, holder=f"refresh flow run {get_run_context().flow_run.name}"):
        for stage, stage_task in STAGE_TASKS.items():
            if dvc is not None and dvc.is_up_to_date(stage):
                logger.info("%s: up to date, skipped", stage)
                continue
            stage_task(params)
            if dvc is not None:
                dvc.record(stage)
    return summarize(params.paths, params.data.modality)

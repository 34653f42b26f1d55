"""The six stages and the one place that picks a modality's implementation of them.

Each modality is a package with a `stages` module whose `run(stage, params)` maps its params sections onto
plain functions on paths. The Prefect tasks (tasks/), `synthpipe stage NAME` (what dvc.yaml runs) and the
tests all come through `run_stage`, so a modality is added here and nowhere else. Modules load on first use:
a table run never imports torch's image code, and the CLI starts fast.
"""

from __future__ import annotations

import importlib

from synthpipe.config import Params

STAGES = ("ingest", "preprocess", "train", "generate", "validate", "merge")
MODALITIES = {"table": "synthpipe.tabular.stages", "image": "synthpipe.images.stages",
              "timeseries": "synthpipe.timeseries.stages"}


def run_stage(stage: str, params: Params) -> dict:
    """Run one stage of the configured modality; returns the stage's summary."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r} (stages: {STAGES})")
    return importlib.import_module(MODALITIES[params.data.modality]).run(stage, params)


def sharded(params: Params) -> bool:
    """Whether generate draws its rows in shards that a task runner can spread over workers (tables only)."""
    return params.data.modality == "table" and params.generate.shards > 1

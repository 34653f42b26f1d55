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
MODALITIES = {"table": "synthpipe.tabular.stages", "image": "synthpipe.images.stages"}
# Each modality's lines in the run summary, light modules (no torch): gate_summary(quality, path) -> dict with the
# modality's name under "modality", gate_line(that dict) -> str, and optionally extra_rows(that dict).
SUMMARIES = {"table": "synthpipe.tabular.summary", "image": "synthpipe.images.summary"}


def run_stage(stage: str, params: Params) -> dict:
    """Run one stage of the configured modality; returns the stage's summary."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r} (stages: {STAGES})")
    return importlib.import_module(MODALITIES[params.data.modality]).run(stage, params)


def artifact_tables(params: Params, report: dict) -> dict[str, tuple[list[dict], str]]:
    """The gate's figures for Prefect table artifacts, key -> (rows, description), as the modality lays them out."""
    return importlib.import_module(MODALITIES[params.data.modality]).artifact_tables(report)


def summary_module(modality: str):
    """The module that lays out `modality`'s gate figures in the run summary (see SUMMARIES)."""
    return importlib.import_module(SUMMARIES[modality])


def sharded(params: Params) -> bool:
    """Whether generate draws its rows in shards that a task runner can spread over workers (tables only)."""
    return params.data.modality == "table" and params.generate.shards > 1

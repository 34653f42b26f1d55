"""Stage 5: the quality gate, then its report published as Prefect artifacts, whether it passed or not."""

from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from synthpipe.config import Params
from synthpipe.gate.checks import artifact_tables
from synthpipe.io import read_json
from synthpipe.stages import run_stage


def run(params: Params) -> dict:
    try:
        return run_stage("validate", params)
    finally:
        if params.paths.quality.exists():
            publish(params.paths.quality, params.paths.summary)


def publish(quality_path: Path, summary_path: Path) -> None:
    create_markdown_artifact(key="quality-summary", markdown=summary_path.read_text(encoding="utf-8"),
                             description="Quality gate verdict, reasons and what synthetic data did to model accuracy")
    for key, (table, description) in artifact_tables(read_json(quality_path)).items():
        create_table_artifact(key=key, table=table, description=description)


validate_task = task(run, name="validate", cache_policy=NO_CACHE, persist_result=False)

"""Stage 1: read the configured source, write it as Parquet with a schema snapshot; stop on schema drift."""

from pathlib import Path

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from synthpipe.config import Params, SourceConfig
from synthpipe.errors import InputError
from synthpipe.io import read_json, write_json, write_parquet
from synthpipe.schema import check_table, schema_drift, snapshot
from synthpipe.sources import describe_source, load_source


def ingest(source: SourceConfig, raw_path: Path, schema_path: Path, allow_drift: bool, target: str | None = None) -> dict:
    df = load_source(source)
    check_table(df, describe_source(source), target)
    current = write_raw(df, raw_path, schema_path, allow_drift)
    return {"rows": current["rows"], "columns": len(current["columns"])}


def write_raw(df: pd.DataFrame, raw_path: Path, schema_path: Path, allow_drift: bool) -> dict:
    """Write the ingested table and its schema snapshot, unless its schema drifted from the last ingest's."""
    current = snapshot(df)
    if schema_path.exists() and not allow_drift:
        changes = schema_drift(read_json(schema_path), current)
        if changes:
            raise InputError(f"schema drift since the last ingest ({schema_path}): " + "; ".join(changes)
                             + ". Set ingest.allow_schema_drift: true to accept the new schema.")
    write_parquet(df, raw_path)
    write_json(current, schema_path)
    return current


def run(params: Params) -> dict:
    paths = params.paths
    if params.data.modality == "image":
        from tasks import images  # torch and Pillow load only for image runs

        return images.ingest(params.data.source, params.data.target, params.image, paths.raw, paths.schema,
                             params.ingest.allow_schema_drift)
    return ingest(params.data.source, paths.raw, paths.schema, params.ingest.allow_schema_drift, params.data.target)


# DVC decides what is up to date, so Prefect's own result cache stays off.
ingest_task = task(run, name="ingest", cache_policy=NO_CACHE, persist_result=False)

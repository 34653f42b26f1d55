"""Stage 1: read the configured source, write it as Parquet with a schema snapshot; stop on schema drift."""

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from prefect import task
from prefect.cache_policies import NO_CACHE

from synthpipe.config import Params, SourceConfig
from synthpipe.errors import InputError
from synthpipe.io import (BATCH_ROWS, chunked_frame_hash, pandas_probe, parquet_dataset, read_json, read_table,
                          scan_batches, write_arrow_chunks, write_json, write_parquet)
from synthpipe.schema import check_batches, check_table, schema_drift, snapshot
from synthpipe.sources import describe_source, load_source, source_file


def ingest(source: SourceConfig, raw_path: Path, schema_path: Path, allow_drift: bool, target: str | None = None) -> dict:
    if source.format == "parquet" and not source.parse_dates:
        current = stream_parquet(source, raw_path, schema_path, allow_drift, target)
        return {"rows": current["rows"], "columns": len(current["columns"])}
    df = load_source(source)
    check_table(df, describe_source(source), target)
    current = write_raw(df, raw_path, schema_path, allow_drift)
    return {"rows": current["rows"], "columns": len(current["columns"])}


def write_raw(df: pd.DataFrame, raw_path: Path, schema_path: Path, allow_drift: bool) -> dict:
    """Write the ingested table and its schema snapshot, unless its schema drifted from the last ingest's."""
    current = snapshot(df)
    check_drift(current, schema_path, allow_drift)
    write_parquet(df, raw_path)
    write_json(current, schema_path)
    return current


def stream_parquet(source: SourceConfig, raw_path: Path, schema_path: Path, allow_drift: bool,
                   target: str | None) -> dict:
    """write_raw for a Parquet source (a file or partitions), copied batch by batch: a table of any size
    never sits in memory whole. The snapshot equals snapshot() of the table read by pandas."""
    path = source_file(source)
    dataset = parquet_dataset(path)
    if any(isinstance(index, str) for index in (dataset.schema.pandas_metadata or {}).get("index_columns", [])):
        df = read_table(path)  # pandas drops the stored index
        check_table(df, describe_source(source), target)
        return write_raw(df, raw_path, schema_path, allow_drift)
    check_batches((batch.to_pandas() for batch in scan_batches(dataset)), describe_source(source), target)
    rows = dataset.count_rows()
    probe = pandas_probe(dataset)
    dtypes = probe.dtypes
    columns = [{"name": str(name), "dtype": str(dtype)} for name, dtype in dtypes.items()]
    check_drift({"columns": columns}, schema_path, allow_drift)
    # The schema pandas would write: the raw file reads back with the dtypes of the in-memory path.
    written = pa.Schema.from_pandas(probe, preserve_index=False)
    schema = pa.schema([dataset.schema.field(f.name) if pa.types.is_null(f.type) else f for f in written],
                       metadata=written.metadata)  # a probe value that is null says nothing of its type
    write_arrow_chunks((pa.Table.from_batches([batch]).cast(schema) for batch in scan_batches(dataset)), raw_path)
    batches = pq.ParquetFile(raw_path).iter_batches(batch_size=BATCH_ROWS)
    content_hash = chunked_frame_hash((batch.to_pandas().astype(dtypes) for batch in batches), dtypes)
    current = {"columns": columns, "rows": rows, "content_hash": content_hash}
    write_json(current, schema_path)
    return current


def check_drift(current: dict, schema_path: Path, allow_drift: bool) -> None:
    if schema_path.exists() and not allow_drift:
        changes = schema_drift(read_json(schema_path), current)
        if changes:
            raise InputError(f"schema drift since the last ingest ({schema_path}): " + "; ".join(changes)
                             + ". Set ingest.allow_schema_drift: true to accept the new schema.")


def run(params: Params) -> dict:
    paths = params.paths
    if params.data.modality == "image":
        from tasks import images  # torch and Pillow load only for image runs

        return images.ingest(params.data.source, params.data.target, params.image, paths.raw, paths.schema,
                             params.ingest.allow_schema_drift)
    return ingest(params.data.source, paths.raw, paths.schema, params.ingest.allow_schema_drift, params.data.target)


# DVC decides what is up to date, so Prefect's own result cache stays off.
ingest_task = task(run, name="ingest", cache_policy=NO_CACHE, persist_result=False)

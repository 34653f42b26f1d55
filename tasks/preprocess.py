"""Stage 2: split the real rows into train and holdout (the model is fitted on train only)."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from prefect import task
from prefect.cache_policies import NO_CACHE

from synthpipe.config import Params, PreprocessConfig
from synthpipe.errors import InputError
from synthpipe.io import BATCH_ROWS, atomic_dir, parquet_file, write_arrow_chunks
from synthpipe.split import holdout_rows


def preprocess(raw_path: Path, out_dir: Path, target: str | None, cfg: PreprocessConfig, seed: int) -> dict:
    """Split the raw Parquet file (ingest writes one) while streaming it: only the target column and a mask
    of the rows are ever whole in memory. The split is the one split_train_holdout makes of the table."""
    raw = parquet_file(raw_path)
    if target is not None and target not in raw.schema_arrow.names:
        raise InputError(f"data.target: column '{target}' is not in the data (columns: {raw.schema_arrow.names})")
    labels = raw.read(columns=[target]).to_pandas()[target] if target is not None else None
    holdout = holdout_rows(raw.metadata.num_rows, labels, cfg.holdout_fraction, cfg.stratify, seed)
    del labels
    with atomic_dir(out_dir) as tmp:
        train_rows = write_arrow_chunks(_rows_where(raw, ~holdout), tmp / "train.parquet")
        holdout_rows_written = write_arrow_chunks(_rows_where(raw, holdout), tmp / "holdout.parquet")
    return {"train_rows": train_rows, "holdout_rows": holdout_rows_written}


def _rows_where(source: pq.ParquetFile, mask: np.ndarray) -> Iterator[pa.Table]:
    """The rows of `source` where `mask` holds, batch by batch, in their order."""
    start = 0
    for batch in source.iter_batches(batch_size=BATCH_ROWS):
        yield pa.Table.from_batches([batch.filter(pa.array(mask[start : start + batch.num_rows]))])
        start += batch.num_rows


def run(params: Params) -> dict:
    if params.data.modality == "image":
        from tasks import images  # torch and Pillow load only for image runs

        return images.preprocess(params.paths.raw, params.paths.prepared, params.data.target, params.preprocess,
                                 params.seed)
    return preprocess(params.paths.raw, params.paths.prepared, params.data.target, params.preprocess, params.seed)


preprocess_task = task(run, name="preprocess", cache_policy=NO_CACHE, persist_result=False)

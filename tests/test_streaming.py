"""Parquet sources stream through ingest and preprocess batch by batch, with the in-memory path's results."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import synthpipe.tabular.stages
from synthpipe.config import PreprocessConfig, SourceConfig
from synthpipe.errors import InputError
from synthpipe.io import read_json
from synthpipe.schema import snapshot
from synthpipe.split import split_train_holdout
from synthpipe.tabular.stages import ingest, preprocess


def sources(tmp_path, penguins) -> dict:
    """A pandas-written file in four row groups, hive partitions, and an Arrow-written file with nullable ints."""
    penguins.to_parquet(tmp_path / "file.parquet", index=False, row_group_size=100)
    penguins.to_parquet(tmp_path / "partitions", index=False, partition_cols=["island"])
    arrow = pa.table({"count": pa.array([1, None, 3, 4] * 50, pa.int64()),
                      "flag": pa.array([True, False, None, True] * 50),
                      "whole": pa.array(np.arange(200)), "label": pa.array(["a", "b"] * 100)})
    pq.write_table(arrow, tmp_path / "arrow.parquet", row_group_size=64)
    return {name: tmp_path / name for name in ("file.parquet", "partitions", "arrow.parquet")}


def test_parquet_ingest_copies_the_table_and_snapshots_it_as_pandas_reads_it(tmp_path, penguins):
    for name, path in sources(tmp_path, penguins).items():
        raw, schema = tmp_path / f"raw-{name}.parquet", tmp_path / f"{name}.schema.json"
        expected = pd.read_parquet(path)
        result = ingest(SourceConfig(format="parquet", path=str(path)), raw, schema, allow_drift=False)
        assert result == {"rows": len(expected), "columns": expected.shape[1]}
        pd.testing.assert_frame_equal(pd.read_parquet(raw), expected)
        assert read_json(schema) == snapshot(expected)  # dtypes (int with nulls: float64) and content hash


def test_parquet_ingest_stops_on_drift_before_writing(tmp_path, penguins):
    path = sources(tmp_path, penguins)["file.parquet"]
    raw, schema = tmp_path / "raw.parquet", tmp_path / "schema.json"
    ingest(SourceConfig(format="parquet", path=str(path)), raw, schema, allow_drift=False)
    before = raw.stat().st_mtime_ns
    penguins.assign(year=penguins["year"].astype(float)).to_parquet(path, index=False)
    with pytest.raises(InputError, match="column 'year' changed type int64 -> float64"):
        ingest(SourceConfig(format="parquet", path=str(path)), raw, schema, allow_drift=False)
    assert raw.stat().st_mtime_ns == before
    pd.DataFrame({"a": pd.Series([], dtype=float)}).to_parquet(tmp_path / "empty.parquet")
    with pytest.raises(InputError, match="has a header but no rows"):
        ingest(SourceConfig(format="parquet", path=str(tmp_path / "empty.parquet")), raw, schema, allow_drift=True)


@pytest.mark.parametrize("target, stratify", [("species", True), ("sex", True), (None, False)])
def test_streamed_split_is_the_in_memory_split(tmp_path, penguins, monkeypatch, target, stratify):
    monkeypatch.setattr(synthpipe.tabular.stages, "BATCH_ROWS", 50)  # several batches, a mask slice each
    penguins.to_parquet(tmp_path / "raw.parquet", index=False)
    cfg = PreprocessConfig(holdout_fraction=0.25, stratify=stratify)
    assert preprocess(tmp_path / "raw.parquet", tmp_path / "prepared", target, cfg, seed=5) == \
        {"train_rows": 258, "holdout_rows": 86}
    train, holdout = split_train_holdout(penguins, target, 0.25, stratify, seed=5)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "prepared" / "train.parquet"), train)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "prepared" / "holdout.parquet"), holdout)
    if stratify:  # both sides keep the class shares (nulls are a class of their own)
        shares = [side[target].value_counts(normalize=True, dropna=False) for side in (train, holdout)]
        assert (shares[0] - shares[1]).abs().max() < 0.02

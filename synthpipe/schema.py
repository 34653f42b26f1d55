"""Table schema: column kinds, schema snapshots and drift detection."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from synthpipe.io import frame_hash

ColumnKind = Literal["continuous", "discrete", "categorical", "boolean", "datetime"]
NUMERIC_KINDS = ("continuous", "discrete", "datetime")


def infer_kind(series: pd.Series) -> ColumnKind:
    """The modelling kind of a column, from its dtype and (for objects) its values."""
    dtype = series.dtype
    if ptypes.is_bool_dtype(dtype):
        return "boolean"
    if ptypes.is_datetime64_any_dtype(dtype):
        return "datetime"
    if ptypes.is_integer_dtype(dtype):
        return "discrete"
    if ptypes.is_float_dtype(dtype):
        return "continuous"
    non_null = series.dropna()
    if len(non_null) and non_null.map(type).isin([bool]).all():
        return "boolean"  # object column of True/False with nulls
    return "categorical"


def datetime_nanos(series: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch (UTC) of a datetime column, as int64; NaT becomes the int64 minimum."""
    if series.dt.tz is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    return series.to_numpy("datetime64[ns]").view(np.int64)


def infer_kinds(df: pd.DataFrame) -> dict[str, ColumnKind]:
    return {str(name): infer_kind(df[name]) for name in df.columns}


def snapshot(df: pd.DataFrame) -> dict:
    """What ingest records about a table, to compare the next ingest against."""
    return {
        "columns": [{"name": str(name), "dtype": str(dtype)} for name, dtype in df.dtypes.items()],
        "rows": len(df),
        "content_hash": frame_hash(df),
    }


def schema_drift(previous: dict, current: dict) -> list[str]:
    """Human-readable differences in column set and dtypes between two snapshots."""
    before = {c["name"]: c["dtype"] for c in previous["columns"]}
    after = {c["name"]: c["dtype"] for c in current["columns"]}
    changes = [f"column '{name}' was added ({after[name]})" for name in after if name not in before]
    changes += [f"column '{name}' was removed" for name in before if name not in after]
    changes += [
        f"column '{name}' changed type {before[name]} -> {after[name]}"
        for name in after
        if name in before and before[name] != after[name]
    ]
    return changes

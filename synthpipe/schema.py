"""Table schema: column kinds, schema snapshots and drift detection."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from synthpipe.errors import InputError
from synthpipe.io import frame_hash

ColumnKind = Literal["continuous", "discrete", "categorical", "boolean", "datetime"]
NUMERIC_KINDS = ("continuous", "discrete", "datetime")
# Fewer rows cannot be split into train, holdout and model-selection parts with any row to spare.
MIN_ROWS = 10
_NESTED = {"list", "dict", "tuple", "set", "ndarray"}


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


def observed_decimals(values: np.ndarray) -> int | None:
    """The fewest decimal places that every observed float respects, up to 6 (None: more, or none seen)."""
    if len(values) == 0:
        return None
    tolerance = 1e-9 * max(1.0, float(np.abs(values).max()))
    return next((places for places in range(7)
                 if np.allclose(np.round(values, places), values, rtol=0, atol=tolerance)), None)


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


def check_table(df: pd.DataFrame, source: str, target: str | None = None, target_key: str = "data.target") -> None:
    """Refuse a table no model can learn from, naming `source` (a file, URL or example) and the column at fault.

    Ingest and `synthpipe fit` both call this before anything is written. NaN is a null and is fine;
    +-inf, all-null columns, values of several types in one column and repeated column names are not.
    """
    check_batches([df], source, target, target_key)


def check_batches(batches: Iterable[pd.DataFrame], source: str, target: str | None = None,
                  target_key: str = "data.target") -> None:
    """check_table for a table read in batches: one batch in memory at a time, however long the table."""
    rows, filled, classes = 0, None, set()
    for df in batches:
        if filled is None:
            _check_header(df, source, target, target_key)
            filled = dict.fromkeys(df.columns, False)
        rows += len(df)
        for name in df.columns:
            problem = _value_problem(df[name])
            if problem:
                raise InputError(f"{source}: column '{name}' {problem}")
            filled[name] = filled[name] or bool(df[name].notna().any())
        if target is not None and len(classes) < 2:
            classes.update(df[target].dropna().unique().tolist()[:2])
    if rows < MIN_ROWS:
        what = "has a header but no rows" if rows == 0 else f"has {rows} row(s)"
        raise InputError(f"{source}: {what}; at least {MIN_ROWS} rows are needed to fit a model and hold rows out "
                         "for evaluation. Add rows.")
    empty = [name for name, seen in filled.items() if not seen]
    if empty:
        raise InputError(f"{source}: column '{empty[0]}' is empty (every value is null). "
                         "Drop the column or fill it in.")
    if target is not None and len(classes) < 2:
        raise InputError(f"{target_key}: column '{target}' in {source} has a single value "
                         f"({next(iter(classes))!r}), so there is nothing to stratify the split on or to predict "
                         f"for utility. Choose another target, or {_without(target_key)}.")


def _without(target_key: str) -> str:
    return f"leave out {target_key}" if target_key.startswith("--") else f"set {target_key}: null"


def _check_header(df: pd.DataFrame, source: str, target: str | None, target_key: str) -> None:
    if len(df.columns) == 0:
        raise InputError(f"{source}: the table has no columns. Point the source at a table with a header and rows.")
    repeated = sorted({str(name) for name in df.columns[df.columns.duplicated()]})
    if repeated:
        raise InputError(f"{source}: column name(s) {repeated} appear more than once. Give every column its own name.")
    if target is not None and target not in df.columns:
        raise InputError(f"{target_key}: column '{target}' is not in {source} (columns: {list(map(str, df.columns))}). "
                         f"Name one of them, or {_without(target_key)}.")


def _value_problem(series: pd.Series) -> str | None:
    if ptypes.is_numeric_dtype(series.dtype) and not ptypes.is_bool_dtype(series.dtype):
        infinite = int(np.isinf(series.to_numpy(dtype=np.float64, na_value=np.nan)).sum())
        if infinite:
            return (f"has {infinite} infinite value(s) (inf or -inf). Replace them with real numbers, "
                    "or with nulls (NaN) if unknown.")
        return None
    if not (ptypes.is_object_dtype(series.dtype) or ptypes.is_string_dtype(series.dtype)):
        return None
    inferred = ptypes.infer_dtype(series, skipna=True)
    if inferred in ("mixed", "mixed-integer", "unknown-array"):
        types = sorted({type(value).__name__ for value in series.dropna()})
        if _NESTED & set(types):
            return (f"holds nested values ({', '.join(sorted(_NESTED & set(types)))}). Flatten them into columns "
                    "of numbers, text, booleans or dates.")
        return f"mixes value types ({', '.join(types)}). Make every value of the column one type."
    return None

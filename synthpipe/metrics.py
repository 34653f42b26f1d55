"""Statistical fidelity of synthetic data against real data (1.0 = identical)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from synthpipe.schema import NUMERIC_KINDS, ColumnKind, datetime_nanos


def as_numbers(series: pd.Series) -> pd.Series:
    """Floats for any numeric-like column; datetimes as nanoseconds since the epoch."""
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        nanos = datetime_nanos(series).astype(float)
        return pd.Series(np.where(series.isna(), np.nan, nanos), index=series.index)
    return pd.to_numeric(series, errors="coerce").astype(float)


def column_shape(real: pd.Series, synthetic: pd.Series, kind: ColumnKind) -> float:
    """KS complement for numbers (on non-null values), total-variation complement for categories (null counts)."""
    if kind in NUMERIC_KINDS:
        a, b = as_numbers(real).dropna(), as_numbers(synthetic).dropna()
        if len(a) == 0 or len(b) == 0:
            return float(len(a) == len(b))
        return 1.0 - float(stats.ks_2samp(a, b).statistic)
    p = real.astype(object).fillna("<null>").value_counts(normalize=True)
    q = synthetic.astype(object).fillna("<null>").value_counts(normalize=True)
    p, q = p.align(q, fill_value=0.0)
    return 1.0 - 0.5 * float(np.abs(p - q).sum())


def column_shapes(real: pd.DataFrame, synthetic: pd.DataFrame, kinds: dict[str, ColumnKind]) -> dict[str, float]:
    return {name: column_shape(real[name], synthetic[name], kind) for name, kind in kinds.items()}


def correlation_difference(real: pd.DataFrame, synthetic: pd.DataFrame, kinds: dict[str, ColumnKind]) -> float | None:
    """Mean absolute difference of pairwise Pearson correlations over numeric columns (None if < 2)."""
    numeric = [name for name, kind in kinds.items() if kind in NUMERIC_KINDS]
    if len(numeric) < 2:
        return None
    corr_real = pd.DataFrame({n: as_numbers(real[n]) for n in numeric}).corr().to_numpy()
    corr_syn = pd.DataFrame({n: as_numbers(synthetic[n]) for n in numeric}).corr().to_numpy()
    upper = np.triu_indices(len(numeric), k=1)
    # A constant column has no correlation (NaN); count it as 0 so a collapsed column still differs.
    diff = np.abs(np.nan_to_num(corr_real[upper]) - np.nan_to_num(corr_syn[upper]))
    return float(diff.mean())

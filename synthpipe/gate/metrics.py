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
        return 1.0 - float(stats.ks_2samp(a, b, method="asymp").statistic)
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


def correlation_matrices(real: pd.DataFrame, synthetic: pd.DataFrame,
                         kinds: dict[str, ColumnKind]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Pearson correlations of the numeric columns in real and synthetic data (NaN where undefined)."""
    numeric = [name for name, kind in kinds.items() if kind in NUMERIC_KINDS]
    corr_real = pd.DataFrame({n: as_numbers(real[n]) for n in numeric}).corr().to_numpy()
    corr_syn = pd.DataFrame({n: as_numbers(synthetic[n]) for n in numeric}).corr().to_numpy()
    return numeric, corr_real, corr_syn


def pair_codes(real: pd.DataFrame, synthetic: pd.DataFrame, kinds: dict[str, ColumnKind], bins: int = 5,
               levels_kept: int = 10) -> dict[str, tuple[np.ndarray, np.ndarray, int]]:
    """Every column as small integer codes for contingency tables: numbers binned at the real quintiles,
    categories by their `levels_kept` most frequent real levels; null has a code of its own and every
    other value (rarer real levels, values real data never had) shares one, so a column of near-unique
    names does not make even two real samples look unrelated (invented values are the column shape
    and expectation checks' concern, not this one's)."""
    codes = {}
    for name, kind in kinds.items():
        if kind in NUMERIC_KINDS:
            a, b = as_numbers(real[name]).to_numpy(), as_numbers(synthetic[name]).to_numpy()
            present = a[~np.isnan(a)]
            edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1])) if len(present) else np.array([])
            size = len(edges) + 2  # bins + null
            codes[name] = (_binned(a, edges), _binned(b, edges), size)
        else:
            levels = real[name].astype(object).dropna().value_counts(sort=True).index[:levels_kept]
            size = len(levels) + 2  # kept levels, null, any other value
            codes[name] = (_levelled(real[name], levels), _levelled(synthetic[name], levels), size)
    return codes


def _binned(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(values), len(edges) + 1, np.searchsorted(edges, values, side="right"))


def _levelled(series: pd.Series, levels: pd.Index) -> np.ndarray:
    codes = pd.Categorical(series.astype(object), categories=levels).codes.astype(np.int64)
    other = series.notna().to_numpy() & (codes < 0)
    return np.where(other, len(levels) + 1, np.where(codes < 0, len(levels), codes))


def contingency_similarities(real: pd.DataFrame, synthetic: pd.DataFrame, kinds: dict[str, ColumnKind],
                             max_pairs: int) -> dict[str, float]:
    """1 - total variation distance between the joint distributions of each column pair that involves a
    category (numbers binned at real quintiles: coarse enough that two samples of a few hundred rows from
    one population score about 0.85), so a category's link to any other column is checked.
    With more pairs than `max_pairs`, an evenly spaced selection of them is scored."""
    categorical = [name for name, kind in kinds.items() if kind not in NUMERIC_KINDS]
    pairs = [(a, b) for i, a in enumerate(kinds) for b in list(kinds)[i + 1:] if a in categorical or b in categorical]
    if len(pairs) > max_pairs:
        pairs = [pairs[i] for i in np.linspace(0, len(pairs) - 1, max_pairs).astype(int)]
    codes = pair_codes(real, synthetic, {n: kinds[n] for n in {c for pair in pairs for c in pair}})
    scores = {}
    for a, b in pairs:
        (ra, sa, size_a), (rb, sb, size_b) = codes[a], codes[b]
        p = np.bincount(ra * size_b + rb, minlength=size_a * size_b) / len(ra)
        q = np.bincount(sa * size_b + sb, minlength=size_a * size_b) / max(len(sa), 1)
        scores[f"{a} & {b}"] = 1.0 - 0.5 * float(np.abs(p - q).sum())
    return scores


def coverage(real: pd.DataFrame, synthetic: pd.DataFrame, kinds: dict[str, ColumnKind]) -> dict[str, dict[str, float]]:
    """How much of the real data's variety the synthetic data reaches, per column (1.0 = all of it).

    Categories: the share of real categories that appear, counting only those a faithful generator of this
    many rows would produce at least 5 times (a rare category may be missed by chance alone).
    Numbers: the share of the real 1st-99th percentile range that synthetic values span (outliers aside).
    """
    categories, ranges = {}, {}
    for name, kind in kinds.items():
        if kind in NUMERIC_KINDS:
            a, b = as_numbers(real[name]).dropna(), as_numbers(synthetic[name]).dropna()
            low, high = (float(a.quantile(0.01)), float(a.quantile(0.99))) if len(a) else (0.0, 0.0)
            if high == low or len(b) == 0:
                ranges[name] = float(len(b) > 0 or len(a) == 0)
                continue
            spanned = min(float(b.max()), high) - max(float(b.min()), low)
            ranges[name] = float(np.clip(spanned / (high - low), 0.0, 1.0))
        else:
            share = real[name].dropna().astype(object).value_counts(normalize=True)
            expected = share[share * len(synthetic) >= 5].index
            reached = set(synthetic[name].dropna().astype(object)) & set(expected)
            categories[name] = len(reached) / len(expected) if len(expected) else 1.0
    return {"categories": categories, "ranges": ranges}


def duplicate_share(df: pd.DataFrame) -> float:
    """Share of rows that repeat an earlier row of the same table."""
    return float(pd.util.hash_pandas_object(df, index=False).duplicated().mean()) if len(df) else 0.0

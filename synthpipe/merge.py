"""Merge: every real train row, unchanged, plus accepted synthetic rows, with provenance."""

from __future__ import annotations

import pandas as pd

from synthpipe.errors import InputError

PROVENANCE_COLUMNS = ("is_synthetic", "generator_run")


def merge_real_and_synthetic(real: pd.DataFrame, synthetic: pd.DataFrame, ratio: float, run_id: str) -> tuple[pd.DataFrame, dict]:
    """Append up to `ratio * len(real)` synthetic rows, none of them an exact copy of a real row."""
    clash = [name for name in PROVENANCE_COLUMNS if name in real.columns]
    if clash:
        raise InputError(f"real data already has provenance column(s) {clash}; rename them before merging")
    if list(synthetic.columns) != list(real.columns):
        raise InputError(f"synthetic columns {list(synthetic.columns)} do not match real columns {list(real.columns)}")
    synthetic = _with_dtypes_of(real, synthetic)
    copies = _row_hashes(synthetic).isin(set(_row_hashes(real)))
    candidates = synthetic[~copies.to_numpy()]
    accepted = candidates.head(int(round(ratio * len(real))))
    merged = pd.concat(
        [real.assign(is_synthetic=False, generator_run=None), accepted.assign(is_synthetic=True, generator_run=run_id)],
        ignore_index=True,
    )
    merged["generator_run"] = merged["generator_run"].astype("string")
    counts = {"real": len(real), "synthetic": len(accepted), "synthetic_offered": len(synthetic),
              "exact_copies_dropped": int(copies.sum()), "total": len(merged)}
    return merged, counts


def _with_dtypes_of(real: pd.DataFrame, synthetic: pd.DataFrame) -> pd.DataFrame:
    """Cast synthetic columns to the real dtypes, so concatenation never changes a real column's dtype."""
    for name in real.columns:
        if synthetic[name].dtype != real[name].dtype:
            try:
                synthetic = synthetic.assign(**{name: synthetic[name].astype(real[name].dtype)})
            except (TypeError, ValueError) as exc:
                raise InputError(f"synthetic column '{name}' cannot take the real dtype {real[name].dtype}: {exc}") from None
    return synthetic


def _row_hashes(df: pd.DataFrame) -> pd.Series:
    return pd.util.hash_pandas_object(df, index=False)

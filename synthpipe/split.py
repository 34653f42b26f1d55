"""Train/holdout split: the holdout is set aside for honest evaluation and never trained on or merged."""

from __future__ import annotations

import pandas as pd
from sklearn.model_selection import train_test_split

from synthpipe.errors import InputError
from synthpipe.schema import infer_kind


def split_train_holdout(df: pd.DataFrame, target: str | None, fraction: float, stratify: bool, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Random split, stratified on a categorical target so both sides keep its class balance."""
    if target is not None and target not in df.columns:
        raise InputError(f"data.target: column '{target}' is not in the data (columns: {list(df.columns)})")
    if len(df) < 2:
        raise InputError(f"the data has {len(df)} row(s); at least 2 are needed to split train and holdout")
    labels = None
    if stratify and target is not None and infer_kind(df[target]) in ("categorical", "boolean"):
        labels = df[target].astype(object).fillna("<null>")
        rare = labels.value_counts()[lambda counts: counts < 2]
        if len(rare):
            raise InputError(f"data.target '{target}': class(es) {list(rare.index)} have a single row, so the "
                             "split cannot be stratified; set preprocess.stratify: false or add rows")
    try:
        train, holdout = train_test_split(df, test_size=fraction, random_state=seed, stratify=labels)
    except ValueError as exc:
        raise InputError(f"preprocess.holdout_fraction={fraction}: cannot split {len(df)} rows: {exc}") from None
    # Keep the source order within each side: rows stay recognisable to whoever compares them.
    return train.sort_index().reset_index(drop=True), holdout.sort_index().reset_index(drop=True)

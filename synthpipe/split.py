"""Train/holdout split: the holdout is set aside for honest evaluation and never trained on or merged."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from synthpipe.errors import InputError
from synthpipe.schema import infer_kind


def split_train_holdout(df: pd.DataFrame, target: str | None, fraction: float, stratify: bool,
                        seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Random split, stratified on a categorical target so both sides keep its class balance."""
    if target is not None and target not in df.columns:
        raise InputError(f"data.target: column '{target}' is not in the data (columns: {list(df.columns)})")
    holdout = holdout_rows(len(df), df[target] if target is not None else None, fraction, stratify, seed)
    # Keep the source order within each side: rows stay recognisable to whoever compares them.
    return df[~holdout].reset_index(drop=True), df[holdout].reset_index(drop=True)


def holdout_rows(rows: int, labels: pd.Series | None, fraction: float, stratify: bool, seed: int) -> np.ndarray:
    """Which of `rows` rows go to the holdout (a boolean mask), given only the target column: a table too
    large for memory is then split while streaming. Stratified when the labels are categorical; the row of a
    class seen once cannot be on both sides, so it stays in train (where the generator can learn it)."""
    if rows < 2:
        raise InputError(f"the data has {rows} row(s); at least 2 are needed to split train and holdout")
    classes, eligible = None, np.arange(rows)
    if stratify and labels is not None and infer_kind(labels) in ("categorical", "boolean"):
        classes = _class_indices(labels)
        eligible = np.flatnonzero(classes >= 0)
        classes = classes[eligible]
    try:
        # The row numbers stand in for the rows: the same draw as splitting the table itself.
        _, held = train_test_split(eligible, test_size=fraction, random_state=seed, stratify=classes)
    except ValueError as exc:
        raise InputError(f"preprocess.holdout_fraction={fraction}: cannot split {rows} rows: {exc}") from None
    mask = np.zeros(rows, dtype=bool)
    mask[held] = True
    return mask


def _class_indices(labels: pd.Series) -> np.ndarray:
    """Each row's class as an integer, numbered in the sorted order of the class values (null is "<null>"),
    which is the order the stratified split gives the classes; -1 for a class with a single row."""
    codes, uniques = pd.factorize(labels)
    values = np.array([*uniques.astype(object), "<null>"], dtype=object)
    codes = np.where(codes < 0, len(values) - 1, codes)
    counts = np.bincount(codes, minlength=len(values))
    present = np.flatnonzero(counts)
    try:
        order = np.argsort(values[present])
    except TypeError:  # values that do not compare (e.g. booleans and "<null>"): by type, then text
        order = np.array(sorted(range(len(present)),
                                key=lambda i: (str(type(values[present[i]])), str(values[present[i]]))))
    rank = np.empty(len(values), dtype=np.int64)
    rank[present[order]] = np.arange(len(present))
    rank[counts < 2] = -1
    return rank[codes]

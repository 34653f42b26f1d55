"""Mixed-type tables as model inputs and as points in a distance space, fitted on real train data.

One encoding serves every learned check (detection, utility, augmentation) and one serves every
distance-based check (privacy), so all of them see the columns the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from synthpipe.gate.metrics import as_numbers
from synthpipe.schema import NUMERIC_KINDS, ColumnKind

# HistGradientBoosting takes at most 255 bins per feature, one of them for missing values: rarer
# categories share one level, which keeps every categorical column usable as a native categorical feature.
MAX_MODEL_CATEGORIES = 250
# One-hot columns for distances: beyond this many categories the rare ones share one column.
MAX_DISTANCE_CATEGORIES = 50
OTHER = "<other>"


@dataclass(frozen=True)
class FeatureSpace:
    """How to turn a table with the real train columns into numbers: fitted on real train rows only."""

    numeric: dict[str, tuple[float, float]]  # column -> (low, high) of the real values
    categories: dict[str, list]  # column -> kept categories, most frequent first

    @classmethod
    def fit(cls, real: pd.DataFrame, kinds: dict[str, ColumnKind], exclude: tuple[str, ...] = ()) -> FeatureSpace:
        numeric, categories = {}, {}
        for name, kind in kinds.items():
            if name in exclude:
                continue
            if kind in NUMERIC_KINDS:
                values = as_numbers(real[name]).dropna()
                numeric[name] = (float(values.min()), float(values.max())) if len(values) else (0.0, 0.0)
            else:
                counts = real[name].astype(object).dropna().value_counts()
                categories[name] = counts.index.tolist()
        return cls(numeric, categories)

    def model_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """Numbers as floats (NaN kept: the models handle it), categories as pandas Categoricals with
        the real train levels, so train and test frames agree and unseen values become missing."""
        columns = {name: as_numbers(df[name]).to_numpy() for name in self.numeric}
        for name, levels in self.categories.items():
            kept = levels[: MAX_MODEL_CATEGORIES - 1]
            values = df[name].astype(object)
            if len(levels) > len(kept):
                values = values.where(~values.isin(levels[len(kept):]), OTHER)
                kept = kept + [OTHER]
            columns[name] = pd.Categorical(values, categories=kept)
        return pd.DataFrame(columns, index=df.index)

    def distance_matrix(self, df: pd.DataFrame) -> np.ndarray:
        """Points for Euclidean nearest-neighbour search: numbers scaled to the real range [0, 1] (a missing
        value sits at 0 with its own 0/1 flag), categories one-hot scaled by 1/sqrt(2), so a mismatch in
        one categorical column costs the same as a full-range gap in one numeric column."""
        blocks = []
        for name, (low, high) in self.numeric.items():
            values = as_numbers(df[name]).to_numpy()
            missing = np.isnan(values)
            scaled = np.where(missing, 0.0, (values - low) / ((high - low) or 1.0))
            blocks += [scaled[:, None], missing[:, None].astype(float)]
        for name, levels in self.categories.items():
            kept = levels[:MAX_DISTANCE_CATEGORIES]
            codes = pd.Categorical(df[name].astype(object), categories=kept).codes  # -1: null or rare
            onehot = np.zeros((len(df), len(kept) + 1))
            onehot[np.arange(len(df)), np.where(codes < 0, len(kept), codes)] = 1.0
            blocks.append(onehot / np.sqrt(2.0))
        if not blocks:
            return np.zeros((len(df), 1))
        return np.hstack(blocks).astype(np.float32)

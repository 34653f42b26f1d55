"""How well a candidate model did on held-out real rows: what `model="auto"` selects by.

- shapes: per column, 1 - KS statistic for numbers, 1 - total variation for categories (as SDMetrics);
- pairs: per column pair, 1 - |correlation difference| / 2 for two numbers, else 1 - total variation of
  the joint distribution of their binned values (numbers in real-data decile bins, nulls a bin of their own);
- utility (with a target): accuracy (classification) or R^2 clipped to [0, 1] (regression) on the
  held-out rows of a gradient-boosting model trained on the synthetic rows.
The score is the mean of the quality (shapes and pairs) and, when there is a target, utility.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from synthpipe.metrics import as_numbers, column_shape
from synthpipe.schema import NUMERIC_KINDS, ColumnKind, infer_kinds

BINS = 10
UTILITY_TREES = 50  # boosting rounds: enough to rank candidates, cheap enough to run three times
MAX_PAIR_COLUMNS = 30  # pairs grow quadratically: wider tables are scored on their first columns


def score(real: pd.DataFrame, synthetic: pd.DataFrame, target: str | None) -> dict:
    kinds = infer_kinds(real)
    shapes = float(np.mean([column_shape(real[c], synthetic[c], kinds[c]) for c in real.columns]))
    pairs = _pairs(real, synthetic, kinds)
    quality = (shapes + pairs) / 2 if pairs is not None else shapes
    result = {"shapes": shapes, "pairs": pairs, "quality": quality}
    if target is not None:
        result["utility"] = utility(synthetic, real, target, kinds[target])
        result["score"] = (quality + result["utility"]) / 2
    else:
        result["score"] = quality
    return result


def _numbers_of(series: pd.Series) -> np.ndarray:
    return as_numbers(series).to_numpy(dtype=np.float64)


def _bins(real: pd.Series, synthetic: pd.Series, kind: ColumnKind) -> tuple[np.ndarray, np.ndarray, int]:
    """Both columns as small integer bins defined by the real data; the last bin is null / unseen."""
    if kind in NUMERIC_KINDS:
        a, b = _numbers_of(real), _numbers_of(synthetic)
        edges = np.unique(np.nanquantile(a, np.linspace(0, 1, BINS + 1)[1:-1])) if np.isfinite(a).any() else np.array([])
        width = len(edges) + 2
        return [np.where(np.isnan(x), width - 1, np.searchsorted(edges, x, side="right")) for x in (a, b)] + [width]
    levels = real.astype(object).value_counts().index[: BINS - 1]
    width = len(levels) + 2  # one bin for every other level, one for null
    codes = [pd.Categorical(s.astype(object), categories=levels).codes.astype(np.int64) for s in (real, synthetic)]
    return [np.where(s.isna().to_numpy(), width - 1, np.where(c < 0, width - 2, c)) for s, c in zip((real, synthetic), codes)] + [width]


def _pairs(real: pd.DataFrame, synthetic: pd.DataFrame, kinds: dict[str, ColumnKind]) -> float | None:
    columns = list(real.columns[:MAX_PAIR_COLUMNS])
    if len(columns) < 2:
        return None
    binned = {c: _bins(real[c], synthetic[c], kinds[c]) for c in columns}
    scores = []
    for x, y in itertools.combinations(columns, 2):
        if kinds[x] in NUMERIC_KINDS and kinds[y] in NUMERIC_KINDS:
            r = [pd.Series(_numbers_of(df[x])).corr(pd.Series(_numbers_of(df[y]))) for df in (real, synthetic)]
            scores.append(1.0 - abs(np.nan_to_num(r[0]) - np.nan_to_num(r[1])) / 2)
            continue
        (ax, bx, wx), (ay, by, wy) = binned[x], binned[y]
        p = np.bincount(ax * wy + ay, minlength=wx * wy) / len(ax)
        q = np.bincount(bx * wy + by, minlength=wx * wy) / len(bx)
        scores.append(1.0 - 0.5 * float(np.abs(p - q).sum()))
    return float(np.mean(scores))


def features(df: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Columns a gradient-boosting model takes: numbers as floats, categories coded by the reference's levels."""
    out = {}
    for name in df.columns:
        kind = infer_kinds(reference[[name]])[name]
        if kind in NUMERIC_KINDS:
            out[name] = _numbers_of(df[name])
        else:
            levels = pd.Index(reference[name].dropna().astype(str).unique())
            text = df[name].astype(object).astype(str).where(df[name].notna().to_numpy())
            out[name] = pd.Categorical(text, categories=levels)
    return pd.DataFrame(out)


def utility(synthetic: pd.DataFrame, real: pd.DataFrame, target: str, kind: ColumnKind) -> float:
    """Train on synthetic, test on real: accuracy, or R^2 clipped to [0, 1] for a numeric target."""
    from threadpoolctl import threadpool_limits

    # One thread: on a busy machine OpenMP's spinning threads make a small fit tens of times slower.
    with threadpool_limits(limits=1, user_api="openmp"):
        return _utility(synthetic, real, target, kind)


def _utility(synthetic: pd.DataFrame, real: pd.DataFrame, target: str, kind: ColumnKind) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    train, test = synthetic.dropna(subset=[target]), real.dropna(subset=[target])
    if len(train) == 0 or len(test) == 0:
        return 0.0
    x_train, x_test = (features(df.drop(columns=target), real) for df in (train, test))
    if kind in NUMERIC_KINDS:
        model = HistGradientBoostingRegressor(max_iter=UTILITY_TREES, categorical_features="from_dtype", random_state=0)
        model.fit(x_train, _numbers_of(train[target]))
        return float(np.clip(model.score(x_test, _numbers_of(test[target])), 0.0, 1.0))
    labels_train, labels_test = train[target].astype(str), test[target].astype(str)
    if labels_train.nunique() < 2:
        return float((labels_test == labels_train.iloc[0]).mean())
    model = HistGradientBoostingClassifier(max_iter=UTILITY_TREES, categorical_features="from_dtype", random_state=0)
    model.fit(x_train, labels_train)
    return float(model.score(x_test, labels_test))

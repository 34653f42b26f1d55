"""How well a candidate model did on held-out real rows: what `model="auto"` selects by.

The measures are the quality gate's own (synthpipe.gate.metrics, synthpipe.gate.evaluation), so the model
chosen is the one the gate will judge best:
- shapes: per column, 1 - KS statistic for numbers, 1 - total variation for categories (as SDMetrics);
- pairs: per column pair, 1 - |correlation difference| / 2 for two numbers, the contingency similarity
  for pairs with a category;
- realism: 2 x (1 - detection ROC AUC), clipped to [0, 1]: 1 when a gradient-boosting classifier cannot tell
  the synthetic rows from the held-out ones (AUC 0.5), 0 when it tells every one (synthpipe.gate.evaluation.detection);
- utility (with a target): balanced accuracy (classification) or R^2 floored at -1 (regression) on the
  held-out rows of a gradient-boosting model trained on the synthetic rows. R^2 is not clipped at 0: on a
  target that is hard to predict every candidate scores below 0, and how far below is what tells apart rows
  whose target follows their columns from rows whose target is noise (which hurt a model trained on them).
The score is the mean of the quality (shapes and pairs), realism and, when there is a target, utility. A utility
the model library refuses to compute (it says why in `utility_not_computed`) is left out of the mean.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthpipe.gate.evaluation import Scorer, detection, task_for
from synthpipe.gate.features import FeatureSpace
from synthpipe.gate.metrics import column_shapes, contingency_similarities, correlation_matrices
from synthpipe.schema import ColumnKind, infer_kinds

R2_FLOOR = -1.0  # a model worse than predicting the mean by the target's whole variance
UTILITY_TREES = 50  # boosting rounds: enough to rank candidates, cheap enough to run three times
MAX_PAIRS = 500  # category pairs grow quadratically: wide tables are scored on an even selection
DETECTION_ROWS, DETECTION_FOLDS = 5000, 3  # the gate's defaults (validate.sample_rows, validate.detection_folds)


def score(real: pd.DataFrame, synthetic: pd.DataFrame, target: str | None) -> dict:
    kinds = infer_kinds(real)
    shapes = float(np.mean(list(column_shapes(real, synthetic, kinds).values())))
    pairs = pair_trends(real, synthetic, kinds)
    quality = (shapes + pairs) / 2 if pairs is not None else shapes
    result = {"shapes": shapes, "pairs": pairs, "quality": quality}
    parts = [quality]
    try:
        auc = realism_auc(real, synthetic, kinds)
        result |= {"detection": auc, "realism": float(np.clip(2 * (1 - auc), 0.0, 1.0))}
        parts.append(result["realism"])
    except ValueError as exc:  # the detector refused the data: quality and utility still rank the candidates
        result |= {"detection": None, "realism": None, "realism_not_computed": f"{type(exc).__name__}: {exc}"}
    if target is not None:
        try:
            result["utility"] = utility(synthetic, real, target, kinds)
            parts.append(result["utility"])
        except ValueError as exc:
            result |= {"utility": None, "utility_not_computed": f"{type(exc).__name__}: {exc}"}
    return result | {"score": float(np.mean(parts))}


def realism_auc(real: pd.DataFrame, synthetic: pd.DataFrame, kinds: dict[str, ColumnKind]) -> float:
    """The gate's detection ROC AUC of the synthetic rows against the held-out real rows."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"):
        return detection(real, synthetic[list(kinds)], FeatureSpace.fit(real, kinds), DETECTION_ROWS, DETECTION_FOLDS,
                         seed=0, max_iter=UTILITY_TREES)["auc"]


def pair_trends(real: pd.DataFrame, synthetic: pd.DataFrame, kinds: dict[str, ColumnKind]) -> float | None:
    """Mean pair score over every numeric pair and (up to MAX_PAIRS) pairs with a category; None below 2 columns."""
    _, corr_real, corr_synthetic = correlation_matrices(real, synthetic, kinds)
    upper = np.triu_indices(len(corr_real), k=1)
    # A constant column has no correlation (NaN); count it as 0 so a collapsed column still differs.
    numeric = 1.0 - np.abs(np.nan_to_num(corr_real[upper]) - np.nan_to_num(corr_synthetic[upper])) / 2
    scores = [*numeric, *contingency_similarities(real, synthetic, kinds, MAX_PAIRS).values()]
    return float(np.mean(scores)) if scores else None


def utility(synthetic: pd.DataFrame, real: pd.DataFrame, target: str, kinds: dict[str, ColumnKind]) -> float:
    """Train on synthetic, test on real, scored as the gate's TSTR; R^2 is floored at -1 (one catastrophic fit
    must not outweigh every other part of the score)."""
    from threadpoolctl import threadpool_limits

    if real[target].notna().sum() == 0 or synthetic[target].notna().sum() == 0:
        return 0.0
    space = FeatureSpace.fit(real, kinds, exclude=(target,))
    scorer = Scorer(real, target, task_for(real[target], kinds[target]), space, UTILITY_TREES)
    # One thread: on a busy machine OpenMP's spinning threads make a small fit tens of times slower.
    with threadpool_limits(limits=1, user_api="openmp"):
        return float(np.clip(np.nan_to_num(scorer.score(synthetic, seed=0)), R2_FLOOR, 1.0))

"""Curation: which synthetic rows a model fitted on the real rows finds consistent with their own target.

A generator fitted on a few hundred rows draws some rows whose target does not follow their other columns. Added
to a scarce training set, those rows teach the downstream model a relation the real data does not have, and
augmentation then lowers its holdout score. So generate draws more rows than merge adds
(`merge.curation_factor` times as many), and merge takes the consistent ones first, in the draw's order:

- a class target: the rows whose class is the one the real-fitted model predicts for them;
- a numeric target: the rows whose target lies as close to the real-fitted model's prediction as 90% of real rows
  lie to their out-of-fold predictions.

Both keep every consistent row, not the most typical ones: ranking rows by how typical they are and keeping the
top would take each class's core and leave out its spread, and a classifier then tells the merged rows from real
ones (BENCHMARKS.md, "Curation"). The model is the gate's gradient boosting (synthpipe.gate.evaluation), fitted on
the real rows merge adds to, so at a point of the scarcity curve it sees that subset alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, cross_val_predict

from synthpipe.gate.evaluation import model_for, task_for, usable
from synthpipe.gate.features import FeatureSpace
from synthpipe.gate.metrics import as_numbers
from synthpipe.schema import infer_kinds

MODEL_ITERATIONS = 50  # boosting iterations of the curating model, as the gate's models by default
MAX_FIT_ROWS = 20_000  # real rows the curating model is fitted on (a seeded sample beyond): its cost stays bounded
RESIDUAL_QUANTILE = 0.9  # numeric target: a synthetic row's residual may be as large as this share of real ones'
OUT_OF_FOLD_SPLITS = 3


def consistent_first(real: pd.DataFrame, pool: pd.DataFrame, target: str, seed: int) -> pd.DataFrame:
    """`pool` with the rows consistent with the real rows first and the others after, each part in the draw's
    order: the policy takes rows from the top (of each class, under balance). Unchanged when there is nothing to
    judge by: too few labelled real rows, or a single class."""
    consistent = _consistent(real, pool, target, seed)
    if consistent is None:
        return pool
    # Rows with a null target count as consistent: the real data may have them, and no model can judge them.
    consistent |= pool[target].isna().to_numpy()
    return pool.iloc[np.argsort(~consistent, kind="stable")]


def _consistent(real: pd.DataFrame, pool: pd.DataFrame, target: str, seed: int) -> np.ndarray | None:
    labelled = real[real[target].notna()]
    if len(pool) == 0 or len(labelled) < 2 * OUT_OF_FOLD_SPLITS:
        return None
    if len(labelled) > MAX_FIT_ROWS:
        labelled = labelled.sample(MAX_FIT_ROWS, random_state=seed)
    kinds = infer_kinds(labelled)
    space = FeatureSpace.fit(labelled, kinds, exclude=(target,))
    features = usable(space.model_frame(labelled))
    candidates = space.model_frame(pool)[features.columns]
    if task_for(labelled[target], kinds[target]) == "regression":
        return _within_real_residuals(as_numbers(labelled[target]).to_numpy(), features, candidates,
                                      as_numbers(pool[target]).to_numpy(), seed)
    labels = labelled[target].astype(object).astype(str).to_numpy()
    if len(np.unique(labels)) < 2:
        return None
    model = model_for("classification", seed, MODEL_ITERATIONS, len(labels)).fit(features, labels)
    return model.predict(candidates) == pool[target].astype(object).astype(str).to_numpy()


def _within_real_residuals(y: np.ndarray, features: pd.DataFrame, candidates: pd.DataFrame, drawn: np.ndarray,
                           seed: int) -> np.ndarray:
    model = model_for("regression", seed, MODEL_ITERATIONS, len(y))
    folds = KFold(OUT_OF_FOLD_SPLITS, shuffle=True, random_state=seed)
    limit = np.quantile(np.abs(y - cross_val_predict(model, features, y, cv=folds)), RESIDUAL_QUANTILE)
    return np.abs(drawn - model.fit(features, y).predict(candidates)) <= limit

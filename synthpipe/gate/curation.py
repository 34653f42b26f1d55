"""Curation: which synthetic rows a model fitted on the real rows finds consistent with their own target.

A generator fitted on a few hundred rows draws some rows whose target does not follow their other columns. Added
to a scarce training set, those rows teach the downstream model a relation the real data does not have, and
augmentation then lowers its holdout score. Curation draws more rows than merge adds and keeps the consistent ones:

- a class target: within each class, the 1/factor of its drawn rows to which the real-fitted model gives their own
  class the highest probability. Ranking inside each class keeps the generator's class shares; a shared
  threshold would empty the rare classes, which the model seldom predicts.
- a numeric target: the rows whose target lies as close to the real-fitted model's prediction as 90% of real rows
  lie to their out-of-fold predictions. Keeping only the closest rows instead would shrink the target's spread
  around the model's own guess.

The model is the gate's gradient boosting (synthpipe.gate.evaluation), fitted on the real rows merge adds to, so
at a point of the scarcity curve it sees that subset alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, cross_val_predict

from synthpipe.gate.evaluation import model_for, task_for, usable
from synthpipe.gate.features import FeatureSpace
from synthpipe.gate.metrics import as_numbers
from synthpipe.schema import infer_kinds

MODEL_ITERATIONS = 50  # boosting iterations of the curating model: it ranks rows, and more changed little
MAX_FIT_ROWS = 20_000  # real rows the curating model is fitted on (a seeded sample beyond): its cost stays bounded
RESIDUAL_QUANTILE = 0.9  # numeric target: a synthetic row's residual may be as large as this share of real ones'
OUT_OF_FOLD_SPLITS = 3


def most_consistent_first(real: pd.DataFrame, pool: pd.DataFrame, target: str, seed: int) -> pd.DataFrame:
    """`pool` reordered so that the policy, taking rows from the top (per class, or in all), takes the most
    consistent. A class target orders rows by their standing within their own class (the share of its rows
    more consistent), so any top slice keeps the draw's class shares. Unchanged when there is nothing to judge
    by: too few labelled real rows, or a single class."""
    judged = _consistency(real, pool, target, seed)
    if judged is None:
        return pool
    scores, groups = judged
    # Rows with a null target go first: the real data may have them, and no model can judge them.
    scores = np.where(pool[target].notna().to_numpy(), scores, np.inf)
    standing = pd.Series(-scores).groupby(groups).rank(method="first", pct=True).to_numpy()
    return pool.iloc[np.argsort(standing, kind="stable")]


def _consistency(real: pd.DataFrame, pool: pd.DataFrame, target: str,
                 seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """A score per pool row (higher: more consistent) and the group it is ranked in (its class, or one group)."""
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
        scores = _within_real_residuals(as_numbers(labelled[target]).to_numpy(), features, candidates,
                                        as_numbers(pool[target]).to_numpy(), seed)
        return scores, np.zeros(len(pool))
    labels = labelled[target].astype(object).astype(str).to_numpy()
    drawn = pool[target].astype(object).astype(str).to_numpy()
    if len(np.unique(labels)) < 2:
        return None
    return _own_class_probability(labels, features, candidates, drawn, seed), drawn


def _own_class_probability(labels: np.ndarray, features: pd.DataFrame, candidates: pd.DataFrame, drawn: np.ndarray,
                           seed: int) -> np.ndarray:
    model = model_for("classification", seed, MODEL_ITERATIONS, len(labels)).fit(features, labels)
    probability = model.predict_proba(candidates)
    column = pd.Series(range(len(model.classes_)), index=model.classes_)
    # A class the real rows do not have scores 0 (nothing vouches for it); the classes never compete with each
    # other, since each class's rows are ranked apart.
    index = column.reindex(drawn).to_numpy()
    known = ~np.isnan(index)
    scores = np.zeros(len(drawn))
    scores[known] = probability[np.flatnonzero(known), index[known].astype(int)]
    return scores


def _within_real_residuals(y: np.ndarray, features: pd.DataFrame, candidates: pd.DataFrame, drawn: np.ndarray,
                           seed: int) -> np.ndarray:
    """1 for a row whose residual is within the real rows' RESIDUAL_QUANTILE, else 0: the rows within are equals,
    taken in the pool's order."""
    model = model_for("regression", seed, MODEL_ITERATIONS, len(y))
    folds = KFold(OUT_OF_FOLD_SPLITS, shuffle=True, random_state=seed)
    limit = np.quantile(np.abs(y - cross_val_predict(model, features, y, cv=folds)), RESIDUAL_QUANTILE)
    return (np.abs(drawn - model.fit(features, y).predict(candidates)) <= limit).astype(float)

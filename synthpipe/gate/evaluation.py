"""Learned checks, each scored on real data: detection (can a model tell synthetic rows from real ones?),
utility (train on synthetic, test on real) and augmentation gain (does adding synthetic rows help?).

All models are histogram gradient boosting with native categorical support: fast, robust to
scale and missing values, and a strong default on tables.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from synthpipe.gate.features import FeatureSpace
from synthpipe.gate.metrics import as_numbers
from synthpipe.schema import ColumnKind

Task = Literal["classification", "regression"]
METRICS = {"classification": "balanced_accuracy", "regression": "r2"}
# A discrete target with at most this many distinct values is a label, not a quantity.
MAX_DISCRETE_CLASSES = 10


def model_for(task: Task, seed: int, max_iter: int, rows: int, balanced: bool = False):
    """Gradient boosting sized to the data: the default 20 rows per leaf cannot split a scarce training set
    (the 10% point of the augmentation curve), so leaves shrink with it, down to 2 rows. `balanced` weights
    each class inversely to its frequency (classification only: the class-weights baseline). Early stopping stays
    off: above 10,000 rows scikit-learn turns it on by itself with a stratified split of its own, which fails on a
    class with a single row (a rare class in synthetic rows), and a fixed iteration count keeps scores comparable."""
    # Fewer, larger boosting steps than the default (100 x 0.1): about the same fit at half the cost.
    # l2_regularization 1 (XGBoost's default; scikit-learn's is 0): a leaf's value is -gradient / hessian, and a
    # rare class's hessian is tiny, so without it multiclass boosting diverges on imbalanced tables (flights'
    # 16 carriers, rarest 174x rarer: balanced accuracy 0.09 on the holdout and 0.14 accuracy on its own train
    # rows; 0.88 with it). On balanced small tables it costs about a point.
    options = dict(max_iter=max_iter, learning_rate=0.2, l2_regularization=1.0,
                   min_samples_leaf=min(20, max(2, rows // 10)), categorical_features="from_dtype",
                   early_stopping=False, random_state=seed)
    if task == "classification":
        return HistGradientBoostingClassifier(class_weight="balanced" if balanced else None, **options)
    return HistGradientBoostingRegressor(**options)


def detection(real: pd.DataFrame, synthetic: pd.DataFrame, space: FeatureSpace, max_rows: int, folds: int,
              seed: int, max_iter: int, resamples: int = 200) -> dict:
    """ROC AUC of a classifier telling `synthetic` rows from `real` ones, scored only on rows it was not fitted on.

    Equal seeded samples of each (at most `max_rows`) are dealt into `folds` folds, each fold holding as many real
    as synthetic rows; a model fitted on the other folds scores each fold, and the AUC is the mean over folds.
    `low`/`high`: a 95% interval from bootstrap resamples of each fold's scored rows (classes resampled apart).
    0.5: indistinguishable; 1.0: every synthetic row gives itself away. The draws and the fold deal come from one
    generator, so no fold lines up with the order the rows arrived in (sorted tables once made the same seed's
    sample and fold shuffle coincide, and the AUC fell to 0.2).
    """
    rng = np.random.default_rng(seed)
    rows = min(len(real), len(synthetic), max_rows)
    picked_real, picked_synthetic = rng.permutation(len(real))[:rows], rng.permutation(len(synthetic))[:rows]
    both = pd.concat([real.iloc[picked_real], synthetic.iloc[picked_synthetic]], ignore_index=True)
    features = usable(space.model_frame(both))
    labels = np.repeat([0, 1], rows)
    fold = np.concatenate([rng.permutation(rows) % folds, rng.permutation(rows) % folds])  # balanced in every fold
    aucs, boots = [], []
    for k in range(min(folds, rows)):
        fit, test = fold != k, fold == k
        model = detector(seed, max_iter, int(fit.sum())).fit(features[fit], labels[fit])
        scores = model.predict_proba(features[test])[:, 1]
        aucs.append(auc(labels[test], scores))
        boots.append(bootstrap_auc(labels[test], scores, resamples, rng))
    spread = np.mean(boots, axis=0)
    return {"auc": float(np.mean(aucs)), "low": float(np.quantile(spread, 0.025)),
            "high": float(np.quantile(spread, 0.975)), "rows": rows}


def detector(seed: int, max_iter: int, rows: int) -> HistGradientBoostingClassifier:
    """Shallow trees: on 137 real penguin rows against 137 other real rows, over 10 splits, the unlimited trees'
    AUC spread 0.036 around 0.5 (lowest 0.42); depth 3 halves it (0.019, lowest 0.46) and catches a column
    shifted by half its standard deviation as well (AUC 0.75)."""
    return HistGradientBoostingClassifier(max_iter=max_iter, learning_rate=0.2, max_depth=3,
                                          min_samples_leaf=min(20, max(2, rows // 10)),
                                          categorical_features="from_dtype", early_stopping=False,
                                          random_state=seed)


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    return float(bootstrap_auc(labels, scores, 0, None)[0])


def bootstrap_auc(labels: np.ndarray, scores: np.ndarray, resamples: int,
                  rng: np.random.Generator | None) -> np.ndarray:
    """ROC AUC (Mann-Whitney, ties counted half) of the rows as given (resamples=0) or of `resamples` bootstrap
    resamples drawn within each class, vectorised: one rank computation per resample."""
    positive, negative = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    if resamples:
        positive = positive[rng.integers(len(positive), size=(resamples, len(positive)))]
        negative = negative[rng.integers(len(negative), size=(resamples, len(negative)))]
    else:
        positive, negative = positive[None, :], negative[None, :]
    pos, neg = scores[positive], scores[negative]
    # Rank of each positive score among the negatives: below counts 1, equal counts half.
    neg_sorted = np.sort(neg, axis=1)
    below = np.stack([np.searchsorted(row, p, side="left") for row, p in zip(neg_sorted, pos)])
    equal = np.stack([np.searchsorted(row, p, side="right") for row, p in zip(neg_sorted, pos)]) - below
    return (below + equal / 2).sum(axis=1) / (pos.shape[1] * neg.shape[1])


def usable(features: pd.DataFrame) -> pd.DataFrame:
    """Feature columns with at least one value: gradient boosting cannot bin a column that is all missing
    (a small subset of a sparse column, or a generator that left a column empty)."""
    return features.loc[:, features.notna().any().to_numpy()]


def task_for(series: pd.Series, kind: ColumnKind) -> Task:
    if kind in ("categorical", "boolean"):
        return "classification"
    if kind == "discrete" and series.nunique() <= MAX_DISCRETE_CLASSES:
        return "classification"
    return "regression"


class Scorer:
    """Fits a model on some rows and scores it on the fixed real holdout, with the target's task and metric."""

    def __init__(self, holdout: pd.DataFrame, target: str, task: Task, space: FeatureSpace, max_iter: int):
        self.target, self.task, self.space, self.max_iter = target, task, space, max_iter
        self.metric = METRICS[task]
        holdout = holdout[holdout[target].notna()]
        self.x_test, self.y_test = space.model_frame(holdout), self.labels(holdout)

    def labels(self, df: pd.DataFrame) -> np.ndarray:
        if self.task == "classification":
            return df[self.target].astype(object).astype(str).to_numpy()  # one label type for real and synthetic
        return as_numbers(df[self.target]).to_numpy()

    def predict(self, train: pd.DataFrame, seed: int, balanced: bool = False) -> np.ndarray:
        """Holdout predictions of a model fitted on `train` (`balanced`: with class weights, see model_for)."""
        train = train[train[self.target].notna()]
        y = self.labels(train)
        if len(np.unique(y)) < 2 or len(train) < 2:
            # Nothing to learn from (e.g. a collapsed generator's single class): predict the constant.
            model = DummyClassifier() if self.task == "classification" else DummyRegressor()
        else:
            model = model_for(self.task, seed, self.max_iter, len(train), balanced)
        features = usable(self.space.model_frame(train))
        model.fit(features, y)
        return model.predict(self.x_test[features.columns])

    def score(self, train: pd.DataFrame, seed: int) -> float:
        return self.resampled(self.predict(train, seed), np.arange(len(self.y_test))[None, :])[0]

    def resampled(self, predicted: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The metric on each row of `rows` (index arrays into the holdout), vectorised: one score per resample."""
        truth, predicted = self.y_test[rows], predicted[rows]
        if self.task == "regression":
            residual = ((truth - predicted) ** 2).sum(axis=1)
            spread = ((truth - truth.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
            return 1.0 - residual / np.where(spread > 0, spread, np.nan)
        # Balanced accuracy: the mean recall over the classes present in each resample.
        correct = truth == predicted
        recalls = []
        for label in np.unique(self.y_test):
            members = truth == label
            count = members.sum(axis=1)
            recalls.append(np.where(count > 0, (correct & members).sum(axis=1) / np.maximum(count, 1), np.nan))
        return np.nanmean(np.vstack(recalls), axis=0)


def utility(trtr: float, scorer: Scorer, synthetic: pd.DataFrame, seed: int) -> dict:
    """TRTR (train on real, test on real; the real-only score at 100% of the augmentation curve) against
    TSTR (train on synthetic, test on real)."""
    tstr = scorer.score(synthetic, seed)
    return {"task": scorer.task, "metric": scorer.metric, "trtr": trtr, "tstr": tstr, "gap": trtr - tstr}

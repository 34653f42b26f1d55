"""A Gaussian copula: empirical marginals joined by one correlation matrix of normal scores.

Every column becomes one or two "dimensions": a number's standardised value (plus its null flag
when it has nulls) or a categorical's slot. Each dimension is mapped to a uniform score — by rank
for numbers (ties broken at random), by a random point inside the level's frequency interval for
slots — then to a normal score; the copula is the correlation of those scores. Sampling draws
correlated normals and maps them back through the empirical quantiles / frequency intervals.
Conditioning on categorical levels is exact: the conditioned scores are drawn inside their
level's interval and the rest from the Gaussian conditional on them — no rejection.

With a categorical target, each class with enough rows gets a copula of its own (its own marginals
and correlations, the correlations shrunk towards the pooled ones), so relations that differ by
class — what a classifier trained on the synthetic rows needs — survive; rarer classes are drawn
from the pooled copula conditioned on the class.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from synthpipe.transform import CategoricalCodec, NumericCodec, TableTransformer

QUANTILES = 1025  # points of each numeric marginal's inverse CDF
EPS = 1e-6  # keeps uniform scores off 0 and 1, where normal scores are infinite
MIN_CLASS_ROWS = 10  # a target class with fewer rows is drawn from the pooled copula
MAX_CLASSES = 50  # more classes than this: one pooled copula


@dataclass(frozen=True)
class Dimension:
    column: str
    role: str  # "value" (a number), "null" (present/null of a number), "slots" (a categorical)
    width: int  # choices for null/slots dimensions; 1 for values


def dimensions(transformer: TableTransformer) -> list[Dimension]:
    dims = []
    for codec in transformer.codecs:
        if isinstance(codec, NumericCodec):
            dims.append(Dimension(codec.name, "value", 1))
            if codec.has_nulls:
                dims.append(Dimension(codec.name, "null", 2))
        else:
            dims.append(Dimension(codec.name, "slots", codec.width))
    return dims


@dataclass
class GaussianCopula:
    transformer: TableTransformer
    correlation: np.ndarray  # dims x dims
    quantiles: np.ndarray  # value dims x QUANTILES: standardised values at evenly spaced probabilities
    cdf: np.ndarray  # choice dims x max width: cumulative shares of each slot
    class_column: str | None = None
    classes: dict[int, GaussianCopula] = field(default_factory=dict)  # target slot -> that class's copula

    @property
    def dims(self) -> list[Dimension]:
        return dimensions(self.transformer)

    @property
    def shape(self) -> dict:
        return {"class_column": self.class_column, "class_slots": sorted(self.classes)}

    def tensors(self) -> dict[str, np.ndarray]:
        own = {"correlation": self.correlation, "quantiles": self.quantiles, "cdf": self.cdf}
        return own | {f"class{slot}.{key}": value for slot, copula in self.classes.items()
                      for key, value in copula.tensors().items()}

    @classmethod
    def from_tensors(cls, transformer: TableTransformer, tensors: dict[str, np.ndarray], shape: dict) -> GaussianCopula:
        def one(prefix: str) -> GaussianCopula:
            return cls(transformer, *(tensors[f"{prefix}{key}"] for key in ("correlation", "quantiles", "cdf")))

        pooled = one("")
        pooled.class_column = shape["class_column"]
        pooled.classes = {slot: one(f"class{slot}.") for slot in shape["class_slots"]}
        return pooled


def fit_copula(df: pd.DataFrame, transformer: TableTransformer, seed: int, target: str | None = None) -> GaussianCopula:
    """A pooled copula, plus one per target class with at least MIN_CLASS_ROWS rows (categorical targets)."""
    rng = np.random.default_rng(seed)
    pooled = _fit_one(df, transformer, rng, None)
    if target is None or not isinstance(transformer.codec(target), CategoricalCodec):
        return pooled
    slots = transformer.codec(target).slots(df[target])
    large = np.flatnonzero(np.bincount(slots) >= MIN_CLASS_ROWS)
    if 2 <= len(large) <= MAX_CLASSES:
        pooled.class_column = target
        pooled.classes = {int(s): _fit_one(df[slots == s], transformer, rng, pooled) for s in large}
    return pooled


def _fit_one(df: pd.DataFrame, transformer: TableTransformer, rng: np.random.Generator,
             pooled: GaussianCopula | None) -> GaussianCopula:
    dims = dimensions(transformer)
    rows = len(df)
    scores, quantiles, cdfs = [], [], []
    probs = np.linspace(0.0, 1.0, QUANTILES)
    for dim in dims:
        codec = transformer.codec(dim.column)
        if dim.role == "value":
            z, nulls = codec.standardise(df[dim.column])
            # A class whose values are all null borrows the pooled marginal (it is never used unnulled anyway).
            quantiles.append(np.quantile(z[~nulls], probs) if (~nulls).any() else pooled.quantiles[len(quantiles)])
            order = np.lexsort((rng.random(rows), np.where(nulls, np.inf, z)))  # random tie-breaking
            u = np.empty(rows)
            u[order[: (~nulls).sum()]] = (np.arange((~nulls).sum()) + 0.5) / max((~nulls).sum(), 1)
            u[nulls] = rng.random(int(nulls.sum()))  # a null's value score carries no information
        else:
            slots = codec.standardise(df[dim.column])[1].astype(np.int64) if dim.role == "null" \
                else codec.slots(df[dim.column])
            shares = np.bincount(slots, minlength=dim.width) / rows
            cdf = np.cumsum(shares)
            cdfs.append(cdf)
            u = cdf[slots] - shares[slots] * rng.random(rows)  # a random point inside the level's interval
        scores.append(ndtri(np.clip(u, EPS, 1 - EPS)))
    correlation = np.corrcoef(np.column_stack(scores), rowvar=False) if len(dims) > 1 else np.ones((1, 1))
    correlation = np.nan_to_num(np.atleast_2d(correlation))
    if pooled is not None:  # few rows estimate many correlations poorly: shrink towards the pooled ones
        weight = rows / (rows + 2 * len(dims))
        correlation = weight * correlation + (1 - weight) * pooled.correlation
    np.fill_diagonal(correlation, 1.0)
    width = max((len(c) for c in cdfs), default=1)
    cdf = np.ones((len(cdfs), width))
    for i, c in enumerate(cdfs):
        cdf[i, : len(c)] = c
    return GaussianCopula(transformer, correlation, np.array(quantiles).reshape(-1, QUANTILES), cdf)


def sample_copula(model: GaussianCopula, rows: int, fixed: dict[str, np.ndarray], rng: np.random.Generator) -> pd.DataFrame:
    """`rows` rows; `fixed` maps categorical columns to the slot each row must have."""
    if not model.classes:
        return _sample_one(model, rows, fixed, rng)
    target = model.class_column
    if target in fixed:
        slots = fixed[target]
    else:  # classes at their real frequencies
        choice = [i for i, d in enumerate(model.dims) if d.role != "value"].index(
            [(d.column, d.role) for d in model.dims].index((target, "slots")))
        slots = np.searchsorted(model.cdf[choice], rng.random(rows))
    parts = []
    for slot in np.unique(slots):
        where = np.flatnonzero(slots == slot)
        part_fixed = {name: values[where] for name, values in fixed.items()} | {target: slots[where]}
        part = _sample_one(model.classes.get(int(slot), model), len(where), part_fixed, rng)
        parts.append(part.set_axis(where))
    return pd.concat(parts).sort_index().reset_index(drop=True)


def _sample_one(model: GaussianCopula, rows: int, fixed: dict[str, np.ndarray], rng: np.random.Generator) -> pd.DataFrame:
    dims = model.dims
    scores = _correlated_scores(model, dims, rows, fixed, rng)
    u = ndtr(scores)
    columns, value_i, choice_i = {}, 0, 0
    values: dict[str, np.ndarray] = {}
    choices: dict[tuple[str, str], np.ndarray] = {}
    for i, dim in enumerate(dims):
        if dim.role == "value":
            values[dim.column] = _inverse_cdf(u[:, i], model.quantiles[value_i])
            value_i += 1
        else:
            slot = np.searchsorted(model.cdf[choice_i, : dim.width], u[:, i])
            choices[(dim.column, dim.role)] = np.minimum(slot, dim.width - 1)
            choice_i += 1
    for codec in model.transformer.codecs:
        if isinstance(codec, NumericCodec):
            nulls = choices[(codec.name, "null")] == 1 if codec.has_nulls else np.zeros(rows, bool)
            columns[codec.name] = codec.restore(values[codec.name], nulls)
        else:
            columns[codec.name] = codec.restore(choices[(codec.name, "slots")], rng)
    return pd.DataFrame(columns)


def _inverse_cdf(u: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Linear interpolation between quantiles at evenly spaced probabilities (np.interp without its search)."""
    position = u * (len(quantiles) - 1)
    low = np.minimum(position.astype(np.int64), len(quantiles) - 2)
    return quantiles[low] + (position - low) * (quantiles[low + 1] - quantiles[low])


def _correlated_scores(model: GaussianCopula, dims: list[Dimension], rows: int, fixed: dict[str, np.ndarray],
                       rng: np.random.Generator) -> np.ndarray:
    """Normal scores with the copula's correlation, conditioned on the fixed slots' intervals."""
    corr = model.correlation + 1e-9 * np.eye(len(dims))  # keeps the held block invertible
    names = [(d.column, d.role) for d in dims]
    held = [names.index((column, "slots")) for column in fixed]
    free = [i for i in range(len(dims)) if i not in held]
    scores = np.empty((rows, len(dims)), dtype=np.float32 if not held else np.float64)
    choice_rows = [i for i, d in enumerate(dims) if d.role != "value"]
    for i, slots in zip(held, fixed.values()):
        cdf = model.cdf[choice_rows.index(i)]
        low = np.where(slots > 0, cdf[np.maximum(slots - 1, 0)], 0.0)
        scores[:, i] = ndtri(np.clip(low + (cdf[slots] - low) * rng.random(rows), EPS, 1 - EPS))
    if held:  # Gaussian conditioning: mean and covariance of the free scores given the held ones
        weights = np.linalg.solve(corr[np.ix_(held, held)], corr[np.ix_(held, free)])
        cov = corr[np.ix_(free, free)] - corr[np.ix_(free, held)] @ weights
    else:
        cov = corr
    if free:
        # A square root by eigendecomposition tolerates the singular matrices of tables with few rows.
        eigenvalues, vectors = np.linalg.eigh(cov)
        root = (vectors * np.sqrt(np.clip(eigenvalues, 0.0, None))).T.astype(np.float32)
        draws = rng.standard_normal((rows, len(free)), dtype=np.float32) @ root  # float32: half the memory traffic
        scores[:, free] = draws + scores[:, held] @ weights if held else draws
    return scores

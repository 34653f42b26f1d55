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
from functools import cached_property

import numpy as np
import pandas as pd
import torch
from scipy.special import ndtr, ndtri

from synthpipe.tabular.transform import CategoricalCodec, NumericCodec, TableTransformer

QUANTILES = 1025  # points of each numeric marginal's inverse CDF
EPS = 1e-6  # keeps uniform scores off 0 and 1, where normal scores are infinite
MIN_CLASS_ROWS = 10  # a target class with fewer rows is drawn from the pooled copula
MAX_CLASSES = 50  # more classes than this: one pooled copula
# Sampling works on normal scores directly: each marginal is tabulated at these scores (beyond them ndtr is
# within 1e-9 of 0 or 1, i.e. the extreme quantiles), so no row needs a normal CDF evaluation.
Z_GRID = np.linspace(-6.0, 6.0, 4097)


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

    @cached_property
    def score_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each number's value at the scores Z_GRID (and the step to the next), each choice's slot bounds as scores."""
        probs = np.linspace(0.0, 1.0, QUANTILES)
        values = np.array([np.interp(ndtr(Z_GRID), probs, q) for q in self.quantiles]).reshape(-1, len(Z_GRID))
        steps = np.diff(values, axis=1, append=values[:, -1:])
        return values.astype(np.float32), steps.astype(np.float32), ndtri(self.cdf).astype(np.float32)

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


def sample_copula(model: GaussianCopula, rows: int, fixed: dict[str, np.ndarray],
                  rng: np.random.Generator) -> pd.DataFrame:
    """`rows` rows; `fixed` maps categorical columns to the slot each row must have."""
    if not model.classes:
        return _restore(model.transformer, _draw(model, rows, fixed, rng), rng)
    target = model.class_column
    if target in fixed:
        slots = fixed[target]
    else:  # classes at their real frequencies
        choice = [i for i, d in enumerate(model.dims) if d.role != "value"].index(
            [(d.column, d.role) for d in model.dims].index((target, "slots")))
        slots = np.searchsorted(model.cdf[choice], rng.random(rows))
    # Each class's draws land in their rows of one array per dimension: the frame is built once, in row order.
    draws: dict[tuple[str, str], np.ndarray] = {}
    for slot in np.unique(slots):
        where = np.flatnonzero(slots == slot)
        part_fixed = {name: values[where] for name, values in fixed.items()} | {target: slots[where]}
        for key, values in _draw(model.classes.get(int(slot), model), len(where), part_fixed, rng).items():
            if key not in draws:
                draws[key] = np.empty(rows, dtype=values.dtype)
            draws[key][where] = values
    return _restore(model.transformer, draws, rng)


def _draw(model: GaussianCopula, rows: int, fixed: dict[str, np.ndarray],
          rng: np.random.Generator) -> dict[tuple[str, str], np.ndarray]:
    """Standardised values of every number and the slot of every choice dimension, keyed by (column, role)."""
    dims = model.dims
    scores = _correlated_scores(model, dims, rows, fixed, rng)
    values, steps, bounds = model.score_tables
    draws, value_i, choice_i = {}, 0, 0
    for i, dim in enumerate(dims):
        if dim.role == "value":
            draws[(dim.column, dim.role)] = _tabulated(scores[i], values[value_i], steps[value_i])
            value_i += 1
        else:
            held = fixed.get(dim.column) if dim.role == "slots" else None
            slot = held if held is not None else np.searchsorted(bounds[choice_i, : dim.width], scores[i])
            draws[(dim.column, dim.role)] = np.minimum(slot, dim.width - 1)
            choice_i += 1
    return draws


def _restore(transformer: TableTransformer, draws: dict[tuple[str, str], np.ndarray],
             rng: np.random.Generator) -> pd.DataFrame:
    columns = {}
    for codec in transformer.codecs:
        if isinstance(codec, NumericCodec):
            nulls = draws[(codec.name, "null")] == 1 if codec.has_nulls else None
            columns[codec.name] = codec.restore(draws[(codec.name, "value")], nulls)
        else:
            columns[codec.name] = codec.restore(draws[(codec.name, "slots")], rng)
    return pd.DataFrame(columns, copy=False)


def _tabulated(scores: np.ndarray, values: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Linear interpolation in a table at the evenly spaced Z_GRID (np.interp without its search), in float32."""
    last = len(Z_GRID) - 1
    scale = last / (Z_GRID[-1] - Z_GRID[0])
    position = scores * np.float32(scale)
    position += np.float32(-Z_GRID[0] * scale)
    np.clip(position, 0, last, out=position)
    low = position.astype(np.intp)
    position -= low
    out = np.take(steps, low)
    out *= position
    out += np.take(values, low)
    return out


def _correlated_scores(model: GaussianCopula, dims: list[Dimension], rows: int, fixed: dict[str, np.ndarray],
                       rng: np.random.Generator) -> np.ndarray:
    """dims x rows normal scores with the copula's correlation, conditioned on the fixed slots' intervals.

    float32 and dimension-major (each dimension's scores contiguous). One matrix product maps independent
    normals, with the held scores stacked below them, to every dimension's score: free dimensions get
    root @ normals + weights.T @ held (Gaussian conditioning), held ones their own score.
    """
    corr = model.correlation + 1e-9 * np.eye(len(dims))  # keeps the held block invertible
    names = [(d.column, d.role) for d in dims]
    held = [names.index((column, "slots")) for column in fixed]
    free = [i for i in range(len(dims)) if i not in held]
    inputs = np.empty((len(dims), rows), dtype=np.float32)  # free normals, then held scores
    choice_rows = [i for i, d in enumerate(dims) if d.role != "value"]
    for k, (i, slots) in enumerate(zip(held, fixed.values())):
        cdf = model.cdf[choice_rows.index(i)]
        low = np.where(slots > 0, cdf[np.maximum(slots - 1, 0)], 0.0)
        inputs[len(free) + k] = ndtri(np.clip(low + (cdf[slots] - low) * rng.random(rows), EPS, 1 - EPS))
    # torch's vectorised normal sampler is ~4x numpy's; its seed comes from `rng`, so draws stay seeded.
    torch.randn((len(free), rows), generator=torch.Generator().manual_seed(int(rng.integers(2**63))),
                out=torch.from_numpy(inputs[: len(free)]))
    mixing = np.zeros((len(dims), len(dims)))
    if held:  # Gaussian conditioning: mean and covariance of the free scores given the held ones
        weights = np.linalg.solve(corr[np.ix_(held, held)], corr[np.ix_(held, free)])
        cov = corr[np.ix_(free, free)] - corr[np.ix_(free, held)] @ weights
        mixing[np.ix_(free, range(len(free), len(dims)))] = weights.T
        mixing[held, range(len(free), len(dims))] = 1.0
    else:
        cov = corr
    if free:
        # A square root by eigendecomposition tolerates the singular matrices of tables with few rows.
        eigenvalues, vectors = np.linalg.eigh(cov)
        mixing[np.ix_(free, range(len(free)))] = vectors * np.sqrt(np.clip(eigenvalues, 0.0, None))
    return mixing.astype(np.float32) @ inputs

"""A reversible table transformer: DataFrame <-> float matrix the generative models learn.

Each column gets a codec that encodes it into a block of the matrix and decodes a block back
to the original values and dtype.
- Numbers (continuous, discrete, datetime) use mode-specific normalisation (synthpipe.tabular.modes):
  a tanh-scaled position within a mixture component plus a softmax over components. Nulls are a
  state of their own: one more slot beside the components, so the null pattern is learned. A number that
  takes few values (a rating, a count, a binned age) is restored to the nearest of its frequent values: a
  classifier spots a 2.4 in a column of whole ratings at once, and a value seen in fewer than
  FEW_VALUE_MIN_ROWS rows is never reproduced.
- Categoricals and booleans are one-hot, with a slot for null. Only the `max_categories` most
  frequent levels get a slot; the rest share an "other" slot that decoding resolves by drawing
  from their observed frequencies, so a 100k-level column costs max_categories + 2 columns.
Everything a codec knows is plain JSON: no pickle.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from synthpipe.errors import InputError
from synthpipe.io import read_json, write_json
from synthpipe.schema import ColumnKind, datetime_nanos, infer_kinds, observed_decimals
from synthpipe.tabular.modes import assign_modes, fit_modes, values_from_modes

# Datetime resolutions tried from coarsest to finest, in nanoseconds: day, second, ms, us, ns.
_DATETIME_STEPS = (86_400 * 10**9, 10**9, 10**6, 10**3, 1)
# A number is few-valued when at most FEW_VALUES values, each seen in FEW_VALUE_MIN_ROWS rows or more, cover
# FEW_VALUE_COVER of its rows (close to the rule by which MOSTLY AI's engine encodes a number as discrete).
FEW_VALUES, FEW_VALUE_MIN_ROWS, FEW_VALUE_COVER = 100, 5, 0.999


@dataclass(frozen=True)
class Span:
    """A block of model outputs: one `tanh` number or a `softmax` over `width` choices."""

    activation: Literal["tanh", "softmax"]
    width: int


@dataclass
class NumericCodec:
    """Continuous, discrete and datetime columns: mode-specific normalisation plus a null slot.

    Values are first standardised, z = (x - origin - mean) / std; datetimes and integers count from
    `origin` (their minimum) in integer arithmetic, so restoring them is exact even where the values
    themselves are beyond float precision (nanosecond stamps, 2**60-sized ids).
    """

    name: str
    kind: ColumnKind
    dtype: str
    origin: int
    mean: float
    std: float
    low: float
    high: float
    has_nulls: bool
    decimals: int | None = None  # floats: round decoded values to the precision seen in the data
    step_ns: int | None = None  # datetimes: the coarsest resolution every value respects
    timezone: str | None = None
    levels: list[float] | None = None  # a few-valued number's frequent values (as standardise counts them)
    modes: dict[str, list[float]] = field(default_factory=lambda: {"means": [0.0], "stds": [1.0], "weights": [1.0]})

    @classmethod
    def fit(cls, name: str, kind: ColumnKind, series: pd.Series) -> NumericCodec:
        nanos = datetime_nanos(series) if kind == "datetime" else None
        if kind == "datetime" and series.notna().any():
            origin = int(nanos[series.notna().to_numpy()].min())
        else:
            origin = int(series.min()) if kind == "discrete" and series.notna().any() else 0
        values, nulls = _to_numbers(series, kind, origin, nanos)
        present = values[~nulls]
        if len(present) == 0:
            raise InputError(f"column '{name}': every value is null, nothing to learn")
        timezone = str(series.dt.tz) if kind == "datetime" and series.dt.tz is not None else None
        return cls(name, kind, str(series.dtype), origin, float(present.mean()), float(present.std()) or 1.0,
                   float(present.min()), float(present.max()), bool(nulls.any()),
                   observed_decimals(present) if kind == "continuous" else None,
                   _step_ns(present) if kind == "datetime" else None, timezone, _few_values(present))

    @cached_property
    def _mixture(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return tuple(np.asarray(self.modes[key], dtype=np.float64) for key in ("means", "stds", "weights"))

    @cached_property
    def _levels(self) -> np.ndarray:
        return np.asarray(self.levels, dtype=np.float64)

    @property
    def n_modes(self) -> int:
        return len(self.modes["means"])

    @property
    def spans(self) -> list[Span]:
        return [Span("tanh", 1), Span("softmax", self.n_modes + int(self.has_nulls))]

    @property
    def output_names(self) -> list[str]:
        names = [f"{self.name}#value"] + [f"{self.name}#mode{i}" for i in range(self.n_modes)]
        return names + ([f"{self.name}#null"] if self.has_nulls else [])

    def standardise(self, series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Standardised values (0 where null) and the null mask."""
        values, nulls = _to_numbers(series, self.kind, self.origin)
        return np.where(nulls, 0.0, (values - self.mean) / self.std), nulls

    def encode(self, series: pd.Series) -> np.ndarray:
        z, nulls = self.standardise(series)
        mode, alpha = assign_modes(z, *self._mixture)
        slot = np.where(nulls, self.n_modes, mode)  # null: the slot after the modes
        block = np.zeros((len(z), 1 + self.spans[1].width), dtype=np.float32)
        block[:, 0] = np.where(nulls, 0.0, alpha)
        block[np.arange(len(z)), 1 + slot] = 1.0
        return block

    def decode(self, block: np.ndarray, rng: np.random.Generator) -> pd.Series:
        slot = block[:, 1:].argmax(axis=1)
        nulls = slot == self.n_modes
        means, stds, _ = self._mixture
        z = values_from_modes(block[:, 0].astype(np.float64), np.minimum(slot, self.n_modes - 1), means, stds)
        return self.restore(z, nulls)

    def restore(self, z: np.ndarray, nulls: np.ndarray | None) -> pd.Series:
        """Standardised values back to the column: clipped to the seen range (a few-valued number: to the nearest
        of its values), rounded, original dtype.

        `nulls` marks the rows that are null (None: none is); plain numpy until the one dtype conversion.
        """
        values = np.clip(z.astype(np.float64) * self.std + self.mean, self.low, self.high)  # float32 scores too
        if self.levels is not None:
            values = self._levels[_nearest_level(values, self._levels)]
        return self._column(values, nulls)

    def _column(self, values: np.ndarray, nulls: np.ndarray | None) -> pd.Series:
        """Values as standardise counts them (offsets for integers and datetimes) to the column's dtype."""
        nulls = nulls if nulls is not None and nulls.any() else None
        if self.kind == "datetime":
            steps = np.round(values / self.step_ns).astype(np.int64)
            nanos = steps * self.step_ns + self.origin  # exact integer nanoseconds
            if nulls is not None:
                nanos[nulls] = np.iinfo(np.int64).min  # NaT
            stamps = pd.Series(nanos.view("datetime64[ns]"), name=self.name, copy=False)
            if self.timezone:
                stamps = stamps.dt.tz_localize("UTC").dt.tz_convert(self.timezone)
            return stamps.astype(self.dtype)
        if self.kind == "discrete":
            return self._integers(values, nulls)
        if self.decimals is not None:
            values = np.round(values, self.decimals)
        if nulls is not None:
            values[nulls] = np.nan
        return pd.Series(values, name=self.name, copy=False).astype(self.dtype)

    @property
    def width(self) -> int:
        """A few-valued number's states as a category: its levels, then null if it has nulls."""
        return len(self.levels) + int(self.has_nulls)

    def slots(self, series: pd.Series) -> np.ndarray:
        """A few-valued number's values as states: the nearest level's index; null: one past the levels."""
        values, nulls = _to_numbers(series, self.kind, self.origin)
        return np.where(nulls, len(self._levels), _nearest_level(values, self._levels))

    def restore_slots(self, slots: np.ndarray) -> pd.Series:
        """States (as `slots` gives them) back to the column."""
        last = len(self._levels) - 1
        return self._column(self._levels[np.minimum(slots, last)], slots > last)

    def _integers(self, offsets: np.ndarray, nulls: np.ndarray | None) -> pd.Series:
        # origin + offset in wrapping 64-bit arithmetic: exact for any int64 or uint64 column.
        steps = np.minimum(np.round(np.maximum(offsets, 0.0)), float(np.nextafter(2.0**64, 0)))
        ints = (np.uint64(self.origin % 2**64) + steps.astype(np.uint64)).view(np.int64)
        unsigned = self.dtype.lower().startswith("uint")
        if nulls is None:
            return pd.Series(ints.view(np.uint64) if unsigned else ints, name=self.name, copy=False).astype(self.dtype)
        values = pd.array(ints.view(np.uint64) if unsigned else ints, dtype="UInt64" if unsigned else "Int64")
        series = pd.Series(values, name=self.name).mask(nulls)
        if self.dtype.startswith(("int", "uint")):
            return series.astype(self.dtype.replace("int", "Int"))  # a null forces the nullable dtype
        return series.astype(self.dtype)


@dataclass
class CategoricalCodec:
    """Categorical and boolean columns: one slot per frequent level, one "other", one null."""

    name: str
    kind: ColumnKind
    dtype: str
    categories: list[Any]  # every level, in declared (categorical dtype) or sorted order
    counts: list[int]  # how often each level was seen when fitting
    kept: list[int]  # indices of the levels with a slot of their own, in slot order
    has_nulls: bool

    @classmethod
    def fit(cls, name: str, kind: ColumnKind, series: pd.Series, max_categories: int) -> CategoricalCodec:
        if isinstance(series.dtype, pd.CategoricalDtype):
            categories = series.cat.categories.tolist()  # keep declared order and unused levels
        else:
            categories = sorted(series.dropna().unique().tolist(), key=lambda v: (str(type(v)), str(v)))
        codes = pd.Categorical(series, categories=categories).codes
        counts = np.bincount(codes[codes >= 0], minlength=len(categories))
        kept = np.arange(len(categories))
        if len(categories) > max_categories:  # the most frequent levels; ties broken by level order
            kept = np.sort(np.argsort(-counts, kind="stable")[:max_categories])
        return cls(name, kind, str(series.dtype), categories, counts.tolist(), kept.tolist(), bool(series.isna().any()))

    @property
    def has_other(self) -> bool:
        return len(self.kept) < len(self.categories)

    @property
    def other_slot(self) -> int:
        return len(self.kept)

    @property
    def null_slot(self) -> int:
        return len(self.kept) + int(self.has_other)

    @property
    def width(self) -> int:
        return self.null_slot + int(self.has_nulls)

    @property
    def spans(self) -> list[Span]:
        return [Span("softmax", self.width)]

    @property
    def output_names(self) -> list[str]:
        return [f"{self.name}#{i}" for i in range(self.width)]

    @cached_property
    def _slot_of_level(self) -> np.ndarray:
        slots = np.full(len(self.categories), self.other_slot, dtype=np.int64)
        slots[self.kept] = np.arange(len(self.kept))
        return slots

    @cached_property
    def _rare(self) -> tuple[np.ndarray, np.ndarray]:
        """Levels folded into "other" and their observed shares (uniform if none was seen)."""
        rare = np.setdiff1d(np.arange(len(self.categories)), self.kept)
        counts = np.asarray(self.counts, dtype=np.float64)[rare]
        return rare, (counts / counts.sum() if counts.sum() > 0 else np.full(len(rare), 1.0 / max(len(rare), 1)))

    def level_codes(self, values: list[Any]) -> np.ndarray:
        """Index of each given level in `categories` (-1: null); an unknown level is an error naming the column."""
        codes = pd.Categorical(values, categories=self.categories).codes.astype(np.int64)
        nulls = pd.isna(pd.Series(values, dtype=object)).to_numpy()
        bad = [v for v, c, null in zip(values, codes, nulls) if (c < 0 and not null) or (null and not self.has_nulls)]
        if bad:
            raise InputError(f"column '{self.name}': value {bad[0]!r} was not seen when the model was fitted")
        return codes

    def slots_of_codes(self, codes: np.ndarray) -> np.ndarray:
        return np.where(codes < 0, self.null_slot, self._slot_of_level[np.maximum(codes, 0)])

    def slots(self, series: pd.Series) -> np.ndarray:
        codes = pd.Categorical(series, categories=self.categories).codes.astype(np.int64)
        unknown = (codes < 0) & series.notna().to_numpy()
        if unknown.any():
            value = series[unknown].iloc[0]
            raise InputError(f"column '{self.name}': value {value!r} was not seen when the transformer was fitted")
        return self.slots_of_codes(codes)

    def encode(self, series: pd.Series) -> np.ndarray:
        slots = self.slots(series)
        block = np.zeros((len(slots), self.width), dtype=np.float32)
        block[np.arange(len(slots)), slots] = 1.0
        return block

    def decode(self, block: np.ndarray, rng: np.random.Generator) -> pd.Series:
        return self.restore(block.argmax(axis=1), rng)

    @cached_property
    def _level_of_slot(self) -> np.ndarray:
        return np.asarray(self.kept + [-1, -1], dtype=np.int64)

    @cached_property
    def _levels(self) -> pd.api.extensions.ExtensionArray | pd.CategoricalDtype:
        """The levels as an array of the column's dtype (the categorical dtype for category columns)."""
        if self.dtype == "category":
            return pd.CategoricalDtype(self.categories)
        return pd.array(self.categories, dtype=self.dtype)

    def restore(self, slots: np.ndarray, rng: np.random.Generator) -> pd.Series:
        """Slots back to levels; "other" draws a rare level by its observed frequency."""
        codes = self._level_of_slot[np.minimum(slots, len(self.kept) + 1)]
        if self.has_other:
            other = slots == self.other_slot
            rare, shares = self._rare
            codes[other] = rare[rng.choice(len(rare), size=int(other.sum()), p=shares)]
        return self.from_codes(codes)

    def from_codes(self, codes: np.ndarray) -> pd.Series:
        """Level indices (-1: null) to the column in its original dtype: a take from the levels, so no
        per-row Python objects are built for string, boolean or numeric levels."""
        if self.dtype == "category":
            return pd.Series(pd.Categorical.from_codes(codes, dtype=self._levels), name=self.name, copy=False)
        return pd.Series(self._levels.take(codes, allow_fill=True), name=self.name, copy=False)


Codec = NumericCodec | CategoricalCodec


class TableTransformer:
    """Encodes a DataFrame column by column and decodes model output back into one."""

    def __init__(self, codecs: list[Codec]):
        self.codecs = codecs

    @classmethod
    def fit(cls, df: pd.DataFrame, kinds: dict[str, ColumnKind] | None = None, max_modes: int = 10,
            max_categories: int = 100, mode_fit_rows: int = 20_000, seed: int = 0) -> TableTransformer:
        """Fit every codec; the mixtures are fitted together on at most `mode_fit_rows` random rows."""
        kinds = kinds or infer_kinds(df)
        codecs: list[Codec] = []
        for name in df.columns:
            kind = kinds[str(name)]
            if kind in ("categorical", "boolean"):
                codecs.append(CategoricalCodec.fit(str(name), kind, df[name], max_categories))
            else:
                codecs.append(NumericCodec.fit(str(name), kind, df[name]))
        numeric = [codec for codec in codecs if isinstance(codec, NumericCodec)]
        if numeric and max_modes > 1:
            subset = df.sample(n=min(len(df), mode_fit_rows), random_state=seed) if len(df) > mode_fit_rows else df
            z = np.column_stack([np.where(nulls, np.nan, values) for values, nulls in
                                 (codec.standardise(subset[codec.name]) for codec in numeric)])
            for codec, (means, stds, weights) in zip(numeric, fit_modes(z, max_modes)):
                codec.modes = {"means": means.tolist(), "stds": stds.tolist(), "weights": weights.tolist()}
        return cls(codecs)

    @property
    def columns(self) -> list[str]:
        return [codec.name for codec in self.codecs]

    @property
    def spans(self) -> list[Span]:
        return [span for codec in self.codecs for span in codec.spans]

    @property
    def output_names(self) -> list[str]:
        return [name for codec in self.codecs for name in codec.output_names]

    def codec(self, name: str) -> Codec:
        for codec in self.codecs:
            if codec.name == name:
                return codec
        raise InputError(f"column '{name}' is not in the model's columns {self.columns}")

    def block_start(self, name: str) -> int:
        """Where a column's block begins in the encoded matrix."""
        start = 0
        for codec in self.codecs:
            if codec.name == name:
                return start
            start += sum(span.width for span in codec.spans)
        raise InputError(f"column '{name}' is not in the model's columns {self.columns}")

    def encode(self, df: pd.DataFrame) -> np.ndarray:
        missing = [name for name in self.columns if name not in df.columns]
        if missing:
            raise InputError(f"columns {missing} are missing from the data to encode")
        return np.concatenate([codec.encode(df[codec.name]) for codec in self.codecs], axis=1)

    def decode(self, matrix: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
        columns, start = {}, 0
        for codec in self.codecs:
            width = sum(span.width for span in codec.spans)
            columns[codec.name] = codec.decode(matrix[:, start : start + width], rng)
            start += width
        return pd.DataFrame(columns)

    def to_dict(self) -> dict:
        return {"codecs": [{"type": type(codec).__name__, **asdict(codec)} for codec in self.codecs]}

    @classmethod
    def from_dict(cls, data: dict) -> TableTransformer:
        types = {"NumericCodec": NumericCodec, "CategoricalCodec": CategoricalCodec}
        return cls([types[item.pop("type")](**item) for item in (dict(c) for c in data["codecs"])])

    def save(self, path: str | Path) -> None:
        write_json(self.to_dict(), path)

    @classmethod
    def load(cls, path: str | Path) -> TableTransformer:
        return cls.from_dict(read_json(path))


def _to_numbers(series: pd.Series, kind: ColumnKind, origin: int,
                nanos: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Float values and a null mask; datetimes become nanoseconds after `origin` (UTC)."""
    nulls = series.isna().to_numpy()
    if kind == "datetime":
        nanos = datetime_nanos(series) if nanos is None else nanos
        return np.where(nulls, 0, nanos - origin).astype(np.float64), nulls
    if kind == "discrete":  # offsets from the minimum, taken in integer arithmetic before any rounding to float
        unsigned = str(series.dtype).lower().startswith("uint")
        ints = series.to_numpy(dtype=np.uint64 if unsigned else np.int64, na_value=origin)
        return np.where(nulls, 0.0, (ints.astype(np.uint64) - np.uint64(origin % 2**64)).astype(np.float64)), nulls
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~nulls & ~np.isfinite(values)
    if bad.any():
        raise InputError(f"column '{series.name}': {int(bad.sum())} non-finite values (inf); clean them first")
    return values, nulls


def _few_values(values: np.ndarray) -> list[float] | None:
    """A few-valued number's frequent values, ascending; None for any other number."""
    levels, counts = np.unique(values, return_counts=True)
    frequent = counts >= FEW_VALUE_MIN_ROWS
    if frequent.sum() > FEW_VALUES or counts[frequent].sum() < FEW_VALUE_COVER * len(values):
        return None
    return levels[frequent].tolist()


def _nearest_level(values: np.ndarray, levels: np.ndarray) -> np.ndarray:
    return np.searchsorted((levels[1:] + levels[:-1]) / 2, values)


def _step_ns(values: np.ndarray) -> int:
    nanos = values.astype(np.int64)
    return next(step for step in _DATETIME_STEPS if np.all(nanos % step == 0))

"""A reversible table transformer: DataFrame <-> float matrix the generator learns.

Each column gets a codec that encodes it into a block of the matrix and decodes a block back
to the original values and dtype. Nulls are a state of their own (a two-way softmax beside
numbers, an extra category for categoricals), so the null pattern is learned and restored.
Everything a codec knows is plain JSON: no pickle.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from synthpipe.errors import InputError
from synthpipe.io import read_json, write_json
from synthpipe.schema import ColumnKind, datetime_nanos, infer_kinds

# Datetime resolutions tried from coarsest to finest, in nanoseconds: day, second, ms, us, ns.
_DATETIME_STEPS = (86_400 * 10**9, 10**9, 10**6, 10**3, 1)


@dataclass(frozen=True)
class Span:
    """A block of generator outputs: `linear` numbers or a `softmax` over `width` choices."""

    activation: Literal["linear", "softmax"]
    width: int


@dataclass
class NumericCodec:
    """Continuous, discrete and datetime columns: standardised number plus an optional null flag."""

    name: str
    kind: ColumnKind
    dtype: str
    offset: float
    scale: float
    low: float
    high: float
    has_nulls: bool
    decimals: int | None = None  # floats: round decoded values to the precision seen in the data
    step_ns: int | None = None  # datetimes: the coarsest resolution every value respects
    timezone: str | None = None

    @classmethod
    def fit(cls, name: str, kind: ColumnKind, series: pd.Series) -> NumericCodec:
        values, nulls = _to_numbers(series, kind)
        present = values[~nulls]
        if len(present) == 0:
            raise InputError(f"column '{name}': every value is null, nothing to learn")
        offset = float(present.min()) if kind == "datetime" else float(present.mean())
        scale = float(present.std()) or 1.0
        timezone = str(series.dt.tz) if kind == "datetime" and series.dt.tz is not None else None
        return cls(name, kind, str(series.dtype), offset, scale, float(present.min()), float(present.max()),
                   bool(nulls.any()), _decimals(present) if kind == "continuous" else None,
                   _step_ns(present) if kind == "datetime" else None, timezone)

    @property
    def spans(self) -> list[Span]:
        return [Span("linear", 1)] + ([Span("softmax", 2)] if self.has_nulls else [])

    @property
    def output_names(self) -> list[str]:
        return [f"{self.name}#value"] + ([f"{self.name}#present", f"{self.name}#null"] if self.has_nulls else [])

    def encode(self, series: pd.Series) -> np.ndarray:
        values, nulls = _to_numbers(series, self.kind)
        scaled = np.where(nulls, 0.0, (values - self.offset) / self.scale)
        if not self.has_nulls:
            return scaled[:, None]
        return np.column_stack([scaled, ~nulls, nulls]).astype(np.float64)

    def decode(self, block: np.ndarray) -> pd.Series:
        values = np.clip(block[:, 0].astype(np.float64) * self.scale + self.offset, self.low, self.high)
        if self.kind == "datetime":
            values = np.round(values / self.step_ns) * self.step_ns
        elif self.kind == "discrete":
            values = np.round(values)
        elif self.decimals is not None:
            values = np.round(values, self.decimals)
        nulls = block[:, 2] > block[:, 1] if self.has_nulls else np.zeros(len(block), bool)
        return _from_numbers(values, nulls, self)


@dataclass
class CategoricalCodec:
    """Categorical and boolean columns: one-hot over the categories, plus one slot for null."""

    name: str
    kind: ColumnKind
    dtype: str
    categories: list[Any]
    has_nulls: bool

    @classmethod
    def fit(cls, name: str, kind: ColumnKind, series: pd.Series) -> CategoricalCodec:
        if isinstance(series.dtype, pd.CategoricalDtype):
            categories = series.cat.categories.tolist()  # keep declared order and unused levels
        else:
            categories = sorted(series.dropna().unique().tolist(), key=lambda v: (str(type(v)), str(v)))
        return cls(name, kind, str(series.dtype), categories, bool(series.isna().any()))

    @property
    def width(self) -> int:
        return len(self.categories) + int(self.has_nulls)

    @property
    def spans(self) -> list[Span]:
        return [Span("softmax", self.width)]

    @property
    def output_names(self) -> list[str]:
        return [f"{self.name}#{i}" for i in range(self.width)]

    def encode(self, series: pd.Series) -> np.ndarray:
        codes = pd.Categorical(series, categories=self.categories).codes.astype(np.int64)
        unknown = (codes < 0) & series.notna().to_numpy()
        if unknown.any():
            value = series[unknown].iloc[0]
            raise InputError(f"column '{self.name}': value {value!r} was not seen when the transformer was fitted")
        codes = np.where(codes < 0, len(self.categories), codes)  # null -> its own slot
        return np.eye(self.width, dtype=np.float64)[codes]

    def decode(self, block: np.ndarray) -> pd.Series:
        lookup = np.array(self.categories + [None], dtype=object)
        values = pd.Series(lookup[block.argmax(axis=1)], name=self.name, dtype=object)
        if self.dtype == "category":
            return values.astype(pd.CategoricalDtype(self.categories))
        return values.astype(self.dtype)


Codec = NumericCodec | CategoricalCodec


class TableTransformer:
    """Encodes a DataFrame column by column and decodes generator output back into one."""

    def __init__(self, codecs: list[Codec]):
        self.codecs = codecs

    @classmethod
    def fit(cls, df: pd.DataFrame, kinds: dict[str, ColumnKind] | None = None) -> TableTransformer:
        kinds = kinds or infer_kinds(df)
        codecs: list[Codec] = []
        for name in df.columns:
            kind = kinds[str(name)]
            codec_cls = CategoricalCodec if kind in ("categorical", "boolean") else NumericCodec
            codecs.append(codec_cls.fit(str(name), kind, df[name]))
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

    def encode(self, df: pd.DataFrame) -> np.ndarray:
        missing = [name for name in self.columns if name not in df.columns]
        if missing:
            raise InputError(f"columns {missing} are missing from the data to encode")
        blocks = [codec.encode(df[codec.name]) for codec in self.codecs]
        return np.concatenate(blocks, axis=1)

    def decode(self, matrix: np.ndarray) -> pd.DataFrame:
        columns, start = {}, 0
        for codec in self.codecs:
            width = sum(span.width for span in codec.spans)
            columns[codec.name] = codec.decode(matrix[:, start : start + width]).reset_index(drop=True)
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


def _to_numbers(series: pd.Series, kind: ColumnKind) -> tuple[np.ndarray, np.ndarray]:
    """Float values and a null mask; datetimes become nanoseconds since the epoch (UTC)."""
    nulls = series.isna().to_numpy()
    if kind == "datetime":
        return np.where(nulls, 0, datetime_nanos(series)).astype(np.float64), nulls
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~nulls & ~np.isfinite(values)
    if bad.any():
        raise InputError(f"column '{series.name}': {int(bad.sum())} non-finite values (inf); clean them first")
    return values, nulls


def _from_numbers(values: np.ndarray, nulls: np.ndarray, codec: NumericCodec) -> pd.Series:
    if codec.kind == "datetime":
        stamps = pd.Series(values.astype(np.int64).view("datetime64[ns]")).mask(nulls)
        if codec.timezone:
            stamps = stamps.dt.tz_localize("UTC").dt.tz_convert(codec.timezone)
        return stamps.astype(codec.dtype).rename(codec.name)
    series = pd.Series(values, name=codec.name).mask(nulls)
    if codec.kind == "discrete" and nulls.any() and codec.dtype.startswith("int"):
        return series.astype(codec.dtype.replace("int", "Int"))  # a null forces the nullable dtype
    return series.astype(codec.dtype)


def _decimals(values: np.ndarray) -> int | None:
    """The fewest decimal places that every observed float respects, up to 6."""
    tolerance = 1e-9 * max(1.0, float(np.abs(values).max()))
    return next((places for places in range(7) if np.allclose(np.round(values, places), values, rtol=0, atol=tolerance)), None)


def _step_ns(values: np.ndarray) -> int:
    nanos = values.astype(np.int64)
    return next(step for step in _DATETIME_STEPS if np.all(nanos % step == 0))

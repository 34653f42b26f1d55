"""Identifier columns: text with (nearly) a value per row, or thousands of values (ids, tail numbers, names).

A generator that models them as categories copies real identifiers into synthetic rows, one of the surest ways
to leak who a row is about. Each is handled on purpose (train.identifiers, per column train.identifier_columns):
- fresh: new values in the real values' formats (same length and character class at each position: digit,
  upper- or lower-case letter; other characters kept), never equal to a real value;
- keep: modelled as a category like any other column (real values, drawn by frequency);
- drop: left empty in the synthetic rows.
The model stores formats and SHA-256 digests of the real values, never the values themselves.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from synthpipe.config import TrainConfig

MODES = ("fresh", "keep", "drop")
MIN_LEVELS = 10  # fewer distinct values are a category, however few the rows
MAX_PATTERNS = 1000  # formats kept per column, most frequent first: free text has a format per value
# A character every value of a format shares (the N of a US tail number) stays, if that many values share it:
# fewer would let a rare format spell out a real value.
MIN_SHARED = 10
CLASSES = {"d": "0123456789", "u": "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "l": "abcdefghijklmnopqrstuvwxyz"}
REDRAWS = 20  # rounds of redrawing values equal to a real one before lengthening them


def identifier_modes(df: pd.DataFrame, target: str | None, cfg: TrainConfig) -> dict[str, str]:
    """Column -> fresh | keep | drop for the identifier columns of `df`, as train's settings say."""
    return detect(df, target, cfg.identifiers, cfg.identifier_columns, cfg.identifier_share, cfg.identifier_levels)


def detect(df: pd.DataFrame, target: str | None, default: str, overrides: dict[str, str],
           min_share: float, min_levels: int) -> dict[str, str]:
    """Column -> mode for every identifier column: text columns with distinct values on at least `min_share` of
    their non-null rows or at least `min_levels` distinct values (dates written as text excepted), plus the
    columns named in `overrides`. The target is never one."""
    found = {}
    for name in df.columns:
        if name == target or name in overrides or not _is_text(df[name]):
            continue
        values = df[name].dropna()
        distinct = values.nunique()
        if distinct >= MIN_LEVELS and (distinct >= min_share * len(values) or distinct >= min_levels) \
                and not _looks_like_dates(values):
            found[str(name)] = default
    return found | {name: mode for name, mode in overrides.items() if name in df.columns and name != target}


def _is_text(series: pd.Series) -> bool:
    if not (ptypes.is_object_dtype(series.dtype) or ptypes.is_string_dtype(series.dtype)):
        return False
    return ptypes.infer_dtype(series, skipna=True) == "string"


def _looks_like_dates(values: pd.Series) -> bool:
    """Timestamps written as text are many-valued but no identifiers: they stay columns of their own."""
    probe = values.head(200).astype(str)
    parsed = pd.to_datetime(probe, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() > 0.9 and probe.str.contains(r"\d{1,4}[-/:.]\d", regex=True).mean() > 0.9)


def digests(values) -> np.ndarray:
    """64-bit SHA-256 prefixes of values' text: enough to tell a fresh value from every real one."""
    return np.array([int.from_bytes(hashlib.sha256(str(v).encode()).digest()[:8], "big") >> 1 for v in values],
                    dtype=np.int64)


def pattern(value: str) -> str:
    """A value's format: d, u, l for a digit, upper- and lower-case letter, any other character as '=' + itself."""
    return "".join("d" if c.isdigit() and c.isascii() else "u" if "A" <= c <= "Z" else "l" if "a" <= c <= "z"
                   else "=" + c for c in value)


def shared_characters(format_: str, values: pd.Series) -> str:
    """`format_` with the characters that all of `values` (of that format) share written as literals."""
    if len(values) < MIN_SHARED:
        return format_
    chars = np.array([list(v) for v in values.head(10_000)])
    return "".join(token if token[0] == "=" or len(set(chars[:, i])) > 1 else "=" + chars[0, i]
                   for i, token in enumerate(tokens(format_)))


def tokens(format_: str) -> list[str]:
    """A format's characters: a class (d, u, l) or a literal ('=' and the character)."""
    found, i = [], 0
    while i < len(format_):
        width = 2 if format_[i] == "=" else 1
        found.append(format_[i : i + width])
        i += width
    return found


@dataclass
class IdentifierFormat:
    """What generating one identifier column needs: its dtype and, to draw fresh values, its formats by frequency,
    null share and the digests of its real values (a dropped column has none: it comes back empty)."""

    name: str
    dtype: str
    patterns: list[str]
    counts: list[int]
    null_share: float
    real: np.ndarray  # sorted digests of the real values

    @classmethod
    def fit(cls, series: pd.Series, mode: str) -> IdentifierFormat:
        if mode == "drop":
            return cls(str(series.name), str(series.dtype), [], [], 1.0, np.zeros(0, np.int64))
        values = series.dropna().astype(str)
        formats = values.map(pattern)
        counts = formats.value_counts().head(MAX_PATTERNS)
        patterns = [shared_characters(f, values[formats == f]) for f in counts.index]
        return cls(str(series.name), str(series.dtype), patterns, counts.to_numpy().tolist(),
                   float(series.isna().mean()), np.unique(digests(values.unique())))

    def to_json(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "patterns": self.patterns, "counts": self.counts,
                "null_share": self.null_share, "real": self.real.tolist()}

    @classmethod
    def from_json(cls, raw: dict) -> IdentifierFormat:
        return cls(raw["name"], raw["dtype"], raw["patterns"], raw["counts"], raw["null_share"],
                   np.array(raw["real"], np.int64))

    def generate(self, rows: int, rng: np.random.Generator) -> pd.Series:
        """`rows` fresh values (nulls at the real share), none equal to a real value, in the real column's dtype."""
        if not self.patterns:
            return pd.Series([None] * rows, dtype=self.dtype, name=self.name)
        values = np.empty(rows, dtype=object)
        which = rng.choice(len(self.patterns), size=rows, p=np.array(self.counts) / sum(self.counts))
        extra = ""  # a format whose every value is real grows digits
        for attempt in range(REDRAWS + 8):
            todo = np.arange(rows) if attempt == 0 else np.flatnonzero(self.clashes(values))
            if not len(todo):
                break
            extra += "d" if attempt >= REDRAWS else ""
            for index in np.unique(which[todo]):
                at = todo[which[todo] == index]
                values[at] = _fill(self.patterns[index] + extra, len(at), rng)
        else:
            raise RuntimeError(f"column '{self.name}': could not draw values unlike the real ones")
        values[rng.random(rows) < self.null_share] = None
        return pd.Series(values, dtype=self.dtype, name=self.name)

    def clashes(self, values: np.ndarray) -> np.ndarray:
        """Which of `values` equal a real value (by digest)."""
        hashed = digests(values)
        at = np.minimum(np.searchsorted(self.real, hashed), max(len(self.real) - 1, 0))
        return self.real[at] == hashed if len(self.real) else np.zeros(len(values), bool)


def _fill(format_: str, rows: int, rng: np.random.Generator) -> np.ndarray:
    """`rows` random values of one format."""
    joined = np.full(rows, "", dtype=object)
    for token in tokens(format_):
        if token[0] == "=":
            joined = joined + token[1]
        else:
            alphabet = np.array(list(CLASSES[token]), dtype=object)
            joined = joined + alphabet[rng.integers(len(alphabet), size=rows)]
    return joined

"""The long table of sequences: one row per (entity, time step), value columns, static context per entity.

Checks at ingest, the entity hold-out, the per-entity table (context, length, start, interval) and the
training windows, all on whole columns at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from synthpipe.config import TimeSeriesConfig
from synthpipe.errors import InputError

LENGTH, START, INTERVAL = "length", "start", "interval"  # per-entity columns beside the context


@dataclass(frozen=True)
class Layout:
    """Which column plays which part."""

    entity: str | None
    time: str
    context: list[str]
    values: list[str]

    @classmethod
    def of(cls, df: pd.DataFrame, cfg: TimeSeriesConfig) -> Layout:
        named = [("timeseries.entity", cfg.entity), ("timeseries.time", cfg.time)]
        named += [("timeseries.context", name) for name in cfg.context]
        for key, name in named:
            if name is not None and name not in df.columns:
                raise InputError(f"{key}: column '{name}' is not in the data (columns: {list(df.columns)})")
        taken = {cfg.entity, cfg.time, *cfg.context}
        values = [str(name) for name in df.columns if name not in taken]
        if not values:
            raise InputError("the table has no value columns besides the entity, time and context columns")
        return cls(cfg.entity, cfg.time, list(cfg.context), values)


def entity_ids(df: pd.DataFrame, layout: Layout) -> pd.Series:
    """Each row's entity (one entity, 0, for a single series)."""
    return df[layout.entity] if layout.entity else pd.Series(0, index=df.index)


def check_series(df: pd.DataFrame, cfg: TimeSeriesConfig, where: str) -> pd.DataFrame:
    """The table sorted by entity and time, or InputError naming the column and the entity at fault."""
    layout = Layout.of(df, cfg)
    time = df[layout.time]
    if not (ptypes.is_datetime64_any_dtype(time) or ptypes.is_numeric_dtype(time)) or ptypes.is_bool_dtype(time):
        example = time.dropna().astype(str).head(1).tolist()
        raise InputError(f"{where}: time column '{layout.time}' ({time.dtype}, e.g. {example}) cannot be ordered: "
                         "it needs datetimes or numbers (parse text dates with data.source.parse_dates)")
    if layout.entity and df[layout.entity].isna().any():
        rows = int(df[layout.entity].isna().sum())
        raise InputError(f"{where}: entity column '{layout.entity}' has nulls in {rows} rows")
    ids = entity_ids(df, layout)
    _refuse(where, layout.time, ids[time.isna()], "has a null time")
    _refuse(where, layout.time, ids[pd.DataFrame({"e": ids, "t": time}).duplicated()], "has the same time twice")
    for name in layout.context:
        counts = df[name].astype(object).fillna("<null>").groupby(ids).nunique()
        _refuse(where, name, counts.index[counts > 1].to_series(), "changes within the entity (context is static)")
    lengths = ids.value_counts()
    _refuse(where, layout.entity or layout.time, lengths.index[lengths < cfg.min_length].to_series(),
            f"has fewer than timeseries.min_length={cfg.min_length} steps, too short to learn from")
    order = np.lexsort((time.to_numpy(), pd.factorize(ids, sort=True)[0]))
    return df.iloc[order].reset_index(drop=True)


def _refuse(where: str, column: str, entities: pd.Series, problem: str) -> None:
    if len(entities):
        shown = ", ".join(map(repr, pd.unique(entities)[:5]))
        raise InputError(f"{where}: column '{column}': entity {shown} {problem}")


def split_entities(df: pd.DataFrame, layout: Layout, fraction: float, min_length: int,
                   seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, holdout): whole entities held out, chosen at random; a single series holds out its last part."""
    ids = entity_ids(df, layout)
    entities = pd.unique(ids)
    if len(entities) >= 2:
        count = min(len(entities) - 1, max(1, round(fraction * len(entities))))
        held = np.random.default_rng(seed).choice(len(entities), size=count, replace=False)
        holdout = ids.isin(entities[held]).to_numpy()
    else:
        holdout = np.arange(len(df)) >= len(df) - max(1, round(fraction * len(df)))
        if (~holdout).sum() < min_length:
            raise InputError(f"preprocess.holdout_fraction={fraction}: the series' first part keeps "
                             f"{int((~holdout).sum())} steps, fewer than timeseries.min_length={min_length}")
    return df[~holdout].reset_index(drop=True), df[holdout].reset_index(drop=True)


def starts_and_lengths(ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Row offset and length of each entity's run in a table sorted by entity."""
    change = np.flatnonzero(np.r_[True, ids.to_numpy()[1:] != ids.to_numpy()[:-1]])
    return change, np.diff(np.r_[change, len(ids)])


def time_numbers(time: pd.Series) -> np.ndarray:
    """Times as float64 (datetimes as nanoseconds since the epoch): gaps and starts are then plain numbers."""
    if ptypes.is_datetime64_any_dtype(time):
        return time.to_numpy("datetime64[ns]").view(np.int64).astype(np.float64)
    return time.to_numpy(np.float64)


def entity_table(df: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    """One row per entity: its context, length, start time and median step interval (the tabular model's rows)."""
    ids = entity_ids(df, layout)
    offsets, lengths = starts_and_lengths(ids)
    t = time_numbers(df[layout.time])
    gaps = np.r_[np.nan, np.diff(t)]
    gaps[offsets] = np.nan  # an entity's first step has no gap
    table = df.iloc[offsets][layout.context].reset_index(drop=True)
    table[LENGTH] = lengths.astype(np.int64)
    table[START] = t[offsets]
    table[INTERVAL] = pd.Series(gaps).groupby(np.repeat(np.arange(len(offsets)), lengths)).median().to_numpy()
    return table


def gap_ratios(df: pd.DataFrame, layout: Layout, interval: np.ndarray) -> np.ndarray:
    """Each step's gap from the step before, in units of its entity's median interval (1 at an entity's start)."""
    offsets, lengths = starts_and_lengths(entity_ids(df, layout))
    gaps = np.r_[np.nan, np.diff(time_numbers(df[layout.time]))] / np.repeat(interval, lengths)
    gaps[offsets] = 1.0
    return gaps


def calendar_frequency(df: pd.DataFrame, layout: Layout) -> str | None:
    """The calendar frequency every entity follows (e.g. "MS"), or None when the times are not datetimes or
    the entities do not all follow one."""
    time = df[layout.time]
    if not ptypes.is_datetime64_any_dtype(time):
        return None
    freqs = {pd.infer_freq(pd.DatetimeIndex(steps)) if len(steps) >= 3 else None
             for _, steps in time.groupby(entity_ids(df, layout).to_numpy())}
    return freqs.pop() if len(freqs) == 1 else None


DAY_NS = 86_400e9
# Calendar inputs, each a fraction of its cycle (drawn as sine and cosine), and the longest step interval each
# still tells something at: the hour of the day for steps shorter than a day, and so on.
CALENDAR = {
    "hour": (DAY_NS, lambda t: (t.dt.hour + t.dt.minute / 60) / 24),
    "weekday": (DAY_NS * 1.5, lambda t: t.dt.dayofweek / 7),
    "yearday": (DAY_NS * 180, lambda t: (t.dt.dayofyear - 1) / 365.25),
}


def calendar_inputs(time: pd.Series, interval: float) -> list[str]:
    """The calendar inputs worth reading for steps `interval` apart (none for times that are not datetimes)."""
    if not ptypes.is_datetime64_any_dtype(time):
        return []
    return [name for name, (longest, _) in CALENDAR.items() if interval < longest]


def timing(time: pd.Series, offsets: np.ndarray, lengths: np.ndarray, calendar: list[str]) -> np.ndarray:
    """What the network reads about each step's time (steps x (1 + 2 x calendar inputs)): its place in its
    sequence (0 at the start, 1 at the end), then sine and cosine of each calendar fraction."""
    step_number = np.arange(len(time)) - np.repeat(offsets, lengths)
    parts = [step_number / np.repeat(np.maximum(lengths - 1, 1), lengths)]
    for name in calendar:
        angle = 2 * np.pi * CALENDAR[name][1](pd.Series(time)).to_numpy(float)
        parts += [np.sin(angle), np.cos(angle)]
    return np.stack(parts, axis=1).astype(np.float32)


def windows(encoded: np.ndarray, times: np.ndarray, offsets: np.ndarray, lengths: np.ndarray, width: int,
            stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Training windows over every entity, as arrays: (steps, valid, timing, entity).

    steps: windows x (width + 1) x features; step 0 is the one before the window (zeros at an entity's start),
    which the network reads before producing step 1. valid: windows x width, False on padding past an entity's
    end (an entity shorter than `width` gives one padded window). timing: windows x width x inputs, the rows of
    `times` (see `timing`) for the window's steps. entity: the window's entity number.
    """
    counts = np.maximum(1, (lengths - width) // stride + 1)
    entity = np.repeat(np.arange(len(lengths)), counts)
    first = np.cumsum(counts) - counts
    start = offsets[entity] + stride * (np.arange(len(entity)) - first[entity])
    index = start[:, None] + np.arange(-1, width)  # window's steps, with the one before
    end = (offsets + lengths)[entity][:, None]
    inside = (index >= offsets[entity][:, None]) & (index < end)
    steps = encoded[np.clip(index, 0, len(encoded) - 1)] * inside[..., None]
    return steps.astype(np.float32), inside[:, 1:], times[np.clip(index[:, 1:], 0, len(times) - 1)], entity

"""Per-step values as model inputs and outputs, and back.

A number becomes its standardised value (0 where null), a null flag if the column has nulls, and a spike flag
if one value holds a large share of the column (zero rainfall, zero sales: a point mass a Gaussian cannot draw);
decoded, it is rounded to the decimals its real values are recorded with (a reading to 0.1 degrees stays one);
a category becomes a one-hot over its levels (null is a level of its own). The network outputs, per number, a
Gaussian (mean, log standard deviation) and a logit per flag, and per category one logit per level. Everything
is fitted on the real train steps and saved as JSON beside the weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from synthpipe.schema import infer_kind, observed_decimals

MIN_LOG_SIGMA = -7.0  # a Gaussian narrower than this is a memorised constant, and its NLL runs away
SPIKE_SHARE = 0.1  # a number whose most common value holds this share of its values gets a spike flag


@dataclass
class Column:
    name: str
    kind: str  # "number" or "category"
    dtype: str
    nulls: bool
    mean: float = 0.0
    std: float = 1.0
    low: float = 0.0
    high: float = 0.0
    integer: bool = False
    spike: float | None = None  # the value of a number's point mass
    decimals: int | None = None  # a float's recorded precision: decoded values are rounded to it
    levels: list | None = None

    @property
    def flags(self) -> int:
        return self.nulls + (self.spike is not None)

    @property
    def input_width(self) -> int:
        return 1 + self.flags if self.kind == "number" else len(self.levels) + self.nulls

    @property
    def output_width(self) -> int:
        return 2 + self.flags if self.kind == "number" else len(self.levels) + self.nulls


def fit_column(series: pd.Series) -> Column:
    kind = infer_kind(series)
    nulls = bool(series.isna().any())
    if kind in ("continuous", "discrete"):
        values = series.dropna().to_numpy(float)
        std = float(values.std()) if len(values) else 0.0
        mean = float(values.mean()) if len(values) else 0.0
        counts = pd.Series(values).value_counts(normalize=True)
        spike = float(counts.index[0]) if len(counts) > 1 and counts.iloc[0] >= SPIKE_SHARE else None
        return Column(str(series.name), "number", str(series.dtype), nulls, mean, std if std > 0 else 1.0,
                      float(values.min()), float(values.max()), kind == "discrete", spike,
                      observed_decimals(values) if kind == "continuous" else None)
    levels = sorted(series.dropna().unique().tolist(), key=str)
    return Column(str(series.name), "category", str(series.dtype), nulls, levels=[_plain(v) for v in levels])


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


class Codec:
    """Encoder and decoder of a set of columns, fitted on real rows."""

    def __init__(self, columns: list[Column]):
        self.columns = columns
        self.input_width = sum(c.input_width for c in columns)
        self.output_width = sum(c.output_width for c in columns)

    @classmethod
    def fit(cls, df: pd.DataFrame) -> Codec:
        return cls([fit_column(df[name]) for name in df.columns])

    def to_dict(self) -> list[dict]:
        return [asdict(c) for c in self.columns]

    @classmethod
    def from_dict(cls, columns: list[dict]) -> Codec:
        return cls([Column(**c) for c in columns])

    def encode(self, df: pd.DataFrame) -> np.ndarray:
        """Rows (n x input_width, float32)."""
        parts = []
        for c in self.columns:
            series = df[c.name]
            null = series.isna().to_numpy()
            if c.kind == "number":
                values = series.to_numpy(float, na_value=np.nan)
                parts.append(np.where(null, 0.0, (values - c.mean) / c.std)[:, None])
                if c.nulls:
                    parts.append(null[:, None].astype(float))
                if c.spike is not None:
                    parts.append((values == c.spike)[:, None].astype(float))
            else:
                codes = pd.Categorical(series.astype(object), categories=c.levels).codes
                codes = np.where(null | (codes < 0), len(c.levels), codes)  # null, or a level unseen in training
                parts.append(np.eye(len(c.levels) + 1)[codes][:, : c.input_width])
        return np.concatenate(parts, axis=1).astype(np.float32) if parts else np.zeros((len(df), 0), np.float32)

    def loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of `target` (... x input_width) under `out` (... x output_width), per step."""
        total = torch.zeros(out.shape[:-1], device=out.device, dtype=out.dtype)
        i = o = 0
        for c in self.columns:
            x, y = target[..., i : i + c.input_width], out[..., o : o + c.output_width]
            if c.kind == "number":
                mu, log_sigma = y[..., 0], y[..., 1].clamp(min=MIN_LOG_SIGMA)
                present = 1.0 - x[..., 1] if c.nulls else torch.ones_like(mu)
                spread = present * (1.0 - x[..., -1]) if c.spike is not None else present  # the Gaussian's steps
                total = total + spread * (0.5 * ((x[..., 0] - mu) / log_sigma.exp()) ** 2 + log_sigma)
                if c.nulls:
                    total = total + F.binary_cross_entropy_with_logits(y[..., 2], x[..., 1], reduction="none")
                if c.spike is not None:
                    flag = F.binary_cross_entropy_with_logits(y[..., -1], x[..., -1], reduction="none")
                    total = total + present * flag
            else:
                total = total - (torch.log_softmax(y, dim=-1) * x).sum(-1)
            i, o = i + c.input_width, o + c.output_width
        return total

    def sample(self, out: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One draw from `out` (rows x output_width), encoded as the next step's input (rows x input_width)."""
        parts, o = [], 0
        for c in self.columns:
            y = out[:, o : o + c.output_width]
            noise = torch.randn(len(y), generator=generator, device=y.device)
            if c.kind == "number":
                z = y[:, 0] + noise * y[:, 1].clamp(min=MIN_LOG_SIGMA).exp()
                flags = torch.rand(len(y), c.flags, generator=generator, device=y.device) < torch.sigmoid(y[:, 2:])
                if c.spike is not None:
                    z = torch.where(flags[:, -1], (c.spike - c.mean) / c.std, z)
                if c.nulls:
                    z = z * ~flags[:, 0]
                if c.nulls and c.spike is not None:
                    flags[:, -1] &= ~flags[:, 0]  # a null is not the spike value
                parts += [z[:, None], flags.to(y.dtype)]
            else:
                codes = torch.multinomial(torch.softmax(y, dim=-1), 1, generator=generator)[:, 0]
                parts.append(F.one_hot(codes, c.output_width).to(y.dtype))
            o += c.output_width
        return torch.cat(parts, dim=1)

    def decode(self, encoded: np.ndarray) -> pd.DataFrame:
        """Encoded rows back to columns of the real dtypes; numbers kept within the real range."""
        columns, i = {}, 0
        for c in self.columns:
            x = encoded[:, i : i + c.input_width]
            if c.kind == "number":
                values = np.clip(x[:, 0].astype(np.float64) * c.std + c.mean, c.low, c.high)  # rounds in float64
                values = np.round(values) if c.integer else values
                values = np.round(values, c.decimals) if c.decimals is not None else values
                if c.spike is not None:
                    values = np.where(x[:, -1] > 0.5, c.spike, values)
                null = x[:, 1] > 0.5 if c.nulls else np.zeros(len(x), bool)
                columns[c.name] = pd.Series(np.where(null, np.nan, values)).astype(c.dtype)
            else:
                codes = x.argmax(axis=1)
                values = pd.Series(np.array(c.levels + [None], dtype=object)[codes])
                columns[c.name] = values.astype(c.dtype) if c.dtype != "object" else values
            i += c.input_width
        return pd.DataFrame(columns)

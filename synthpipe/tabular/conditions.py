"""The conditional vector: which categorical level a generated row must have.

The neural models take, beside their noise, a one-hot over the levels (slots) of every
categorical column, with exactly one column's block set per row. Training draws it by
"training-by-sampling" (CTGAN): pick a column uniformly, pick one of its levels with probability
proportional to log(1 + count), so rare levels are seen often enough to be learned, then pick a
real row having that level. Everything here is tensor indexing on the device: no per-row Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from synthpipe.tabular.transform import CategoricalCodec, TableTransformer


@dataclass(frozen=True)
class CondLayout:
    """Where each categorical column's block sits in the encoded rows and in the conditional vector."""

    columns: tuple[str, ...]
    starts: tuple[int, ...]  # block start in the encoded matrix
    widths: tuple[int, ...]

    @classmethod
    def of(cls, transformer: TableTransformer) -> CondLayout:
        cats = [codec for codec in transformer.codecs if isinstance(codec, CategoricalCodec)]
        return cls(tuple(c.name for c in cats), tuple(transformer.block_start(c.name) for c in cats),
                   tuple(c.width for c in cats))

    @property
    def width(self) -> int:
        return sum(self.widths)

    @property
    def offsets(self) -> tuple[int, ...]:
        """Block start of each column inside the conditional vector."""
        return tuple(sum(self.widths[:i]) for i in range(len(self.widths)))

    def vector(self, rows: int, column: torch.Tensor, slot: torch.Tensor,
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """One-hot conditional vectors: row i has column[i]'s block set at slot[i]."""
        cond = torch.zeros(rows, self.width, device=column.device, dtype=dtype)
        if self.width:
            offsets = torch.tensor(self.offsets, device=column.device)
            cond.scatter_(1, (offsets.index_select(0, column) + slot).unsqueeze(1), 1.0)
        return cond


def slot_counts(layout: CondLayout, slots: torch.Tensor) -> torch.Tensor:
    """How many rows have each slot of each categorical column: columns x widest block (zero padded)."""
    counts = torch.zeros(len(layout.columns), max(layout.widths, default=1), device=slots.device)
    for j, width in enumerate(layout.widths):
        counts[j, :width] = torch.bincount(slots[:, j], minlength=width).float()
    return counts


def encoded_slots(layout: CondLayout, data: torch.Tensor) -> torch.Tensor:
    """Slot of every row in every categorical column: rows x columns."""
    if not layout.columns:
        return torch.zeros(data.shape[0], 0, dtype=torch.long, device=data.device)
    return torch.stack([data[:, s : s + w].argmax(dim=1) for s, w in zip(layout.starts, layout.widths)], dim=1)


class CondSampler:
    """Draws conditional vectors (and matching real rows) from the encoded training set on its device."""

    def __init__(self, layout: CondLayout, data: torch.Tensor):
        self.layout, self.rows = layout, data.shape[0]
        self.slots = encoded_slots(layout, data)
        self.counts = slot_counts(layout, self.slots)
        log_freq = torch.log1p(self.counts)
        self.log_cdf = torch.cumsum(log_freq / log_freq.sum(dim=1, keepdim=True), dim=1)
        # Rows sorted by slot, per column, with each slot's first position: a level's rows are a contiguous run.
        self.order = torch.argsort(self.slots, dim=0, stable=True).T.contiguous()  # columns x rows
        self.first = torch.cumsum(self.counts, dim=1) - self.counts

    def training_batch(self, batch: int, dtype: torch.dtype = torch.float32
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(cond vectors in `dtype`, chosen column, chosen slot, index of a real row with that slot)."""
        device = self.counts.device
        # Lookups by index_select into flattened tables: several times faster than advanced indexing on a CPU.
        column = torch.randint(len(self.layout.columns), (batch,), device=device)
        draw = torch.rand(batch, 1, device=device)
        widest = self.counts.shape[1]
        slot = (draw > self.log_cdf.index_select(0, column)).sum(dim=1).clamp_max(widest - 1)
        level = column * widest + slot
        spread = torch.rand(batch, device=device) * self.counts.view(-1).index_select(0, level)
        position = (self.first.view(-1).index_select(0, level) + spread.floor()).long().clamp_max(self.rows - 1)
        rows = self.order.view(-1).index_select(0, column * self.rows + position)
        return self.layout.vector(batch, column, slot, dtype), column, slot, rows

    def own_rows(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Conditional vectors describing the given real rows themselves (one random column each)."""
        column = torch.randint(len(self.layout.columns), (len(rows),), device=rows.device)
        slot = self.slots[rows, column]
        return self.layout.vector(len(rows), column, slot), column, slot


def empirical_vectors(layout: CondLayout, counts: torch.Tensor, rows: int, generator: torch.Generator) -> torch.Tensor:
    """Conditional vectors for unconditional sampling: a random column, a level at its real frequency."""
    if not layout.columns:
        return torch.zeros(rows, 0)
    cdf = torch.cumsum(counts / counts.sum(dim=1, keepdim=True), dim=1)
    column = torch.randint(len(layout.columns), (rows,), generator=generator)
    draw = torch.rand(rows, 1, generator=generator)
    slot = (draw > cdf[column]).sum(dim=1).clamp_max(counts.shape[1] - 1)
    return layout.vector(rows, column, slot)


def fixed_vectors(layout: CondLayout, fixed: dict[str, np.ndarray]) -> torch.Tensor:
    """Conditional vectors with each given column's block set at the row's slot."""
    rows = len(next(iter(fixed.values())))
    cond = torch.zeros(rows, layout.width)
    for name, slots in fixed.items():
        cond[torch.arange(rows), layout.offsets[layout.columns.index(name)] + torch.from_numpy(slots)] = 1.0
    return cond


def force_slots(encoded: torch.Tensor, layout: CondLayout, fixed: dict[str, np.ndarray]) -> torch.Tensor:
    """Overwrite the conditioned columns' blocks with their one-hot: the condition holds exactly."""
    for name, slots in fixed.items():
        j = layout.columns.index(name)
        start, width = layout.starts[j], layout.widths[j]
        encoded[:, start : start + width] = 0.0
        encoded[torch.arange(len(slots), device=encoded.device),
                start + torch.from_numpy(slots).to(encoded.device)] = 1.0
    return encoded

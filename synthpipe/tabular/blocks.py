"""Acting on every block of the encoded rows at once, instead of one block at a time.

A table with 30 numeric columns has 60 output blocks; a Python loop over them costs ~60 small tensor
operations per step, forward and backward. Sampling gathers the softmax blocks into one padded
(rows x blocks x widest block) tensor, with padding at -inf, so a softmax or a draw over all of them is a
single operation; training works in a column order of its own (TrainingLayout) where equal-width blocks are
neighbours and need no gathering at all.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from synthpipe.tabular.noise import gumbel_noise
from synthpipe.tabular.transform import Span


class Blocks:
    """Index tensors for a layout of blocks, each given as the list of its columns (slot order)."""

    def __init__(self, columns: list[list[int]], device: torch.device | str = "cpu"):
        width = max(map(len, columns), default=1)
        self.gather = torch.zeros(len(columns), width, dtype=torch.long)
        self.valid = torch.zeros(len(columns), width, dtype=torch.bool)
        for i, block in enumerate(columns):
            self.gather[i, : len(block)] = torch.tensor(block, dtype=torch.long)
            self.valid[i, : len(block)] = True
        self.gather, self.valid = self.gather.to(device), self.valid.to(device)

    @classmethod
    def contiguous(cls, starts: list[int], widths: list[int], device: torch.device | str = "cpu") -> Blocks:
        """Blocks whose slots are neighbouring columns, from (start, width) pairs."""
        return cls([list(range(start, start + width)) for start, width in zip(starts, widths)], device)

    def logits(self, raw: torch.Tensor) -> torch.Tensor:
        """rows x blocks x widest: each block's values, -inf where a block is narrower."""
        return raw[:, self.gather].masked_fill(~self.valid, float("-inf"))


def span_starts(spans: tuple[Span, ...]) -> list[int]:
    """The encoded column where each span begins."""
    starts, start = [], 0
    for span in spans:
        starts.append(start)
        start += span.width
    return starts


class SpanIndex:
    """The tanh columns and the softmax blocks of a row layout."""

    def __init__(self, spans: tuple[Span, ...], device: torch.device | str = "cpu"):
        starts = span_starts(spans)
        self.tanh = torch.tensor([start for start, s in zip(starts, spans) if s.activation == "tanh"],
                                 dtype=torch.long, device=device)
        soft = [(start, s.width) for start, s in zip(starts, spans) if s.activation == "softmax"]
        self.softmax = Blocks.contiguous([s for s, _ in soft], [w for _, w in soft], device)
        self.width = sum(s.width for s in spans)


def block_softmax(logits: torch.Tensor) -> torch.Tensor:
    """Softmax within each block of rows x blocks x widest logits.

    Computed over a transposed view, so that the blocks are the innermost axis: torch's CPU softmax vectorises
    along the innermost axis, and the slots of a block (often 2 to 10) fill a vector register poorly. Same
    result, about 3x faster forward and backward.
    """
    return F.softmax(logits.transpose(1, 2), dim=1).transpose(1, 2)


def hard_rows(raw: torch.Tensor, index: SpanIndex, generator: torch.Generator) -> torch.Tensor:
    """Sampled outputs: tanh values and one-hot blocks, each slot drawn from its block's softmax.

    By inverse CDF: one uniform per block (drawn on the CPU from `generator`: device-independent rows)
    against the block's cumulative probabilities, instead of one Gumbel draw and two logs per slot.
    """
    raw = raw.float()
    out = torch.zeros_like(raw)
    out[:, index.tanh] = torch.tanh(raw[:, index.tanh])
    blocks = index.softmax
    cumulative = block_softmax(blocks.logits(raw)).cumsum(dim=-1)  # rows x blocks x widest
    uniform = torch.rand(cumulative.shape[:2], generator=generator).to(raw.device)
    choice = (cumulative < uniform.unsqueeze(-1)).sum(dim=-1)  # rows x blocks
    choice = torch.minimum(choice, blocks.valid.sum(dim=1) - 1)  # a rounding shortfall of the last sum
    columns = blocks.gather.gather(1, choice.T).T  # rows x blocks: the chosen column of each block
    return out.scatter_(1, columns, 1.0)


def block_cross_entropy(raw: torch.Tensor, blocks: Blocks, block: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per row: cross-entropy of block `block[i]`'s logits against slot `target[i]` (only that block is read)."""
    logits = raw.gather(1, blocks.gather.index_select(0, block)).float()
    logits = logits.masked_fill(~blocks.valid.index_select(0, block), float("-inf"))
    return F.cross_entropy(logits, target, reduction="none")


class TrainingLayout:
    """A column order for training: the tanh columns first, then the softmax blocks grouped by width.

    In the encoded order a number's tanh value sits beside its mode block, so acting on all blocks at once takes
    gathers and scatters across columns, the costliest small operations of a training step. In this order the
    tanh values are one slice, and each run of equal-width blocks is one slice laid out slot-major (slot 0 of
    every block, then slot 1, ...). That slice views, without copying, as width x rows x blocks (a transposed
    view), where a softmax over the slots is a softmax over the outermost axis across contiguous runs of every
    row's blocks, the layout torch's CPU softmax vectorises best.
    `order[i]` is the encoded column at training position i; `position` is its inverse.
    """

    def __init__(self, spans: tuple[Span, ...], device: torch.device | str = "cpu"):
        starts = span_starts(spans)
        tanh = [start for start, s in zip(starts, spans) if s.activation == "tanh"]
        by_width: dict[int, list[int]] = {}
        for start, span in zip(starts, spans):
            if span.activation == "softmax":
                by_width.setdefault(span.width, []).append(start)
        self.tanh_width = len(tanh)
        self.groups = [(width, len(by_width[width])) for width in sorted(by_width)]  # (block width, blocks)
        order = tanh + [start + slot for width in sorted(by_width) for slot in range(width)
                        for start in by_width[width]]
        self.order = torch.tensor(order, dtype=torch.long, device=device)
        self.position = torch.argsort(self.order)

    def blocks(self, starts: list[int], widths: list[int]) -> Blocks:
        """The training positions of encoded blocks given as (start, width) pairs."""
        position = self.position.tolist()
        return Blocks([[position[start + slot] for slot in range(width)] for start, width in zip(starts, widths)],
                      self.order.device)

    def soft_rows(self, raw: torch.Tensor, tau: float, cond: torch.Tensor) -> torch.Tensor:
        """The critic's view of raw generator rows in this order: tanh values and Gumbel-softmax blocks
        (differentiable), followed by the rows' conditional vectors, in the conditional vectors' number format.

        The parts are cut with one split, whose backward is one concatenation (a slice's backward writes its
        gradient into a zeroed full-width copy), and put together with one concatenation."""
        rows = raw.shape[0]
        sizes = [width * count for width, count in self.groups]
        values, *groups = raw.split([self.tanh_width, *sizes], dim=1)
        # (logits + noise) / tau as one operation per group: the noise comes scaled, the logits by `alpha`;
        # with float32 noise it runs in float32 whatever the logits' type, as do the softmaxes. Each group's noise
        # is laid out width x rows x blocks (its values are independent: any layout will do), and so is the sum,
        # whose softmax then runs over the outermost axis: twice as fast as over the middle axis of
        # rows x width x blocks.
        noise = gumbel_noise(rows * sum(sizes), 1, raw.device, scale=1 / tau).view(-1).split([rows * n for n in sizes])
        parts = [torch.tanh(values)]
        for (width, count), logits, scaled_noise in zip(self.groups, groups, noise):
            slot_major = logits.view(rows, width, count).transpose(0, 1)
            scaled = torch.add(scaled_noise.view(width, rows, count), slot_major, alpha=1 / tau)
            parts.append(F.softmax(scaled, dim=0).transpose(0, 1).reshape(rows, width * count))
        return torch.cat([*parts, cond], dim=1).to(cond.dtype)

"""Acting on every block of the encoded rows at once, instead of one block at a time.

A table with 30 numeric columns has 60 output blocks; a Python loop over them costs ~60 small tensor
operations per step, forward and backward. Instead the softmax blocks are gathered into one padded
(rows x blocks x widest block) tensor, with padding at -inf, so a softmax, a Gumbel draw or a
cross-entropy over all of them is a single operation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from synthpipe.transform import Span


class Blocks:
    """Index tensors for a layout of blocks given as (start, width) pairs."""

    def __init__(self, starts: list[int], widths: list[int], device: torch.device | str = "cpu"):
        width = max(widths, default=1)
        self.gather = torch.zeros(len(starts), width, dtype=torch.long)
        self.valid = torch.zeros(len(starts), width, dtype=torch.bool)
        for i, (start, w) in enumerate(zip(starts, widths)):
            self.gather[i, :w] = torch.arange(start, start + w)
            self.valid[i, :w] = True
        self.gather, self.valid = self.gather.to(device), self.valid.to(device)
        # Index forms of the `valid` mask, worked out once: masking with it would search it on every call.
        self.columns = self.gather[self.valid]
        self.slots = self.valid.reshape(-1).nonzero().squeeze(1)

    def logits(self, raw: torch.Tensor) -> torch.Tensor:
        """rows x blocks x widest: each block's values, -inf where a block is narrower."""
        return raw[:, self.gather].masked_fill(~self.valid, float("-inf"))

    def scatter(self, out: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """Write rows x blocks x widest `values` back to their columns of `out`."""
        out[:, self.columns] = values.reshape(values.shape[0], -1)[:, self.slots]
        return out


class SpanIndex:
    """The tanh columns and the softmax blocks of a row layout."""

    def __init__(self, spans: tuple[Span, ...], device: torch.device | str = "cpu"):
        starts = [sum(s.width for s in spans[:i]) for i in range(len(spans))]
        self.tanh = torch.tensor([start for start, s in zip(starts, spans) if s.activation == "tanh"],
                                 dtype=torch.long, device=device)
        soft = [(start, s.width) for start, s in zip(starts, spans) if s.activation == "softmax"]
        self.softmax = Blocks([s for s, _ in soft], [w for _, w in soft], device)
        self.width = sum(s.width for s in spans)


def gumbel(shape: torch.Size, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """Standard Gumbel noise; drawn on the CPU from `generator` when one is given (device-independent rows)."""
    uniform = torch.rand(shape, generator=generator) if generator is not None else torch.rand(shape, device=device)
    return -torch.log((-torch.log(uniform.clamp_min(1e-12))).clamp_min(1e-12)).to(device)


def block_softmax(logits: torch.Tensor) -> torch.Tensor:
    """Softmax within each block of rows x blocks x widest logits.

    Computed over a transposed view, so that the blocks are the innermost axis: torch's CPU softmax vectorises
    along the innermost axis, and the slots of a block (often 2 to 10) fill a vector register poorly. Same
    result, about 3x faster forward and backward.
    """
    return F.softmax(logits.transpose(1, 2), dim=1).transpose(1, 2)


def soft_rows(raw: torch.Tensor, index: SpanIndex, tau: float) -> torch.Tensor:
    """Training outputs: tanh values and Gumbel-softmax blocks (differentiable)."""
    raw = raw.float()
    out = torch.zeros_like(raw)
    out[:, index.tanh] = torch.tanh(raw[:, index.tanh])
    logits = index.softmax.logits(raw)
    soft = block_softmax((logits + gumbel(logits.shape, None, raw.device)) / tau)
    return index.softmax.scatter(out, soft)


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
    """Per row: cross-entropy of block `block[i]`'s logits against slot `target[i]`."""
    logits = blocks.logits(raw.float())[torch.arange(raw.shape[0], device=raw.device), block]
    return F.cross_entropy(logits, target, reduction="none")

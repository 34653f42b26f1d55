"""The sequence generator: an autoregressive GRU over encoded steps, conditioned on each entity's context.

At step t the network reads the step before (zeros at an entity's start), where t sits in the sequence
(0 at the start, 1 at the end) and in the calendar (frame.timing), and the entity's condition (its encoded
context and log length), and outputs the distribution of step t (codec.py). Training is teacher-forced on
the windows preprocess cut, through the shared loop (synthpipe.training: checkpoints, resume, divergence
recovery); sampling runs all entities at once, one step at a time. The entities themselves (context, length,
start, interval) come from a TabularSynthesizer fitted on one row per entity.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from synthpipe.config import SeriesTrainConfig
from synthpipe.timeseries.codec import Codec
from synthpipe.training import Adam, Checkpoints, LoopOptions, Trainee, planned_epochs, train, update


class SeriesNet(nn.Module):
    def __init__(self, steps: int, timing: int, condition: int, hidden: int, layers: int, out: int):
        super().__init__()
        self.layers, self.hidden = layers, hidden
        self.start = nn.Linear(condition, hidden * layers)  # the condition sets the initial state ...
        self.gru = nn.GRU(steps + timing + 1 + condition, hidden, layers, batch_first=True)  # ... and every step
        self.head = nn.Linear(hidden, out)

    def forward(self, prev: torch.Tensor, timing: torch.Tensor, condition: torch.Tensor,
                state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """prev: batch x steps x features, timing: batch x steps x inputs (position first), condition: batch x
        width."""
        batch, steps, _ = timing.shape
        if state is None:
            state = torch.tanh(self.start(condition)).view(batch, self.layers, self.hidden).transpose(0, 1).contiguous()
        first = (timing[..., :1] == 0).to(prev.dtype)  # no step before: the network must draw a level of its own
        inputs = torch.cat([prev, timing, first, condition[:, None].expand(batch, steps, -1)], dim=-1)
        hidden, state = self.gru(inputs, state)
        return self.head(hidden), state


@dataclass
class Windows:
    """The training windows preprocess cut (frame.windows), with each entity's condition."""

    steps: torch.Tensor  # windows x (width + 1) x features
    valid: torch.Tensor  # windows x width
    timing: torch.Tensor  # windows x width x timing inputs
    entity: torch.Tensor  # windows
    condition: torch.Tensor  # entities x condition width

    def to(self, device: torch.device) -> Windows:
        return Windows(*(t.to(device) for t in (self.steps, self.valid, self.timing, self.entity, self.condition)))


def build(codec: Codec, timing_width: int, condition_width: int, cfg: SeriesTrainConfig) -> SeriesNet:
    return SeriesNet(codec.input_width, timing_width, condition_width, cfg.hidden, cfg.layers, codec.output_width)


def fit_series(windows: Windows, codec: Codec, cfg: SeriesTrainConfig, seed: int, device: torch.device,
               checkpoints: Checkpoints | None = None,
               on_epoch: Callable[[dict], None] | None = None) -> tuple[SeriesNet, list[dict]]:
    """Teacher-forced maximum likelihood on the windows; returns the network and the epoch history."""
    torch.manual_seed(seed)
    net = build(codec, windows.timing.shape[2], windows.condition.shape[1], cfg).to(device)
    optimizer = Adam(net.parameters(), lr=cfg.learning_rate)
    data = windows.to(device)
    batch = batch_size(cfg, len(data.entity))
    per_epoch = steps_per_epoch(cfg, len(data.entity))
    total = planned_epochs(cfg, per_epoch) * per_epoch

    def step(n: int) -> dict[str, torch.Tensor]:
        if cfg.schedule == "cosine":
            optimizer.lr_factor = 0.5 * (1 + math.cos(math.pi * n / total))
        rows = torch.randint(len(data.entity), (batch,), device=device)
        steps, valid = data.steps[rows], data.valid[rows].float()
        out, _ = net(steps[:, :-1], data.timing[rows], data.condition[data.entity[rows]])
        # Mean negative log-likelihood per real step: padding past an entity's end counts for nothing.
        loss = (codec.loss(out, steps[:, 1:]) * valid).sum() / valid.sum()
        update(optimizer, loss)
        return {"loss": loss.detach()}

    trainee = Trainee("gru", {"net": net}, {"net": optimizer}, step,
                      steps_per_epoch=per_epoch, batch=batch)
    result = train(trainee, cfg, seed, LoopOptions(on_epoch=on_epoch, checkpoints=checkpoints))
    return net.eval(), result.history


def batch_size(cfg: SeriesTrainConfig, windows: int) -> int:
    return min(cfg.batch_size, windows)


def steps_per_epoch(cfg: SeriesTrainConfig, windows: int) -> int:
    """Optimiser steps in a pass over the windows: 87 windows (five stock tickers) make one, where 1,767 (a year of
    hourly temperatures) make 14; cfg.min_steps gives the few windows more epochs (training.planned_epochs)."""
    return math.ceil(windows / batch_size(cfg, windows))


@torch.no_grad()
def sample_series(net: SeriesNet, codec: Codec, condition: torch.Tensor, timing: torch.Tensor, window: int,
                  generator: torch.Generator) -> np.ndarray:
    """Encoded steps of len(timing) sequences at once: entities x steps x features, for `timing` entities x
    steps x inputs (past an entity's length the steps are drawn but unused).

    The network only learnt to run up to `window` steps from a state set by the condition (a training window).
    Run on for hundreds of steps, its state drifts where training never took it (measured on a year of daily
    weather: temperatures stuck at the top of their range after a few months). So once the state is `window`
    steps old, it is rebuilt from a fresh one over the last half window of drawn steps, as a training window
    starting there would see them: the state stays within the ages training saw, and keeps the recent past (the
    phase of a daily cycle, say) that the step before alone does not tell."""
    device = condition.device
    count, longest, _ = timing.shape
    half = max(1, window // 2)
    inputs = [torch.zeros(count, 1, codec.input_width, device=device)]  # inputs[t]: what step t reads, step t - 1
    state, age = None, 0
    for t in range(longest):
        if age == window:
            _, state = net(torch.cat(inputs[t - half : t], dim=1), timing[:, t - half : t], condition)
            age = half
        out, state = net(inputs[t], timing[:, t : t + 1], condition, state)
        inputs.append(codec.sample(out[:, 0], generator)[:, None])
        age += 1
    return torch.cat(inputs[1:], dim=1).cpu().numpy()


def load_net(codec: Codec, timing_width: int, condition_width: int, cfg: SeriesTrainConfig, weights: Path,
             device: torch.device) -> SeriesNet:
    from safetensors.torch import load_file

    net = build(codec, timing_width, condition_width, cfg)
    net.load_state_dict(load_file(str(weights)))
    return net.to(device).eval()

"""A TabDDPM-style diffusion model: Gaussian diffusion over the numbers, masked diffusion over the categories.

Rows are encoded apart from the GAN's matrix:
- each number (continuous, discrete, datetime) is standardised by its codec, then mapped through its own
  empirical quantiles to a standard normal (a quantile transform, kept as JSON arrays in the model's shape);
- each categorical column is an integer slot of its codec (frequent levels, "other", null), and each number
  that has nulls gets a categorical null indicator (0 present, 1 null): the null pattern is learned like a level;
- a few-valued number (synthpipe.tabular.transform: a rating, a count) is a categorical variable of its values,
  as MOSTLY AI's engine encodes it: Gaussian noise over a handful of point masses learns their shares poorly.

Training draws a time t in (0, 1] per row; the numbers are noised to sqrt(a(t)) x + sqrt(1 - a(t)) noise
(cosine schedule), and each category is replaced by a mask token with probability t (absorbing-state diffusion).
One MLP sees the noisy numbers, an embedding of every category (mask included) and an embedding of t; it
predicts the numbers' noise (squared error) and every masked category (cross-entropy). For a share of the rows
one categorical column stays clean whatever t is, so the model learns to complete rows around a fixed value.

Sampling starts from pure noise and all-masked categories and takes `sampling_steps` DDIM steps (deterministic
for the numbers); at each step a masked category is revealed with probability (t - s) / t, drawn from the
model's prediction, and revealed ones stay. A condition is a category fixed from the first step and never
masked: every row has it exactly, with no rejection. Training runs a fixed number of optimiser steps, so a
300-row table and a 300k-row one cost the same; the weights sampled from are a moving average of the trained ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from scipy.special import ndtr, ndtri
from torch import nn

from synthpipe.config import TrainConfig
from synthpipe.device import compute_dtype, mixed_precision
from synthpipe.errors import Diverged
from synthpipe.tabular.transform import CategoricalCodec, TableTransformer
from synthpipe.training import Adam, LoopOptions, Trainee, train, update

STEPS_PER_ROUND = 100  # optimiser steps per record of the shared loop (its "epoch"): history, progress, checkpoints
QUANTILES = 1000  # points of each number's quantile map
EDGE = 1e-3  # quantile levels kept in [EDGE, 1 - EDGE]: normal scores within +-3.09
CLEAN_SHARE = 0.5  # share of training rows with one categorical column left clean (what a condition looks like)
EMA_DECAY = 0.999
EMBEDDING_DIM = 16  # per categorical column
TIME_DIM = 64  # sinusoidal features of t
SCHEDULE_OFFSET = 0.008  # cosine schedule (Nichol & Dhariwal): keeps the noise at small t from vanishing
MIN_SIGNAL = 1e-4  # a(1): some signal left, so the first step's estimate of x0 is finite
SAMPLING_BLOCK = 8192  # rows per pass of the network when sampling on a CPU (see generate)


@dataclass(frozen=True)
class DiffusionShape:
    numbers: tuple[str, ...]  # numeric columns, in table order
    quantiles: tuple[tuple[float, ...], ...]  # per number: standardised values at QUANTILES even levels
    categories: tuple[str, ...]  # categorical variables: column names, then "<column>#null" indicators
    widths: tuple[int, ...]  # states of each categorical variable (its mask token is one more)
    dims: tuple[int, ...]

    @property
    def cat_offsets(self) -> tuple[int, ...]:
        """Where each variable's states (and its mask token) start in the shared embedding table."""
        return tuple(int(x) for x in np.cumsum([0, *[w + 1 for w in self.widths]])[:-1])


def fit_shape(transformer: TableTransformer, df: pd.DataFrame, dims: tuple[int, ...]) -> DiffusionShape:
    numbers, quantiles, categories, widths, nullable = [], [], [], [], []
    levels = np.linspace(0.0, 1.0, QUANTILES)
    for codec in transformer.codecs:
        if isinstance(codec, CategoricalCodec) or codec.levels is not None:
            categories.append(codec.name)
            widths.append(codec.width)
            continue
        z, nulls = codec.standardise(df[codec.name])
        numbers.append(codec.name)
        quantiles.append(tuple(np.quantile(z[~nulls], levels).tolist()))
        if codec.has_nulls:
            nullable.append(f"{codec.name}#null")
    return DiffusionShape(tuple(numbers), tuple(quantiles), (*categories, *nullable), (*widths, *[2] * len(nullable)),
                          tuple(dims))


def to_normal(z: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Standardised values to normal scores through the empirical CDF. A value repeated across several quantiles
    (a discrete column) maps to the middle of its run: the mean of the upward and downward interpolations."""
    levels = np.linspace(0.0, 1.0, len(quantiles))
    up = np.interp(z, quantiles, levels)
    down = -np.interp(-z, -quantiles[::-1], -levels[::-1])
    return ndtri(np.clip((up + down) / 2, EDGE, 1 - EDGE))


def from_normal(x: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    return np.interp(ndtr(x), np.linspace(0.0, 1.0, len(quantiles)), quantiles)


def encode(transformer: TableTransformer, shape: DiffusionShape, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(normal scores: rows x numbers, 0 where null; categorical states: rows x variables)."""
    numbers, cats, nulls = [], [], []
    for name, quantiles in zip(shape.numbers, shape.quantiles):
        codec = transformer.codec(name)
        z, null = codec.standardise(df[name])
        numbers.append(np.where(null, 0.0, to_normal(z, np.asarray(quantiles))))
        if codec.has_nulls:
            nulls.append(null.astype(np.int64))
    for name in shape.categories[: len(shape.categories) - len(nulls)]:
        cats.append(transformer.codec(name).slots(df[name]))
    rows = len(df)
    return (np.stack(numbers, axis=1).astype(np.float32) if numbers else np.zeros((rows, 0), np.float32),
            np.stack([*cats, *nulls], axis=1) if cats or nulls else np.zeros((rows, 0), np.int64))


def decode(transformer: TableTransformer, shape: DiffusionShape, numbers: np.ndarray, cats: np.ndarray,
           rng: np.random.Generator) -> pd.DataFrame:
    variable = {name: j for j, name in enumerate(shape.categories)}
    columns = {}
    for codec in transformer.codecs:
        if isinstance(codec, CategoricalCodec):
            columns[codec.name] = codec.restore(cats[:, variable[codec.name]], rng)
        elif codec.name in variable:  # a few-valued number
            columns[codec.name] = codec.restore_slots(cats[:, variable[codec.name]])
        else:
            i = shape.numbers.index(codec.name)
            z = from_normal(numbers[:, i].astype(np.float64), np.asarray(shape.quantiles[i]))
            nulls = cats[:, variable[f"{codec.name}#null"]] == 1 if codec.has_nulls else None
            columns[codec.name] = codec.restore(z, nulls)
    return pd.DataFrame(columns)


def signal(t: torch.Tensor) -> torch.Tensor:
    """a(t): the share of variance that is still signal at time t (cosine schedule, a(0) = 1)."""
    angle = (t + SCHEDULE_OFFSET) / (1 + SCHEDULE_OFFSET) * math.pi / 2
    start = math.cos(SCHEDULE_OFFSET / (1 + SCHEDULE_OFFSET) * math.pi / 2) ** 2
    return (torch.cos(angle) ** 2 / start).clamp(MIN_SIGNAL, 1.0)


class Denoiser(nn.Module):
    def __init__(self, shape: DiffusionShape):
        super().__init__()
        self.register_buffer("offsets", torch.tensor(shape.cat_offsets, dtype=torch.long), persistent=False)
        half = TIME_DIM // 2
        self.register_buffer("frequencies", torch.exp(-math.log(10_000) * torch.arange(half) / half), persistent=False)
        self.embedding = nn.Embedding(sum(w + 1 for w in shape.widths) or 1, EMBEDDING_DIM)
        width = len(shape.numbers) + EMBEDDING_DIM * len(shape.widths)
        self.time = nn.Linear(TIME_DIM, shape.dims[0])
        self.first = nn.Linear(width, shape.dims[0])
        pairs = zip(shape.dims, shape.dims[1:])
        self.body = nn.Sequential(*[layer for a, b in pairs for layer in (nn.SiLU(), nn.Linear(a, b))], nn.SiLU())
        self.head = nn.Linear(shape.dims[-1], len(shape.numbers) + sum(shape.widths))

    def forward(self, numbers: torch.Tensor, cats: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """(predicted noise of the numbers | logits of every categorical variable), one row per row."""
        embedded = self.embedding(cats + self.offsets).flatten(1)
        angles = t[:, None] * 1000 * self.frequencies
        hidden = self.first(torch.cat([numbers, embedded], dim=1))
        hidden = hidden + self.time(torch.cat([angles.sin(), angles.cos()], dim=1))
        return self.head(self.body(hidden))


class Logits:
    """The categorical part of the output as (rows x variables x widest), padded with -inf: one softmax for all."""

    def __init__(self, shape: DiffusionShape, device: torch.device):
        widths = np.asarray(shape.widths, dtype=np.int64)  # integer even when empty (a table of numbers only)
        widest = max(shape.widths, default=1)
        starts = np.cumsum([0, *widths])[:-1] + len(shape.numbers)
        slots = np.arange(widest)
        self.valid = torch.from_numpy(slots[None, :] < widths[:, None]).to(device)
        last = widths[:, None] - 1
        self.index = torch.from_numpy((starts[:, None] + np.minimum(slots[None, :], last)).reshape(-1)).to(device)
        self.variables, self.widest = len(shape.widths), widest

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        picked = output.index_select(1, self.index).view(len(output), self.variables, self.widest)
        return picked.masked_fill(~self.valid, float("-inf"))

    def pairs(self, output: torch.Tensor, rows: torch.Tensor, variables: torch.Tensor) -> torch.Tensor:
        """The logits of the given (row, variable) pairs only, as (pairs x widest)."""
        columns = self.index.view(self.variables, self.widest)[variables]
        return output[rows[:, None], columns].masked_fill(~self.valid[variables], float("-inf"))


@dataclass
class DiffusionModel:
    """A trained diffusion model with what sampling needs."""

    transformer: TableTransformer
    shape: DiffusionShape
    denoiser: Denoiser
    sampling_steps: int
    history: list[dict] = field(default_factory=list)
    replicas: dict | None = None
    family: str = "diffusion"

    def sample_frame(self, rows: int, fixed: dict[str, np.ndarray], torch_rng: torch.Generator,
                     np_rng: np.random.Generator) -> pd.DataFrame:
        clamp = {self.shape.categories.index(name): torch.from_numpy(slots) for name, slots in fixed.items()}
        numbers, cats = generate(self.denoiser, self.shape, rows, clamp, self.sampling_steps, torch_rng)
        if not torch.isfinite(numbers).all():
            raise Diverged("the diffusion model generates NaN or infinite values: its weights are broken; retrain it")
        return decode(self.transformer, self.shape, numbers.cpu().numpy(), cats.cpu().numpy(), np_rng)

    def tensors(self) -> dict[str, torch.Tensor]:
        return {f"denoiser.{k}": v for k, v in self.denoiser.state_dict().items()}

    @classmethod
    def from_tensors(cls, transformer: TableTransformer, raw_shape: dict, tensors: dict[str, torch.Tensor],
                     sampling_steps: int) -> DiffusionModel:
        shape = DiffusionShape(tuple(raw_shape["numbers"]), tuple(tuple(q) for q in raw_shape["quantiles"]),
                               tuple(raw_shape["categories"]), tuple(raw_shape["widths"]), tuple(raw_shape["dims"]))
        denoiser = Denoiser(shape)
        denoiser.load_state_dict({k.removeprefix("denoiser."): v for k, v in tensors.items()})
        return cls(transformer, shape, denoiser.eval(), sampling_steps)

    def to(self, device: torch.device) -> DiffusionModel:
        self.denoiser.to(device)
        return self


def fit_diffusion(df: pd.DataFrame, transformer: TableTransformer, cfg: TrainConfig, seed: int,
                  device: torch.device, options: LoopOptions | None = None) -> DiffusionModel:
    torch.manual_seed(seed)  # the initial weights
    shape = fit_shape(transformer, df, tuple(cfg.diffusion_dims))
    numbers, cats = (torch.from_numpy(part).to(device) for part in encode(transformer, shape, df))
    denoiser, average = Denoiser(shape).to(device), Denoiser(shape).to(device)
    average.load_state_dict(denoiser.state_dict())
    trainee = diffusion_trainee(numbers, cats, shape, cfg, denoiser, average)
    rounds = math.ceil(cfg.diffusion_steps / STEPS_PER_ROUND)
    # Planned in steps already: train.min_steps is the GAN's and VAE's.
    result = train(trainee, cfg.model_copy(update={"epochs": rounds, "min_steps": 0}), seed, options)
    return DiffusionModel(transformer, shape, average.eval(), cfg.sampling_steps, result.history, result.replicas)


def diffusion_trainee(numbers: torch.Tensor, cats: torch.Tensor, shape: DiffusionShape, cfg: TrainConfig,
                      denoiser: Denoiser, average: Denoiser) -> Trainee:
    device, rows = numbers.device, numbers.shape[0]
    optimizer = Adam(denoiser.parameters(), cfg.diffusion_learning_rate)
    logits_of = Logits(shape, device)
    batch = min(cfg.diffusion_batch_size, rows)
    n_num, n_cat = numbers.shape[1], cats.shape[1]
    mask_token = torch.tensor(shape.widths, dtype=torch.long, device=device)
    # Numbers a null indicator marks as null carry no value: their noise is not scored.
    null_of = [shape.categories.index(f"{name}#null") if f"{name}#null" in shape.categories else -1
               for name in shape.numbers]
    live, weights = list(denoiser.parameters()), list(average.parameters())

    def step(n: int) -> dict[str, torch.Tensor]:
        picked = torch.randint(rows, (batch,), device=device)
        x0, c0 = numbers[picked], cats[picked]
        t = torch.rand(batch, device=device).clamp_min(1e-3)
        a = signal(t)[:, None]
        noise = torch.randn_like(x0)
        noisy = a.sqrt() * x0 + (1 - a).sqrt() * noise
        masked = torch.rand(batch, n_cat, device=device) < t[:, None]
        if n_cat:  # a share of rows keeps one random column clean, as a condition would
            clean = torch.randint(n_cat, (batch,), device=device)
            keep = torch.rand(batch, device=device) < CLEAN_SHARE
            masked[torch.arange(batch, device=device)[keep], clean[keep]] = False
        ct = torch.where(masked, mask_token, c0)
        with mixed_precision(device):
            output = denoiser(noisy, ct, t).float()
        present = torch.ones_like(x0)
        for i, j in enumerate(null_of):
            if j >= 0:
                present[:, i] = (c0[:, j] == 0).float()
        number_loss = (((output[:, :n_num] - noise) ** 2) * present).sum() / present.sum().clamp_min(1)
        log_p = torch.log_softmax(logits_of(output), dim=-1)
        nll = -log_p.gather(2, c0.unsqueeze(2)).squeeze(2)
        category_loss = (nll * masked).sum() / masked.sum().clamp_min(1)
        loss = number_loss + category_loss
        update(optimizer, loss)
        # The moving average warms up (Polyak at first): early steps do not dominate a short run.
        decay = min(EMA_DECAY, (1 + n) / (10 + n))
        with torch.no_grad():
            torch._foreach_lerp_(weights, live, 1 - decay)
        return {"loss": loss.detach(), "numbers": number_loss.detach(), "categories": category_loss.detach()}

    return Trainee("diffusion", {"denoiser": denoiser, "average": average}, {"diffusion": optimizer}, step,
                   steps_per_epoch=STEPS_PER_ROUND, batch=batch)


class SamplingNet:
    """The denoiser's forward pass for sampling: `Denoiser` under `mixed_precision`, up to bfloat16 rounding.

    Autocast re-casts every weight on every pass and casts the activations on the way into each product; here
    the weights are cast once and the activations are built in the compute format. The first layer is linear, so
    it is taken apart: each categorical state's embedding goes through its variable's columns of that layer once
    per model (a table of states x hidden), and a row's categories cost one sum of table rows instead of a product
    over 16 embedding dimensions each; the time embedding (the same for every row of a step) goes through its
    layer once per step, into the first layer's bias.
    """

    def __init__(self, denoiser: Denoiser, dtype: torch.dtype):
        self.dtype, self.offsets, self.frequencies = dtype, denoiser.offsets, denoiser.frequencies
        self.time, self.head = self._cast(denoiser.time), self._cast(denoiser.head)
        self.body = [self._cast(layer) for layer in denoiser.body if isinstance(layer, nn.Linear)]
        weight, bias = denoiser.first.weight.detach(), denoiser.first.bias.detach()
        n_num = weight.shape[1] - EMBEDDING_DIM * len(self.offsets)
        self.first = weight[:, :n_num].to(dtype), bias.to(dtype)
        self.states = states_through_first_layer(denoiser, weight[:, n_num:]).to(dtype) if len(self.offsets) else None

    def _cast(self, layer: nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:
        return layer.weight.to(self.dtype), layer.bias.to(self.dtype)

    def time_shift(self, t: float) -> torch.Tensor:
        """The time layer's output at t, one row, added to every row's first layer."""
        angles = torch.full((1,), t, device=self.frequencies.device)[:, None] * 1000 * self.frequencies
        return nn.functional.linear(torch.cat([angles.sin(), angles.cos()], dim=1).to(self.dtype), *self.time)

    def __call__(self, numbers: torch.Tensor, cats: torch.Tensor, time_shift: torch.Tensor) -> torch.Tensor:
        hidden = nn.functional.linear(numbers.to(self.dtype), self.first[0], self.first[1] + time_shift[0])
        if self.states is not None:
            hidden += nn.functional.embedding_bag(cats + self.offsets, self.states, mode="sum")
        for weight, bias in self.body:
            hidden = nn.functional.linear(nn.functional.silu(hidden, inplace=True), weight, bias)
        return nn.functional.linear(nn.functional.silu(hidden, inplace=True), *self.head).float()


def states_through_first_layer(denoiser: Denoiser, weight: torch.Tensor) -> torch.Tensor:
    """Every categorical state's embedding times its variable's columns of the first layer (`weight`, the
    categorical part): one row of hidden units per state, in the embedding table's order."""
    starts = denoiser.offsets.tolist()
    ends = [*starts[1:], denoiser.embedding.num_embeddings]
    embedding = denoiser.embedding.weight.detach()
    return torch.cat([embedding[start:end] @ weight[:, EMBEDDING_DIM * j : EMBEDDING_DIM * (j + 1)].T
                      for j, (start, end) in enumerate(zip(starts, ends))])


@torch.inference_mode()
def generate(denoiser: Denoiser, shape: DiffusionShape, rows: int, clamp: dict[int, torch.Tensor], steps: int,
             rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(normal scores, categorical states) of `rows` new rows; variables in `clamp` hold the given states."""
    device = next(denoiser.parameters()).device
    net = SamplingNet(denoiser.eval(), compute_dtype(device))
    logits_of = Logits(shape, device)
    n_num, n_cat = len(shape.numbers), len(shape.widths)
    x = torch.randn(rows, n_num, generator=rng).to(device)
    mask_token = torch.tensor(shape.widths, dtype=torch.long, device=device)
    cats = mask_token.repeat(rows, 1)  # every variable masked
    for j, states in clamp.items():
        cats[:, j] = states.to(device)  # a state, never the mask token: it is never revealed again
    # On a CPU the rows go through the network a block at a time: big enough that each operation's fixed cost
    # is spread over many rows, small enough that a block's activations (rows x 256) stay a few megabytes.
    block = SAMPLING_BLOCK if device.type == "cpu" else rows
    times = torch.linspace(1.0, 0.0, steps + 1)
    for t, s in zip(times[:-1].tolist(), times[1:].tolist()):
        a_t, a_s = signal(torch.tensor(t)).item(), signal(torch.tensor(s)).item() if s > 0 else 1.0
        draw = torch.rand(rows, n_cat, generator=rng).to(device)
        time_shift = net.time_shift(t)
        for part in (slice(start, start + block) for start in range(0, rows, block)):
            output = net(x[part], cats[part], time_shift)
            ddim_step_(x[part], output[:, :n_num], a_t, a_s)
            reveal_states(cats[part], output, draw[part], (t - s) / t, logits_of, mask_token)
    return x, cats


def ddim_step_(x: torch.Tensor, noise_estimate: torch.Tensor, a_t: float, a_s: float) -> None:
    """x at time t becomes x at time s, in place (DDIM, eta = 0); at s = 0 it becomes the estimate of x0."""
    x0 = torch.add(x, noise_estimate, alpha=-math.sqrt(1 - a_t)).div_(math.sqrt(a_t)).clamp_(-4.0, 4.0)
    # sqrt(a_s) x0 + sqrt(1 - a_s) noise, with the noise implied by x and x0 written out
    keep = math.sqrt((1 - a_s) / (1 - a_t))
    x.mul_(keep).add_(x0, alpha=math.sqrt(a_s) - keep * math.sqrt(a_t))


def reveal_states(cats: torch.Tensor, output: torch.Tensor, draw: torch.Tensor, share: float,
                  logits_of: Logits, mask_token: torch.Tensor) -> None:
    """Reveal each masked category with probability `share`, as a state drawn from the prediction, in place.

    One uniform per (row, variable) decides both: it reveals when below `share`, and then, divided by `share`, it
    is uniform again and picks the state by inverse CDF. Only the revealed pairs are drawn: a step reveals about
    1/steps of them, and the softmax over every pair cost several times the network's own pass on a table with
    wide categories.
    """
    row, variable = ((draw < share) & (cats == mask_token)).nonzero(as_tuple=True)
    probs = torch.softmax(logits_of.pairs(output, row, variable), dim=-1)
    states = (draw[row, variable, None] / share > probs.cumsum(dim=-1)).sum(dim=-1)
    cats[row, variable] = torch.minimum(states, mask_token[variable] - 1)

"""A conditional tabular WGAN-GP (CTGAN-style): generator and PacGAN critic over the encoded matrix.

The whole encoded training set is one tensor on the device; batches, conditional vectors and the
matching real rows are index draws into it (synthpipe.tabular.conditions), so the loop has no per-row
Python. Categorical and mode blocks leave the generator through Gumbel-softmax, numbers through
tanh (all blocks at once, in a column order of the training's own: synthpipe.tabular.blocks.TrainingLayout); the
critic judges `pac` rows at a time, which makes a generator that repeats itself easy to spot. Where the
hardware multiplies bfloat16 natively (CUDA, CPUs with AVX512-BF16 or AMX) rows and activations are held in
bfloat16 and the products run in bfloat16 autocast.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from synthpipe.config import TrainConfig
from synthpipe.device import compute_dtype, mixed_precision
from synthpipe.errors import InputError
from synthpipe.tabular.blocks import Blocks, SpanIndex, TrainingLayout, block_cross_entropy, hard_rows
from synthpipe.tabular.conditions import CondLayout, CondSampler
from synthpipe.tabular.noise import normal_noise
from synthpipe.tabular.transform import Span
from synthpipe.training import Adam, LoopOptions, Trainee, WorkingCopies, train, update

GUMBEL_TAU = 0.2  # low temperature: near-one-hot categoricals, still differentiable


@dataclass(frozen=True)
class GanShape:
    """Everything needed to rebuild the networks: saved beside the weights as JSON."""

    spans: tuple[Span, ...]
    cond_width: int
    noise_dim: int
    generator_dims: tuple[int, ...]
    critic_dims: tuple[int, ...]
    pac: int

    @property
    def data_dim(self) -> int:
        return sum(span.width for span in self.spans)


class Linear(nn.Linear):
    """nn.Linear whose weight is read in column pieces: the first `hidden` columns multiply hidden features, the
    rest the network's input (the generator's layers see [newest hidden features, ..., oldest, input]).

    The input (noise and conditional vector) needs no gradient; multiplied by its own columns, it costs backward
    nothing. While training in bfloat16 the pieces are working copies (synthpipe.training.WorkingCopies), cast once
    per optimiser step instead of by autocast at every use; otherwise they are views of the float32 weight.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 0):
        super().__init__(in_dim, out_dim)
        self.hidden = hidden
        self.working: tuple[torch.Tensor | None, torch.Tensor, torch.Tensor] | None = None

    def column_pieces(self) -> list[slice]:
        return [slice(0, self.hidden), slice(self.hidden, None)] if self.hidden else [slice(None)]

    def pieces(self) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """(weight on the hidden features or None, weight on the input, bias)."""
        if self.working is not None:
            return self.working
        return self.arrange([self.weight[:, cols] for cols in self.column_pieces()], self.bias)

    def arrange(self, weights: list[torch.Tensor],
                bias: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """The pieces in `pieces()` form, from the weight's pieces in `column_pieces()` order."""
        return (weights[0] if self.hidden else None), weights[-1], bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The product with the input alone (a layer without hidden columns)."""
        _, on_input, bias = self.pieces()
        return F.linear(x, on_input, bias)


def linear_layers(module: nn.Module) -> list[Linear]:
    return [layer for layer in module.modules() if isinstance(layer, Linear)]


def working_copies(module: nn.Module, dtype: torch.dtype) -> WorkingCopies:
    """Give `module`'s Linear layers working copies in `dtype`, a copy per piece of each weight."""
    layers = linear_layers(module)
    copies = WorkingCopies([(layer.weight, cols) for layer in layers for cols in layer.column_pieces()]
                           + [(layer.bias, slice(None)) for layer in layers], dtype)
    for layer in layers:
        layer.working = layer.arrange(copies.copies_of[layer.weight], copies.copies_of[layer.bias][0])
    return copies


def drop_working_copies(module: nn.Module) -> None:
    """Back to the float32 parameters once training ends (sampling and saving read those)."""
    for layer in linear_layers(module):
        layer.working = None


class Residual(nn.Module):
    """Linear -> BatchNorm -> ReLU, whose output joins its input (as in CTGAN's generator; see Generator.forward)."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int):
        super().__init__()
        self.fc, self.bn = Linear(in_dim, out_dim, hidden), nn.BatchNorm1d(out_dim)


class Generator(nn.Module):
    def __init__(self, shape: GanShape):
        super().__init__()
        layers, hidden, inputs = [], 0, shape.noise_dim + shape.cond_width
        for dim in shape.generator_dims:
            layers.append(Residual(hidden + inputs, dim, hidden))
            hidden += dim
        self.body = nn.Sequential(*layers, Linear(hidden + inputs, shape.data_dim, hidden))

    def forward(self, noise: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Raw outputs (logits and pre-tanh values) of CTGAN's residual generator: each layer sees the features of
        every layer before it, newest first, then the input (noise and conditional vector)."""
        x = torch.cat([noise, cond], dim=1)
        hidden = None
        for layer in self.body:
            linear = layer.fc if isinstance(layer, Residual) else layer
            on_hidden, on_input, bias = linear.pieces()
            out = F.linear(x, on_input, bias)
            if hidden is not None:
                out = torch.addmm(out, hidden, on_hidden.t())
            if isinstance(layer, Residual):
                features = F.relu(layer.bn(out))
                hidden = features if hidden is None else torch.cat([features, hidden], dim=1)
        return out


class HalfDropout(nn.Module):
    """Dropout with p = 0.5 from random bytes: each byte of a 64-bit draw picks one of the 256 patterns of 8 units.

    Same as nn.Dropout(0.5) in distribution; nn.Dropout draws one Bernoulli variable per unit, which on a CPU
    costs as much as the critic layer it follows, and unpacking bits with shifts costs twice this lookup.
    """

    def __init__(self):
        super().__init__()
        patterns = [[2.0 * ((byte >> bit) & 1) for bit in range(8)] for byte in range(256)]
        self.register_buffer("patterns", torch.tensor(patterns), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.units(x.numel(), x.dtype).view(x.shape) if self.training else x

    def units(self, count: int, dtype: torch.dtype) -> torch.Tensor:
        """`count` mask values: 0 for a dropped unit, 2 for a kept one (the expected activation is unchanged)."""
        words = torch.randint(-(2**63), 2**63 - 1, (-(-count // 64),), dtype=torch.int64, device=self.patterns.device)
        if self.patterns.dtype != dtype:  # converted once, not at every call
            self.patterns = self.patterns.to(dtype)
        return self.patterns.index_select(0, words.view(torch.uint8).int()).view(-1)[:count]


class Score(nn.Linear):
    """The critic's last layer (one output) in float32: a bfloat16 product with a single output column costs
    several times the float32 one on a CPU, forward and backward (a critic update is ~8% faster)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return F.linear(x.float(), self.weight, self.bias)


class Critic(nn.Module):
    def __init__(self, shape: GanShape):
        super().__init__()
        self.pac = shape.pac
        layers, width = [], (shape.data_dim + shape.cond_width) * shape.pac
        for dim in shape.critic_dims:
            layers += [Linear(width, dim), nn.LeakyReLU(0.2), HalfDropout()]
            width = dim
        self.body = nn.Sequential(*layers, Score(width, 1))

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        x = rows.reshape(-1, rows.shape[1] * self.pac)
        for (linear, activation, _), mask in zip(self.hidden_layers(), self.dropout_masks(x.shape[0], x.dtype)):
            x = activation(linear(x))
            if mask is not None:
                x = x * mask
        return self.body[-1](x)

    def hidden_layers(self) -> list[nn.Sequential]:
        return [self.body[i : i + 3] for i in range(0, len(self.body) - 1, 3)]  # (Linear, LeakyReLU, HalfDropout)

    def dropout_masks(self, rows: int, dtype: torch.dtype) -> list[torch.Tensor | None]:
        """Every hidden layer's dropout mask (rows x units) while training, drawn at once: one random draw and one
        lookup for the whole network rather than per layer."""
        layers = self.hidden_layers()
        if not self.training:
            return [None] * len(layers)
        widths = [rows * layer[0].out_features for layer in layers]
        units = layers[0][2].units(sum(widths), dtype)
        return [mask.view(rows, -1) for mask in units.split(widths)]

    def input_gradient(self, rows: torch.Tensor) -> torch.Tensor:
        """d critic(rows).sum() / d rows, written out as products of the weights, for the gradient penalty.

        Through a layer the input gradient is W^T (slope * mask * output gradient), where the LeakyReLU slopes
        (1 or 0.2) and the dropout masks are all it takes from the forward pass, and neither has a gradient.
        The penalty's backward is then one first-order pass; autograd's double backward would also
        differentiate the forward pass (to zeros) and record the backward pass as a graph, op by op.
        """
        hidden = self.hidden_layers()
        factors, x = [], rows.reshape(-1, rows.shape[1] * self.pac)
        for (linear, activation, _), mask in zip(hidden, self.dropout_masks(x.shape[0], x.dtype)):
            # Detached rather than run under no_grad: autocast keeps the weights' low-precision copies for the
            # rest of its block, and a copy made under no_grad would carry no gradient to the products below.
            pre = linear(x).detach()
            keep = mask if mask is not None else torch.ones_like(pre)
            factors.append(torch.where(pre > 0, keep, keep * activation.negative_slope))
            x = pre * factors[-1]  # the layer's output: LeakyReLU, then dropout
        grad = self.body[-1].weight.expand(x.shape[0], -1)
        for (linear, _, _), factor in zip(reversed(hidden), reversed(factors)):
            grad = (grad * factor) @ linear.pieces()[1]
        return grad.reshape(rows.shape)


def condition_loss(raw: torch.Tensor, blocks: Blocks, column: torch.Tensor, slot: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each row's conditioned block against its conditioned slot (other blocks ignored)."""
    if not len(blocks.gather):  # no categorical column: nothing to condition on
        return torch.zeros((), device=raw.device)
    return block_cross_entropy(raw, blocks, column, slot).mean()


def gradient_penalty(critic: Critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP: push the critic's gradient norm towards 1 on real/fake interpolates (per pac group)."""
    groups = real.shape[0] // critic.pac
    alpha = torch.rand(groups, 1, 1, device=real.device, dtype=real.dtype).expand(groups, critic.pac, real.shape[1])
    alpha = alpha.reshape(real.shape)  # one weight per pac group, for each of its rows and columns
    mixed = alpha * real + (1 - alpha) * fake
    grad = critic.input_gradient(mixed).float().reshape(-1, critic.pac * real.shape[1])
    return ((grad.norm(2, dim=1) - 1) ** 2).mean()


def batch_size_for(rows: int, cfg: TrainConfig) -> int:
    """The configured batch, capped by the data and rounded down to a multiple of pac."""
    batch = min(cfg.batch_size, rows) // cfg.pac * cfg.pac
    if batch == 0:
        raise InputError(f"train: {rows} training rows are fewer than train.pac={cfg.pac}; lower pac")
    return batch


@dataclass
class TrainedGan:
    shape: GanShape
    generator: Generator
    critic: Critic
    history: list[dict]
    replicas: dict | None = None


def train_gan(data: torch.Tensor, spans: tuple[Span, ...], layout: CondLayout, cfg: TrainConfig, seed: int,
              options: LoopOptions | None = None) -> TrainedGan:
    """Train on `data` (already on its device) with the shared loop (synthpipe.training).

    The networks train in the TrainingLayout column order (tanh values first, equal-width blocks together) and
    are handed back in the encoded order. Same data, config and seed -> same weights on CPU.
    """
    torch.manual_seed(seed)  # the networks' initial weights
    shape = GanShape(tuple(spans), layout.width, cfg.noise_dim, tuple(cfg.generator_dims), tuple(cfg.critic_dims),
                     cfg.pac)
    generator, critic = Generator(shape).to(data.device), Critic(shape).to(data.device)
    result = train(gan_trainee(data, shape, layout, cfg, generator, critic), cfg, seed, options)
    return TrainedGan(shape, generator, critic, result.history, result.replicas)


def finish_gan(generator: Generator, critic: Critic, order: TrainingLayout) -> None:
    drop_working_copies(generator)
    drop_working_copies(critic)
    to_encoded_order(generator, critic, order)


@torch.no_grad()
def to_encoded_order(generator: Generator, critic: Critic, order: TrainingLayout) -> None:
    """Reorder the generator's output units and the critic's data inputs (in each pac group) from the training
    order to the encoded one: the networks compute the same functions, on rows in the order saved models use."""
    output = generator.body[-1]
    output.weight.copy_(output.weight[order.position])
    output.bias.copy_(output.bias[order.position])
    first = critic.body[0].weight.view(critic.body[0].weight.shape[0], critic.pac, -1)  # units x pac x (data + cond)
    data_width = len(order.position)
    first[:, :, :data_width] = first[:, :, order.position]


def gan_trainee(data: torch.Tensor, shape: GanShape, layout: CondLayout, cfg: TrainConfig,
                generator: Generator, critic: Critic) -> Trainee:
    device, rows = data.device, data.shape[0]
    order = TrainingLayout(shape.spans, device)
    # Betas (0.5, 0.9) are the usual WGAN-GP choice: less momentum keeps the two players from oscillating.
    dtype = compute_dtype(device)
    copies = dtype != torch.float32  # float32 weights need no cast
    opt_g = Adam(generator.parameters(), cfg.learning_rate, betas=(0.5, 0.9), weight_decay=1e-6,
                 copies=working_copies(generator, dtype) if copies else None)
    opt_c = Adam(critic.parameters(), cfg.learning_rate, betas=(0.5, 0.9), weight_decay=1e-6,
                 copies=working_copies(critic, dtype) if copies else None)
    sampler = CondSampler(layout, data)
    data = data[:, order.order].to(dtype)  # real rows in the order and number format the networks train in
    cond_blocks = order.blocks(list(layout.starts), list(layout.widths))
    batch = batch_size_for(rows, cfg)

    def draw() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        if layout.columns:
            return sampler.training_batch(batch, dtype)
        empty = torch.zeros(batch, dtype=torch.long, device=device)
        return (torch.zeros(batch, 0, device=device, dtype=dtype), empty, empty,
                torch.randint(rows, (batch,), device=device))

    def fake_rows(cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raw = generator(normal_noise(batch, cfg.noise_dim, device, dtype), cond)
        return raw, order.soft_rows(raw, GUMBEL_TAU, cond)

    def critic_step(cond: torch.Tensor, real_rows: torch.Tensor, fake: torch.Tensor,
                    penalise: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Tell real from fake (each with its conditional vector); the penalty keeps the critic 1-Lipschitz."""
        with mixed_precision(device):
            real = torch.cat([data.index_select(0, real_rows), cond], dim=1)
            # One critic pass over fake and real rows together: half the calls, twice the rows per product.
            fake_score, real_score = critic(torch.cat([fake, real])).float().chunk(2)
            wasserstein = fake_score.mean() - real_score.mean()
            loss_c = wasserstein
            if penalise:  # lazily, every k-th step at k times the weight: the same pull on average
                weight = cfg.gradient_penalty * cfg.gradient_penalty_every
                loss_c = loss_c + weight * gradient_penalty(critic, real, fake).float()
        update(opt_c, loss_c)
        return loss_c, wasserstein

    def step(number: int) -> dict[str, torch.Tensor]:
        # The penalty costs about as much as the rest of the critic's update, and the critic's slope drifts
        # slowly, so it is applied every gradient_penalty_every steps (as StyleGAN2 does).
        penalise = number % cfg.gradient_penalty_every == 0
        for _ in range(cfg.critic_steps - 1):  # extra critic updates, each on fresh fake rows
            cond, _, _, real_rows = draw()
            with torch.no_grad(), mixed_precision(device):
                fake = fake_rows(cond)[1]
            critic_step(cond, real_rows, fake, penalise)
        # The last critic update and the generator's share one batch of fake rows: the generator's forward
        # pass (most of a step's arithmetic) runs once, and its update meets the critic just updated.
        cond, column, slot, real_rows = draw()
        with mixed_precision(device):
            raw, fake = fake_rows(cond)
        loss_c, wasserstein = critic_step(cond, real_rows, fake.detach(), penalise)
        with mixed_precision(device):
            loss_g = -critic(fake).float().mean() + condition_loss(raw, cond_blocks, column, slot)
        update(opt_g, loss_g)
        return {"loss": loss_g.detach(), "critic_loss": loss_c.detach(), "wasserstein": -wasserstein.detach()}

    return Trainee("gan", {"generator": generator, "critic": critic}, {"generator": opt_g, "critic": opt_c},
                   step, steps_per_epoch=max(1, rows // batch), batch=batch,
                   finish=lambda: finish_gan(generator, critic, order))


@torch.no_grad()
def generate_gan(generator: Generator, shape: GanShape, cond: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """Encoded rows for the given conditional vectors; noise comes from the seeded CPU generator."""
    generator.eval()
    device = next(generator.parameters()).device
    noise = torch.randn(cond.shape[0], shape.noise_dim, generator=rng).to(device)
    with mixed_precision(device):
        raw = generator(noise, cond.to(device))
    return hard_rows(raw, SpanIndex(shape.spans, device), rng)

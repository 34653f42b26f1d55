"""A tabular WGAN-GP: generator and critic MLPs over the transformer's encoded matrix.

The whole encoded training set is one tensor on the device; batches are index draws into
it, so the loop has no per-row Python. Categorical blocks come out of the generator through
Gumbel-softmax, numbers as they are; the critic sees `pac` rows at a time (PacGAN), which
makes a generator that repeats one row easy to spot.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from synthpipe.config import TrainConfig
from synthpipe.errors import InputError
from synthpipe.io import atomic_path, file_hash, read_json, write_json
from synthpipe.transform import Span

GUMBEL_TAU = 0.2  # low temperature: near-one-hot categoricals, still differentiable
WEIGHTS_FILE = "weights.safetensors"
CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class GanShape:
    """Everything needed to rebuild the networks: saved beside the weights as JSON."""

    spans: tuple[Span, ...]
    noise_dim: int
    generator_dims: tuple[int, ...]
    critic_dims: tuple[int, ...]
    pac: int

    @property
    def data_dim(self) -> int:
        return sum(span.width for span in self.spans)


class Residual(nn.Module):
    """Linear -> BatchNorm -> ReLU, concatenated with its input (as in CTGAN's generator)."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.fc, self.bn = nn.Linear(in_dim, out_dim), nn.BatchNorm1d(out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([F.relu(self.bn(self.fc(x))), x], dim=1)


class Generator(nn.Module):
    def __init__(self, shape: GanShape):
        super().__init__()
        layers, width = [], shape.noise_dim
        for dim in shape.generator_dims:
            layers.append(Residual(width, dim))
            width += dim
        self.body = nn.Sequential(*layers, nn.Linear(width, shape.data_dim))

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        return self.body(noise)  # raw outputs: logits for softmax spans, values for linear ones


class Critic(nn.Module):
    def __init__(self, shape: GanShape):
        super().__init__()
        self.pac = shape.pac
        layers, width = [], shape.data_dim * shape.pac
        for dim in shape.critic_dims:
            layers += [nn.Linear(width, dim), nn.LeakyReLU(0.2), nn.Dropout(0.5)]
            width = dim
        self.body = nn.Sequential(*layers, nn.Linear(width, 1))

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        return self.body(rows.reshape(-1, rows.shape[1] * self.pac))


def activate(raw: torch.Tensor, spans: tuple[Span, ...], gumbel: torch.Generator | None = None) -> torch.Tensor:
    """Turn raw generator outputs into rows like the encoded data.

    Training (gumbel=None): soft Gumbel-softmax so gradients flow. Sampling: a hard one-hot
    drawn from each softmax, with noise from the given seeded generator.
    """
    parts, start = [], 0
    for span in spans:
        block = raw[:, start : start + span.width]
        if span.activation == "linear":
            parts.append(block)
        elif gumbel is None:
            parts.append(F.gumbel_softmax(block, tau=GUMBEL_TAU, hard=False))
        else:
            uniform = torch.rand(block.shape, generator=gumbel).to(block.device)
            choice = (block - torch.log(-torch.log(uniform.clamp_min(1e-12)))).argmax(dim=1)
            parts.append(F.one_hot(choice, span.width).to(block.dtype))
        start += span.width
    return torch.cat(parts, dim=1)


def gradient_penalty(critic: Critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP: push the critic's gradient norm towards 1 on real/fake interpolates (per pac group)."""
    groups = real.shape[0] // critic.pac
    alpha = torch.rand(groups, 1, 1, device=real.device).expand(groups, critic.pac, real.shape[1])
    alpha = alpha.reshape(real.shape)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    grad = grad.reshape(-1, critic.pac * real.shape[1])
    return ((grad.norm(2, dim=1) - 1) ** 2).mean()


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("train.device: 'cuda' was asked for but no CUDA device is available")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


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


def train_gan(
    data: torch.Tensor,
    spans: tuple[Span, ...],
    cfg: TrainConfig,
    seed: int,
    on_epoch: Callable[[dict], None] | None = None,
) -> TrainedGan:
    """Train a WGAN-GP on `data` (already on its device). Same data, config and seed -> same weights on CPU."""
    torch.manual_seed(seed)
    device, rows = data.device, data.shape[0]
    shape = GanShape(tuple(spans), cfg.noise_dim, tuple(cfg.generator_dims), tuple(cfg.critic_dims), cfg.pac)
    generator, critic = Generator(shape).to(device), Critic(shape).to(device)
    # Betas (0.5, 0.9) are the usual WGAN-GP choice: less momentum keeps the two players from oscillating.
    opt_g = torch.optim.Adam(generator.parameters(), lr=cfg.learning_rate, betas=(0.5, 0.9), weight_decay=1e-6)
    opt_c = torch.optim.Adam(critic.parameters(), lr=cfg.learning_rate, betas=(0.5, 0.9), weight_decay=1e-6)
    batch = batch_size_for(rows, cfg)
    steps = max(1, rows // batch)
    history: list[dict] = []

    def fake_batch() -> torch.Tensor:
        return activate(generator(torch.randn(batch, cfg.noise_dim, device=device)), shape.spans)

    for epoch in range(1, cfg.epochs + 1):
        started = time.perf_counter()
        for _ in range(steps):
            # Critic: tell real from fake, with the gradient penalty keeping it 1-Lipschitz.
            for _ in range(cfg.critic_steps):
                real = data[torch.randint(rows, (batch,), device=device)]
                fake = fake_batch().detach()
                wasserstein = critic(fake).mean() - critic(real).mean()
                loss_c = wasserstein + cfg.gradient_penalty * gradient_penalty(critic, real, fake)
                opt_c.zero_grad(set_to_none=True)
                loss_c.backward()
                opt_c.step()
            # Generator: make the critic score fakes as real.
            loss_g = -critic(fake_batch()).mean()
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
        seconds = time.perf_counter() - started
        record = {"epoch": epoch, "generator_loss": loss_g.item(), "critic_loss": loss_c.item(),
                  "wasserstein": -wasserstein.item(), "seconds": seconds, "rows_per_s": steps * batch / seconds}
        history.append(record)
        if on_epoch:
            on_epoch(record)
    return TrainedGan(shape, generator, critic, history)


@torch.no_grad()
def sample_encoded(generator: Generator, shape: GanShape, rows: int, seed: int, chunk_rows: int) -> Iterator[np.ndarray]:
    """Yield encoded rows in chunks. Noise is drawn on the CPU from `seed`, so output does not depend on the device."""
    generator.eval()
    device = next(generator.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    for start in range(0, rows, chunk_rows):
        count = min(chunk_rows, rows - start)
        noise = torch.randn(count, shape.noise_dim, generator=rng).to(device)
        yield activate(generator(noise), shape.spans, gumbel=rng).float().cpu().numpy()


def save_gan(model: TrainedGan, directory: str | Path, extra: dict) -> None:
    """Weights as safetensors (generator.* and critic.*), architecture and `extra` as JSON. No pickle."""
    directory = Path(directory)
    tensors = {f"generator.{k}": v for k, v in model.generator.state_dict().items()}
    tensors |= {f"critic.{k}": v for k, v in model.critic.state_dict().items()}
    with atomic_path(directory / WEIGHTS_FILE) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp))
    # The run id names the exact weights: merged rows carry it as provenance.
    run_id = file_hash(directory / WEIGHTS_FILE)[:16]
    write_json({"format": "synthpipe.gan/1", "run_id": run_id, "shape": asdict(model.shape), **extra},
               directory / CONFIG_FILE)


def load_generator(directory: str | Path, device: torch.device) -> tuple[Generator, GanShape, dict]:
    """Rebuild the generator from a model directory, on any device, whatever device trained it."""
    directory = Path(directory)
    config = read_json(directory / CONFIG_FILE)
    raw = config["shape"]
    shape = GanShape(tuple(Span(**s) for s in raw["spans"]), raw["noise_dim"], tuple(raw["generator_dims"]),
                     tuple(raw["critic_dims"]), raw["pac"])
    tensors = load_file(str(directory / WEIGHTS_FILE), device="cpu")
    generator = Generator(shape)
    generator.load_state_dict({k.removeprefix("generator."): v for k, v in tensors.items() if k.startswith("generator.")})
    return generator.to(device), shape, config

"""A conditional tabular VAE (TVAE-style) over the same encoded matrix as the GAN.

Encoder and decoder are small MLPs; the decoder also sees the conditional vector (one column's
level of the row being reconstructed), which makes exact conditional sampling possible. The
reconstruction loss is a Gaussian with a learned scale for each tanh value and cross-entropy for
each softmax block, as in TVAE. Batches are index draws into the on-device training tensor.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from synthpipe.config import TrainConfig
from synthpipe.device import mixed_precision
from synthpipe.tabular.blocks import SpanIndex, hard_rows
from synthpipe.tabular.conditions import CondLayout, CondSampler
from synthpipe.tabular.transform import Span
from synthpipe.training import Adam, LoopOptions, Trainee, train, update

VAE_LEARNING_RATE = 1e-3


@dataclass(frozen=True)
class VaeShape:
    spans: tuple[Span, ...]
    cond_width: int
    latent_dim: int
    dims: tuple[int, ...]

    @property
    def data_dim(self) -> int:
        return sum(span.width for span in self.spans)


def _mlp(width: int, dims: tuple[int, ...]) -> tuple[nn.Sequential, int]:
    layers = []
    for dim in dims:
        layers += [nn.Linear(width, dim), nn.ReLU()]
        width = dim
    return nn.Sequential(*layers), width


class Encoder(nn.Module):
    def __init__(self, shape: VaeShape):
        super().__init__()
        self.body, width = _mlp(shape.data_dim + shape.cond_width, shape.dims)
        self.mu, self.log_var = nn.Linear(width, shape.latent_dim), nn.Linear(width, shape.latent_dim)

    def forward(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.body(rows)
        return self.mu(hidden), self.log_var(hidden)


class Decoder(nn.Module):
    def __init__(self, shape: VaeShape):
        super().__init__()
        body, width = _mlp(shape.latent_dim + shape.cond_width, tuple(reversed(shape.dims)))
        self.body = nn.Sequential(*body, nn.Linear(width, shape.data_dim))
        self.sigma = nn.Parameter(torch.full((shape.data_dim,), 0.1))  # per-output scale of the tanh values

    def forward(self, latent: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([latent, cond], dim=1))


def reconstruction_loss(raw: torch.Tensor, real: torch.Tensor, index: SpanIndex, sigma: torch.Tensor) -> torch.Tensor:
    """Gaussian negative log-likelihood of the tanh values plus cross-entropy of every softmax block,
    summed over a row's blocks and averaged over rows."""
    s = sigma[index.tanh]
    values = (((real[:, index.tanh] - torch.tanh(raw[:, index.tanh])) ** 2 / (2 * s**2)).sum()
              + torch.log(s).sum() * raw.shape[0])
    blocks = index.softmax
    log_p = torch.log_softmax(blocks.logits(raw), dim=-1)
    target = real[:, blocks.gather].masked_fill(~blocks.valid, -1.0).argmax(dim=-1, keepdim=True)
    return (values - log_p.gather(2, target).sum()) / raw.shape[0]


@dataclass
class TrainedVae:
    shape: VaeShape
    encoder: Encoder
    decoder: Decoder
    history: list[dict]
    replicas: dict | None = None


def train_vae(data: torch.Tensor, spans: tuple[Span, ...], layout: CondLayout, cfg: TrainConfig, seed: int,
              options: LoopOptions | None = None) -> TrainedVae:
    torch.manual_seed(seed)  # the networks' initial weights
    shape = VaeShape(tuple(spans), layout.width, cfg.latent_dim, tuple(cfg.vae_dims))
    encoder, decoder = Encoder(shape).to(data.device), Decoder(shape).to(data.device)
    result = train(vae_trainee(data, shape, layout, cfg, encoder, decoder), cfg, seed, options)
    return TrainedVae(shape, encoder, decoder, result.history, result.replicas)


def vae_trainee(data: torch.Tensor, shape: VaeShape, layout: CondLayout, cfg: TrainConfig,
                encoder: Encoder, decoder: Decoder) -> Trainee:
    device, rows = data.device, data.shape[0]
    optimizer = Adam([*encoder.parameters(), *decoder.parameters()], VAE_LEARNING_RATE, weight_decay=1e-5)
    sampler = CondSampler(layout, data) if layout.columns else None
    spans_index = SpanIndex(shape.spans, device)
    batch = min(cfg.batch_size, rows)

    def step(_: int) -> dict[str, torch.Tensor]:
        picked = torch.randint(rows, (batch,), device=device)
        cond = sampler.own_rows(picked)[0] if sampler else torch.zeros(batch, 0, device=device)
        real = data[picked]
        with mixed_precision(device):
            mu, log_var = encoder(torch.cat([real, cond], dim=1))
            latent = mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)
            raw = decoder(latent, cond).float()
        recon = reconstruction_loss(raw, real, spans_index, decoder.sigma)
        kl = -0.5 * torch.sum(1 + log_var.float() - mu.float() ** 2 - log_var.float().exp()) / batch
        loss = cfg.vae_loss_factor * recon + kl
        update(optimizer, loss)
        decoder.sigma.data.clamp_(0.01, 1.0)
        return {"loss": loss.detach(), "reconstruction": recon.detach(), "kl": kl.detach()}

    return Trainee("vae", {"encoder": encoder, "decoder": decoder}, {"vae": optimizer}, step,
                   steps_per_epoch=max(1, rows // batch), batch=batch)


@torch.no_grad()
def generate_vae(decoder: Decoder, shape: VaeShape, cond: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    decoder.eval()
    device = next(decoder.parameters()).device
    latent = torch.randn(cond.shape[0], shape.latent_dim, generator=rng).to(device)
    with mixed_precision(device):
        raw = decoder(latent, cond.to(device))
    return hard_rows(raw, SpanIndex(shape.spans, device), rng)

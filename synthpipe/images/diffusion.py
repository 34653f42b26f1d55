"""A class-conditional diffusion model for small labelled image sets: flow matching with a small U-Net.

Why a second family: at 32 px the class-conditional GAN drew one image per class (mode collapse; BENCHMARKS.md,
"The MNIST example at 32 px"), whatever its width, learning rate or penalty. A diffusion model has no such failure:
it learns to undo noise on every training image, so its samples spread as the data does.

Training (flow matching: Lipman et al. 2023, Liu et al. 2023): an image x and noise e are mixed as
x_t = (1 - t) x + t e, and the network predicts the velocity e - x from x_t, t and the label. Times are drawn
logit-normal (Esser et al. 2024): the middle of the path, where the image's shape is decided, gets most steps.
One label in ten is replaced by a "no label" token, so one network also knows the unconditional velocity.

Sampling: Euler steps along the predicted velocity from noise (t = 1) to an image (t = 0), with classifier-free
guidance (Ho & Salimans 2022): velocity = unconditional + guidance x (conditional - unconditional), which makes a
sample look more like its class at some cost in variety. The noise comes from a seeded CPU generator and every
step is deterministic, so the images do not depend on the device or the chunking.

Network: a U-Net of residual blocks (group norm, SiLU, 3x3 convolutions) down to 8x8 and back with skip
connections; time and label enter every block as a per-channel shift. No attention: at these sizes it costs more
than it gives on a CPU.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from synthpipe.config import ImageGenerateConfig, ImageTrainConfig
from synthpipe.device import mixed_precision
from synthpipe.images.model import image_batches, update_average
from synthpipe.training import PROGRESS_SECONDS, Adam, LoopOptions, Trainee, train, update

log = logging.getLogger(__name__)
FORMAT = "synthpipe.image_diffusion/1"
LABEL_DROP = 0.1  # share of training images shown without their label (for guidance)


@dataclass(frozen=True)
class ImageDiffusionShape:
    """Everything needed to rebuild the network: saved beside the weights as JSON."""

    size: int
    channels: int
    classes: int
    width: int

    def widths(self) -> list[int]:
        """Channels per resolution: `width` at full size, twice that at each halving down to 8x8 (4x4 for 8 px)."""
        halvings = max(1, int(math.log2(self.size // 8)))
        return [self.width] + [2 * self.width] * halvings


def group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, max(1, channels // 4)), channels)


class ResidualBlock(nn.Module):
    def __init__(self, inputs: int, outputs: int, embedding: int):
        super().__init__()
        self.norm1, self.conv1 = group_norm(inputs), nn.Conv2d(inputs, outputs, 3, 1, 1)
        self.shift = nn.Linear(embedding, outputs)
        self.norm2, self.conv2 = group_norm(outputs), nn.Conv2d(outputs, outputs, 3, 1, 1)
        self.skip = nn.Conv2d(inputs, outputs, 1) if inputs != outputs else nn.Identity()
        # Each block starts as the identity: a deep stack trains from the first step.
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor, embedded: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x))) + self.shift(embedded)[:, :, None, None]
        return self.skip(x) + self.conv2(F.silu(self.norm2(h)))


class UNet(nn.Module):
    def __init__(self, shape: ImageDiffusionShape):
        super().__init__()
        widths, embedding = shape.widths(), 4 * shape.width
        half = shape.width // 2
        self.register_buffer("frequencies", torch.exp(-math.log(10_000) * torch.arange(half) / half), persistent=False)
        self.time = nn.Sequential(nn.Linear(2 * half, embedding), nn.SiLU(), nn.Linear(embedding, embedding))
        self.label = nn.Embedding(shape.classes + 1, embedding)  # the last index: no label
        self.first = nn.Conv2d(shape.channels, widths[0], 3, 1, 1)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList([nn.Conv2d(w, w, 3, 2, 1) for w in widths[:-1]])
        previous = widths[0]
        for w in widths:
            self.down.append(ResidualBlock(previous, w, embedding))
            previous = w
        self.middle = ResidualBlock(previous, previous, embedding)
        self.up = nn.ModuleList([ResidualBlock(2 * w, w, embedding) for w in reversed(widths)])
        self.upsample = nn.ModuleList([nn.Conv2d(a, b, 3, 1, 1) for a, b in zip(widths[::-1], widths[::-1][1:])])
        self.last = nn.Sequential(group_norm(widths[0]), nn.SiLU(), nn.Conv2d(widths[0], shape.channels, 3, 1, 1))

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        angles = t[:, None] * 1000 * self.frequencies
        embedded = F.silu(self.time(torch.cat([angles.sin(), angles.cos()], dim=1)) + self.label(labels))
        h, skips = self.first(x), []
        for i, block in enumerate(self.down):
            h = block(h, embedded)
            skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
        h = self.middle(h, embedded)
        for i, block in enumerate(self.up):
            h = block(torch.cat([h, skips.pop()], dim=1), embedded)
            if i < len(self.upsample):
                h = self.upsample[i](F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.last(h)


@dataclass
class TrainedImageDiffusion:
    shape: ImageDiffusionShape
    network: UNet  # the exponential moving average of the trained weights: what sampling uses
    history: list[dict]
    format: str = FORMAT

    def describe(self) -> dict:
        return {"shape": asdict(self.shape)}

    def tensors(self) -> dict[str, torch.Tensor]:
        return {f"network.{k}": v for k, v in self.network.state_dict().items()}

    @classmethod
    def from_tensors(cls, config: dict, tensors: dict[str, torch.Tensor]) -> TrainedImageDiffusion:
        shape = ImageDiffusionShape(**config["shape"])
        network = UNet(shape)
        network.load_state_dict({k.removeprefix("network."): v for k, v in tensors.items()})
        return cls(shape, network.eval(), [])

    def to(self, device: torch.device) -> TrainedImageDiffusion:
        self.network.to(device)
        return self

    def sample(self, labels: np.ndarray, seed: int, settings: ImageGenerateConfig, chunk: int = 512) -> np.ndarray:
        return sample_images(self.network, labels, self.shape, settings.sampling_steps, settings.guidance, seed, chunk)


def train_image_diffusion(images: torch.Tensor, targets: torch.Tensor, classes: int, cfg: ImageTrainConfig,
                          seed: int, options: LoopOptions | None = None) -> TrainedImageDiffusion:
    """Train on uint8 `images` (N, C, S, S) already on their device; same data, config and seed -> same weights
    on CPU, whether or not the run was stopped and resumed."""
    torch.manual_seed(seed)  # the network's initial weights
    shape = ImageDiffusionShape(images.shape[-1], images.shape[1], classes, cfg.width)
    network = UNet(shape).to(images.device)
    average = copy.deepcopy(network).requires_grad_(False)
    result = train(image_diffusion_trainee(images, targets, classes, cfg, network, average), cfg, seed, options)
    return TrainedImageDiffusion(shape, average.eval(), result.history)


def image_diffusion_trainee(images: torch.Tensor, targets: torch.Tensor, classes: int, cfg: ImageTrainConfig,
                            network: UNet, average: UNet) -> Trainee:
    device, count = images.device, images.shape[0]
    optimizer = Adam(network.parameters(), cfg.learning_rate)
    data = images.float() / 127.5 - 1  # the whole set as one tensor; batches are index draws
    batch, per_epoch = image_batches(cfg, count)
    autocast = mixed_precision(device, cfg.mixed_precision)

    def step(number: int) -> dict[str, torch.Tensor]:
        pick = torch.randint(count, (batch,), device=device)
        x = data[pick]
        labels = targets[pick].masked_fill(torch.rand(batch, device=device) < LABEL_DROP, classes)
        t = torch.sigmoid(torch.randn(batch, device=device))
        noise = torch.randn_like(x)
        mixed = torch.lerp(x, noise, t[:, None, None, None])
        with autocast:
            velocity = network(mixed, t, labels).float()
        loss = F.mse_loss(velocity, noise - x)
        update(optimizer, loss)
        done = number + 1  # steps taken, this one included
        update_average(average, network, min(cfg.ema_decay, (1 + done) / (10 + done)))
        return {"loss": loss.detach()}

    return Trainee("image_diffusion", {"network": network, "average": average}, {"network": optimizer}, step,
                   steps_per_epoch=per_epoch, batch=batch, settings="image.train")


@torch.inference_mode()
def sample_images(network: UNet, labels: np.ndarray, shape: ImageDiffusionShape, steps: int, guidance: float,
                  seed: int, chunk: int = 512) -> np.ndarray:
    """uint8 images (N, C, S, S) for class indices `labels`."""
    network.eval()
    device = next(network.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    noise = torch.randn(len(labels), shape.channels, shape.size, shape.size, generator=rng)
    targets = torch.as_tensor(labels, dtype=torch.long)
    parts, last = [], time.monotonic()
    for start in range(0, len(labels), chunk):
        # Sampling thousands of 32 px images takes minutes on a CPU: a scheduler's log must not go quiet.
        if time.monotonic() - last >= PROGRESS_SECONDS:
            last = time.monotonic()
            log.info("image_diffusion: sampled %d/%d images", start, len(labels))
        parts.append(denoise(network, noise[start:start + chunk].to(device), targets[start:start + chunk].to(device),
                             shape.classes, steps, guidance).cpu())
    images = torch.cat(parts) if parts else torch.empty(0, shape.channels, shape.size, shape.size)
    return ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()


def denoise(network: UNet, x: torch.Tensor, labels: torch.Tensor, classes: int, steps: int,
            guidance: float) -> torch.Tensor:
    """Euler steps from noise at t = 1 to an image at t = 0, guided towards `labels`."""
    autocast = mixed_precision(x.device)
    unlabelled = torch.full_like(labels, classes)
    times = torch.linspace(1.0, 0.0, steps + 1).tolist()
    for t, s in zip(times[:-1], times[1:]):
        at = torch.full((len(x),), t, device=x.device)
        with autocast:
            if guidance == 1.0:
                velocity = network(x, at, labels).float()
            else:  # one pass over both halves: conditional and unconditional
                both = network(torch.cat([x, x]), torch.cat([at, at]), torch.cat([labels, unlabelled])).float()
                conditional, unconditional = both.chunk(2)
                velocity = torch.lerp(unconditional, conditional, guidance)
        x = x + (s - t) * velocity
    return x.clamp(-1.0, 1.0)

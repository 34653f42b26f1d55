"""A class-conditional DCGAN for small labelled image sets.

Generator: noise + label embedding -> 4x4 feature map -> transposed convolutions doubling to the image size,
with class-conditional batch norm after each.
Critic: convolutions halving back to 4x4, a minibatch-spread channel, and a projection head (Miyato & Koyama
2018) that scores how well an image fits its label; trained as a WGAN with gradient penalty. (A spectrally
normalised hinge critic collapsed each class to a few near-identical images on 8x8 digits; the gradient
penalty kept about twice the within-class variety for the same steps.) With a few thousand images the critic
memorises them: DiffAugment (Zhao et al. 2020) shows it only randomly translated / cut-out / recoloured copies
of real AND fake images, with the same differentiable ops in the generator's step, so the generator learns the
images, not the augmentation.

Training runs on the shared loop (synthpipe.training): checkpoints (the generator's moving average included),
resume to the same weights, divergence recovery and progress lines come from there.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from synthpipe.config import ImageGenerateConfig, ImageTrainConfig
from synthpipe.device import mixed_precision
from synthpipe.training import Adam, LoopOptions, Trainee, train, update

MAX_CHANNELS = 512


@dataclass(frozen=True)
class ImageGanShape:
    """Everything needed to rebuild the networks: saved beside the weights as JSON."""

    size: int
    channels: int
    classes: int
    noise_dim: int
    width: int

    def widths(self) -> list[int]:
        """Channels per resolution from 4x4 up to the image size: `width` at the top, doubling per halving."""
        levels = int(np.log2(self.size // 4))
        return [min(self.width * 2 ** (levels - i), MAX_CHANNELS) for i in range(levels + 1)]


class ConditionalBatchNorm(nn.Module):
    """Batch norm whose scale and shift are looked up per class (as in BigGAN): the label acts at every layer,
    not only through the input."""

    def __init__(self, channels: int, classes: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.scale = nn.Embedding(classes, channels)
        self.shift = nn.Embedding(classes, channels)
        nn.init.ones_(self.scale.weight)
        nn.init.zeros_(self.shift.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.norm(x) * self.scale(labels)[:, :, None, None] + self.shift(labels)[:, :, None, None]


class Generator(nn.Module):
    def __init__(self, shape: ImageGanShape):
        super().__init__()
        widths = shape.widths()
        self.embed = nn.Embedding(shape.classes, shape.noise_dim)
        self.project = nn.Sequential(nn.Linear(2 * shape.noise_dim, widths[0] * 16, bias=False),
                                     nn.Unflatten(1, (widths[0], 4, 4)))
        self.norms = nn.ModuleList([ConditionalBatchNorm(w, shape.classes) for w in widths])
        self.ups = nn.ModuleList([nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False) for a, b in zip(widths, widths[1:])])
        self.to_image = nn.Sequential(nn.Conv2d(widths[-1], shape.channels, 3, 1, 1), nn.Tanh())

    def forward(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        x = self.project(torch.cat([noise, self.embed(labels)], dim=1))
        x = F.relu(self.norms[0](x, labels))
        for up, norm in zip(self.ups, self.norms[1:]):
            x = F.relu(norm(up(x), labels))
        return self.to_image(x)


class Critic(nn.Module):
    def __init__(self, shape: ImageGanShape):
        super().__init__()
        widths = shape.widths()[::-1]
        layers = [nn.Conv2d(shape.channels, widths[0], 3, 1, 1), nn.LeakyReLU(0.2)]
        for a, b in zip(widths, widths[1:]):  # per resolution: a 3x3 convolution, then a strided 4x4 one
            layers += [nn.Conv2d(a, a, 3, 1, 1), nn.LeakyReLU(0.2), nn.Conv2d(a, b, 4, 2, 1), nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*layers)
        # At 4x4: one extra channel with the feature spread across the batch (ProGAN's minibatch standard
        # deviation), so that a generator drawing one image per class is visibly less varied than the data.
        self.final = nn.Sequential(nn.Conv2d(widths[-1] + 1, widths[-1], 3, 1, 1), nn.LeakyReLU(0.2))
        self.score = nn.Linear(widths[-1], 1)
        self.embed = nn.Embedding(shape.classes, widths[-1])

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        x = self.body(images)
        spread = x.std(dim=0, unbiased=False).mean().expand(x.shape[0], 1, *x.shape[2:])
        features = self.final(torch.cat([x, spread], dim=1)).sum(dim=(2, 3))
        # Projection: an unconditional realism score plus the match between features and the label's embedding.
        return self.score(features).squeeze(1) + (self.embed(labels) * features).sum(dim=1)


def gradient_penalty(critic: Critic, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """WGAN-GP: push the critic's gradient norm towards 1 on random real/fake interpolates."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed, labels).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def diff_augment(x: torch.Tensor, policy: list[str]) -> torch.Tensor:
    """DiffAugment: random, differentiable, per-image transforms (same ops for real and fake)."""
    n = x.shape[0]
    if "color" in policy:
        x = x + (torch.rand(n, 1, 1, 1, device=x.device) - 0.5)  # brightness
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device) + 0.5) + mean  # contrast
    if "translation" in policy:
        x = translate(x, max(1, x.shape[-1] // 8))
    if "cutout" in policy:
        x = cutout(x, x.shape[-1] // 2)
    return x


def translate(x: torch.Tensor, shift: int) -> torch.Tensor:
    """Shift each image by up to `shift` pixels per axis, filling with the background (-1 after scaling: zero pad)."""
    n, _, h, w = x.shape
    padded = F.pad(x, (shift, shift, shift, shift), value=-1.0)
    dy = torch.randint(0, 2 * shift + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(0, 2 * shift + 1, (n, 1, 1), device=x.device)
    rows = (torch.arange(h, device=x.device).view(1, h, 1) + dy).expand(n, h, w)
    cols = (torch.arange(w, device=x.device).view(1, 1, w) + dx).expand(n, h, w)
    batch = torch.arange(n, device=x.device).view(n, 1, 1).expand(n, h, w)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, side: int) -> torch.Tensor:
    """Blank one random `side` x `side` square per image (to the background value)."""
    n, _, h, w = x.shape
    cy = torch.randint(0, h, (n, 1, 1), device=x.device)
    cx = torch.randint(0, w, (n, 1, 1), device=x.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    inside = ((ys - cy).abs() <= side // 2) & ((xs - cx).abs() <= side // 2)
    return torch.where(inside.unsqueeze(1), torch.full_like(x, -1.0), x)


FORMAT = "synthpipe.image_gan/1"


@dataclass
class TrainedImageGan:
    shape: ImageGanShape
    generator: Generator  # the exponential moving average of the trained generator: what sampling uses
    critic: Critic | None  # None once loaded: sampling needs the generator alone
    history: list[dict]
    format: str = FORMAT

    def describe(self) -> dict:
        return {"shape": asdict(self.shape)}

    def tensors(self) -> dict[str, torch.Tensor]:
        tensors = {f"generator.{k}": v for k, v in self.generator.state_dict().items()}
        return tensors | {f"critic.{k}": v for k, v in self.critic.state_dict().items()}

    @classmethod
    def from_tensors(cls, config: dict, tensors: dict[str, torch.Tensor]) -> TrainedImageGan:
        shape = ImageGanShape(**config["shape"])
        generator = Generator(shape)
        generator.load_state_dict({k.removeprefix("generator."): v for k, v in tensors.items()
                                   if k.startswith("generator.")})
        return cls(shape, generator.eval(), None, [])

    def to(self, device: torch.device) -> TrainedImageGan:
        self.generator.to(device)
        return self

    def sample(self, labels: np.ndarray, seed: int, settings: ImageGenerateConfig | None = None,
               chunk: int = 1024) -> np.ndarray:
        """(`settings` are the diffusion family's; a generator draws in one pass.)"""
        return sample_images(self.generator, labels, self.shape.noise_dim, seed, chunk)


def train_image_gan(images: torch.Tensor, targets: torch.Tensor, classes: int, cfg: ImageTrainConfig, seed: int,
                    options: LoopOptions | None = None) -> TrainedImageGan:
    """Train on uint8 `images` (N, C, S, S) already on their device.

    Same data, config and seed -> same weights on CPU, whether or not the run was stopped and resumed."""
    torch.manual_seed(seed)  # the networks' initial weights
    shape = ImageGanShape(images.shape[-1], images.shape[1], classes, cfg.noise_dim, cfg.width)
    generator, critic = Generator(shape).to(images.device), Critic(shape).to(images.device)
    average = copy.deepcopy(generator).requires_grad_(False)
    result = train(image_gan_trainee(images, targets, cfg, generator, critic, average), cfg, seed, options)
    return TrainedImageGan(shape, average, critic, result.history)


def image_gan_trainee(images: torch.Tensor, targets: torch.Tensor, cfg: ImageTrainConfig, generator: Generator,
                      critic: Critic, average: Generator) -> Trainee:
    device, count = images.device, images.shape[0]
    # Betas (0.5, 0.9), the usual WGAN-GP choice: less momentum keeps the two players from oscillating.
    opt_g = Adam(generator.parameters(), cfg.learning_rate, betas=(0.5, 0.9))
    opt_c = Adam(critic.parameters(), cfg.learning_rate, betas=(0.5, 0.9))
    data = images.float() / 127.5 - 1  # the whole set as one tensor; batches are index draws
    batch, per_epoch = image_batches(cfg, count)
    # bfloat16 where the hardware has it (CUDA; a CPU with AVX512-BF16 or AMX): at 32 px on such a CPU a step
    # took 0.23 s instead of 0.35 s (width 16, batch 64, lazy penalty, one thread).
    autocast = mixed_precision(device, cfg.mixed_precision)

    def step(number: int) -> dict[str, torch.Tensor]:
        pick = torch.randint(count, (batch,), device=device)
        real, labels = diff_augment(data[pick], cfg.augment), targets[pick]
        # Critic: Wasserstein estimate on augmented real and fake images of the same labels.
        with torch.no_grad(), autocast:
            fake = diff_augment(generator(torch.randn(batch, cfg.noise_dim, device=device), labels), cfg.augment)
        with autocast:
            wasserstein = critic(real, labels).mean() - critic(fake, labels).mean()
        loss_c = -wasserstein
        if number % cfg.gradient_penalty_every == 0:  # lazy: every k steps at k times the weight
            # The penalty's double backward stays in float32: bfloat16 gradients of gradients are too coarse.
            weight = cfg.gradient_penalty * cfg.gradient_penalty_every
            loss_c = loss_c + weight * gradient_penalty(critic, real, fake.float(), labels)
        update(opt_c, loss_c)
        # Generator: raise the critic's score of augmented fakes.
        with autocast:
            fake = generator(torch.randn(batch, cfg.noise_dim, device=device), labels)
            loss_g = -critic(diff_augment(fake, cfg.augment), labels).mean()
        update(opt_g, loss_g)
        done = number + 1  # steps taken, this one included
        update_average(average, generator, min(cfg.ema_decay, (1 + done) / (10 + done)))
        return {"loss": loss_g.detach(), "critic_loss": loss_c.detach(), "wasserstein": wasserstein.detach()}

    return Trainee("image_gan", {"generator": generator, "critic": critic, "average": average},
                   {"generator": opt_g, "critic": opt_c}, step, steps_per_epoch=per_epoch, batch=batch,
                   finish=lambda: refresh_batch_norm(average, targets, cfg.noise_dim, batch), settings="image.train")


def image_batches(cfg: ImageTrainConfig, count: int) -> tuple[int, int]:
    """(images per step, steps per epoch) of either image family on `count` train images."""
    batch = min(cfg.batch_size, count)
    return batch, max(1, count // batch)


@torch.no_grad()
def update_average(average: nn.Module, model: nn.Module, decay: float) -> None:
    """Exponential moving average of the weights (early on, with a short warm-up horizon)."""
    for avg, live in zip(average.parameters(), model.parameters()):
        avg.lerp_(live, 1 - decay)


@torch.no_grad()
def refresh_batch_norm(generator: Generator, targets: torch.Tensor, noise_dim: int, batch: int,
                       batches: int = 16) -> None:
    """Batch-norm statistics that match the averaged weights: a cumulative mean over fresh batches."""
    generator.train()
    for module in generator.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None
    for _ in range(batches):
        labels = targets[torch.randint(targets.shape[0], (batch,), device=targets.device)]
        generator(torch.randn(batch, noise_dim, device=targets.device), labels)
    generator.eval()


@torch.no_grad()
def sample_images(generator: Generator, labels: np.ndarray, noise_dim: int, seed: int, chunk: int = 1024) -> np.ndarray:
    """uint8 images (N, C, S, S) for class indices `labels`. Noise comes from a seeded CPU generator, so the
    output does not depend on the device or the chunking."""
    generator.eval()
    device = next(generator.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    noise = torch.randn(len(labels), noise_dim, generator=rng)
    targets = torch.as_tensor(labels, dtype=torch.long)
    parts = [generator(noise[i:i + chunk].to(device), targets[i:i + chunk].to(device)).float().cpu()
             for i in range(0, len(labels), chunk)]
    images = torch.cat(parts) if parts else torch.empty(0)
    return ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()

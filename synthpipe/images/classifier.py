"""A small CNN trained from scratch on the real train split: the feature space and the judge of image quality.

No downloaded weights: Inception features describe photographs, not a user's own images; a classifier trained
on the real images describes exactly the differences that matter for them.
"""

from __future__ import annotations

import logging
import time

import torch
import torch.nn.functional as F
from torch import nn

from synthpipe.device import mixed_precision
from synthpipe.images.model import translate
from synthpipe.training import PROGRESS_SECONDS

log = logging.getLogger(__name__)
FEATURES = 128


class SmallCnn(nn.Module):
    def __init__(self, channels: int, classes: int):
        super().__init__()

        def block(a: int, b: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU())

        self.body = nn.Sequential(block(channels, 32), nn.MaxPool2d(2), block(32, 64), nn.MaxPool2d(2),
                                  block(64, FEATURES), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(FEATURES, classes))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(images))


def train_classifier(images: torch.Tensor, targets: torch.Tensor, classes: int, steps: int, batch: int,
                     seed: int, name: str = "classifier") -> SmallCnn:
    """Train on uint8 `images` (N, C, S, S) for a fixed number of steps, whatever N is, so that runs with and
    without extra synthetic images cost the same and differ only in their data. A progress line goes to the log
    at least every PROGRESS_SECONDS: a gate with several classifiers to train is otherwise silent for minutes."""
    torch.manual_seed(seed)
    model = SmallCnn(images.shape[1], classes).to(images.device)
    data = images.float() / 127.5 - 1
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=3e-3, total_steps=steps)
    batch = min(batch, images.shape[0])
    shift = max(1, images.shape[-1] // 8)
    model.train()
    autocast = mixed_precision(images.device)  # training only: features and predictions stay in float32
    last = time.monotonic()
    for step in range(steps):
        if time.monotonic() - last >= PROGRESS_SECONDS:
            last = time.monotonic()
            log.info("%s: step %d/%d on %d images", name, step, steps, images.shape[0])
        pick = torch.randint(images.shape[0], (batch,), device=images.device)
        # Small random shifts: the classifier must not hinge on exact pixel positions.
        with autocast:
            logits = model(translate(data[pick], shift)).float()
        loss = F.cross_entropy(logits, targets[pick], label_smoothing=0.05)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
    return model.eval()


@torch.no_grad()
def predict(model: SmallCnn, images: torch.Tensor, chunk: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """Penultimate-layer features (N, 128) and predicted class indices for uint8 images."""
    model.eval()
    features, predictions = [], []
    for start in range(0, images.shape[0], chunk):
        x = images[start:start + chunk].float() / 127.5 - 1
        f = model.body(x)
        features.append(f)
        predictions.append(model.head(f).argmax(dim=1))
    return torch.cat(features), torch.cat(predictions)


def accuracy(model: SmallCnn, images: torch.Tensor, targets: torch.Tensor) -> float:
    return (predict(model, images)[1] == targets).float().mean().item()

"""PNG figures: real beside synthetic images, one row per class, and each synthetic image beside its nearest real
train image (the augmentation curve and the loss curves are the table gate's plots)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from synthpipe.io import atomic_path

CELL = 56  # at least this many screen pixels per image side: small images are enlarged by a whole factor
GAP = 2  # between cells
SEPARATOR = 12  # between the real and the synthetic columns, with a red bar in the middle
LABEL_WIDTH = 48
HEADER = 16
SEPARATOR_COLOUR = (200, 30, 30)


def scale_for(size: int) -> int:
    """A whole enlargement factor (nearest neighbour: square pixels, no invented detail)."""
    return max(1, -(-CELL // size))


def tile(image: np.ndarray, scale: int) -> Image.Image:
    """One uint8 (C, S, S) image, each pixel drawn as a scale x scale square."""
    picture = Image.fromarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0))
    return picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)


def sample_grid(real: tuple[np.ndarray, np.ndarray], synthetic: tuple[np.ndarray, np.ndarray], classes: list,
                real_columns: int, columns: int, path: str | Path) -> None:
    """(uint8 images (N, C, S, S), class indices) of real and synthetic images -> a PNG with one row per generated
    class: `real_columns` real images, a red separator, then `columns` synthetic ones."""
    (real_images, real_targets), (fake_images, fake_targets) = real, synthetic
    rows = [c for c in range(len(classes)) if (fake_targets == c).any()]
    scale = scale_for(fake_images.shape[-1])
    side = fake_images.shape[-1] * scale
    split = LABEL_WIDTH + real_columns * (side + GAP)
    canvas = Image.new("RGB", (split + SEPARATOR + columns * (side + GAP), HEADER + len(rows) * (side + GAP)),
                       "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((LABEL_WIDTH, 2), "real", fill="black")
    draw.text((split + SEPARATOR, 2), "synthetic", fill="black")
    draw.rectangle([split + SEPARATOR // 2 - 1, 0, split + SEPARATOR // 2, canvas.height], fill=SEPARATOR_COLOUR)
    for r, index in enumerate(rows):
        y = HEADER + r * (side + GAP)
        draw.text((4, y + side // 2 - 6), str(classes[index])[:7], fill="black")
        for c, image in enumerate(real_images[real_targets == index][:real_columns]):
            canvas.paste(tile(image, scale), (LABEL_WIDTH + c * (side + GAP), y))
        for c, image in enumerate(fake_images[fake_targets == index][:columns]):
            canvas.paste(tile(image, scale), (split + SEPARATOR + c * (side + GAP), y))
    with atomic_path(path) as tmp:
        canvas.save(tmp, format="PNG")


def nearest_real(synthetic: np.ndarray, real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of, and Euclidean pixel distance to, the nearest real image for each synthetic one."""
    fake = torch.as_tensor(synthetic, dtype=torch.float32).flatten(1)
    distances = torch.cdist(fake, torch.as_tensor(real, dtype=torch.float32).flatten(1))
    nearest = distances.min(dim=1)
    return nearest.indices.numpy(), nearest.values.numpy()


def nearest_neighbours(real_images: np.ndarray, synthetic: tuple[np.ndarray, np.ndarray], classes: list,
                       per_class: int, path: str | Path) -> float:
    """A PNG with, per class, `per_class` synthetic images each above its nearest real train image (pixel space,
    over all classes): a copy shows as two identical tiles. Returns the smallest synthetic-to-real distance drawn,
    relative to the median distance from a real image to its nearest other real image (near 0: a copy)."""
    fake_images, fake_targets = synthetic
    rows = [np.flatnonzero(fake_targets == c)[:per_class] for c in range(len(classes))]
    scale = scale_for(fake_images.shape[-1])
    side = fake_images.shape[-1] * scale
    height = 2 * side + 4 * GAP
    canvas = Image.new("RGB", (LABEL_WIDTH + per_class * (side + 3 * GAP),
                               HEADER + sum(len(r) > 0 for r in rows) * height), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 2), "synthetic (upper) above its nearest real train image (lower)", fill="black")
    smallest, y = float("inf"), HEADER
    for label, picked in zip(classes, rows):
        if not len(picked):
            continue
        index, distance = nearest_real(fake_images[picked], real_images)
        smallest = min(smallest, float(distance.min()))
        draw.text((4, y + side - 6), str(label)[:7], fill="black")
        for c, (fake, near) in enumerate(zip(picked, index)):
            x = LABEL_WIDTH + c * (side + 3 * GAP)
            canvas.paste(tile(fake_images[fake], scale), (x, y))
            canvas.paste(tile(real_images[near], scale), (x, y + side + GAP))
        y += height
    with atomic_path(path) as tmp:
        canvas.save(tmp, format="PNG")
    sample = torch.as_tensor(real_images[:: max(1, len(real_images) // 500)], dtype=torch.float32).flatten(1)
    own = torch.cdist(sample, sample).fill_diagonal_(float("inf")).min(dim=1).values
    return smallest / max(float(own.median()), 1e-12)

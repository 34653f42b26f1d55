"""PNG figures: a sample grid, one row per class (the augmentation curve is the table gate's plot)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from synthpipe.io import atomic_path

CELL = 48  # pixels per grid cell: small images are enlarged (nearest neighbour, no invented detail)
LABEL_WIDTH = 56


def sample_grid(images: np.ndarray, targets: np.ndarray, classes: list, columns: int, path: str | Path) -> None:
    """uint8 images (N, C, S, S) -> a PNG with one row per generated class, labelled on the left."""
    rows = [c for c in range(len(classes)) if (targets == c).any()]
    scale = max(1, CELL // images.shape[-1])
    side = images.shape[-1] * scale
    canvas = Image.new("RGB", (LABEL_WIDTH + columns * (side + 2), len(rows) * (side + 2)), "white")
    draw = ImageDraw.Draw(canvas)
    for r, index in enumerate(rows):
        y = r * (side + 2)
        draw.text((4, y + side // 2 - 6), str(classes[index])[:8], fill="black")
        for c, image in enumerate(images[targets == index][:columns]):
            tile = Image.fromarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0))
            canvas.paste(tile.resize((side, side), Image.Resampling.NEAREST), (LABEL_WIDTH + c * (side + 2), y + 1))
    with atomic_path(path) as tmp:
        canvas.save(tmp, format="PNG")


"""PNG figures: a sample grid (one row per class) and the augmentation curve."""

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


def augmentation_plot(curve: list[dict], path: str | Path) -> None:
    """Holdout accuracy against the share of real train labels, with and without synthetic images."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shares = [100 * point["real_fraction"] for point in curve]
    figure, axes = plt.subplots(figsize=(5, 3.5), dpi=120)
    axes.plot(shares, [p["accuracy_real"] for p in curve], "o-", label="real only")
    axes.plot(shares, [p["accuracy_real_plus_synthetic"] for p in curve], "s-", label="real + synthetic")
    axes.set(xlabel="real train images used (%)", ylabel="accuracy on real holdout", xscale="log",
             title="Augmentation with synthetic images")
    axes.set_xticks(shares, [f"{s:g}" for s in shares])
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    plt.close(figure)

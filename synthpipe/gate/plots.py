"""PNG plots of the quality report (matplotlib, Agg backend: no display, no browser, no network)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from synthpipe.gate.metrics import as_numbers
from synthpipe.io import atomic_path
from synthpipe.schema import NUMERIC_KINDS, ColumnKind

REAL, SYNTHETIC = "#1f77b4", "#ff7f0e"
# The marginals figure shows at most this many columns (the worst ones first), so it stays legible.
MAX_MARGINAL_PANELS = 36
MAX_BARS = 12


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=90, bbox_inches="tight")
    _pyplot().close(figure)


def plot_marginals(real: pd.DataFrame, synthetic: pd.DataFrame, kinds: dict[str, ColumnKind],
                   shapes: dict[str, float], path: Path) -> None:
    """Real vs synthetic distribution per column: shared-bin histograms for numbers, bars for categories."""
    plt = _pyplot()
    names = sorted(shapes, key=shapes.get)[:MAX_MARGINAL_PANELS]
    cols = min(4, len(names)) or 1
    rows = math.ceil(len(names) / cols) or 1
    figure, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        if kinds[name] in NUMERIC_KINDS:
            a, b = as_numbers(real[name]).dropna(), as_numbers(synthetic[name]).dropna()
            edges = np.histogram_bin_edges(np.concatenate([a, b]) if len(a) + len(b) else [0.0], bins=30)
            ax.hist(a, bins=edges, density=True, alpha=0.55, color=REAL, label="real")
            ax.hist(b, bins=edges, density=True, alpha=0.55, color=SYNTHETIC, label="synthetic")
        else:
            p = real[name].astype(object).fillna("<null>").astype(str).value_counts(normalize=True)
            q = synthetic[name].astype(object).fillna("<null>").astype(str).value_counts(normalize=True)
            p, q = p.align(q, fill_value=0.0)
            top = (p + q).sort_values(ascending=False).index[:MAX_BARS]
            x = np.arange(len(top))
            ax.bar(x - 0.2, p[top], width=0.4, color=REAL, label="real")
            ax.bar(x + 0.2, q[top], width=0.4, color=SYNTHETIC, label="synthetic")
            ax.set_xticks(x, [str(t)[:12] for t in top], rotation=45, ha="right", fontsize=7)
        ax.set_title(f"{name}  (similarity {shapes[name]:.2f})", fontsize=9)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    figure.suptitle("Real vs synthetic, per column (least similar first)")
    figure.tight_layout()
    _save(figure, path)


def plot_correlation_difference(names: list[str], corr_real: np.ndarray, corr_syn: np.ndarray, path: Path) -> None:
    """Heatmap of |real correlation - synthetic correlation| for every numeric pair."""
    plt = _pyplot()
    diff = np.abs(np.nan_to_num(corr_real) - np.nan_to_num(corr_syn))
    size = max(4.0, 0.35 * len(names) + 2)
    figure, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(diff, vmin=0, vmax=1, cmap="Reds")
    ax.set_xticks(range(len(names)), [n[:16] for n in names], rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), [n[:16] for n in names], fontsize=7)
    figure.colorbar(image, ax=ax, label="|correlation difference|")
    ax.set_title("Correlation difference, real vs synthetic")
    _save(figure, path)


def plot_training_losses(log: pd.DataFrame, path: Path) -> None:
    """Every loss column of the training log against the epoch (or the row number)."""
    plt = _pyplot()
    x = log["epoch"] if "epoch" in log.columns else np.arange(1, len(log) + 1)
    figure, ax = plt.subplots(figsize=(7, 4))
    for name in [c for c in log.columns if "loss" in c or c == "wasserstein"]:
        ax.plot(x, log[name], label=name, linewidth=1)
    ax.set_xlabel("epoch")
    ax.legend()
    ax.set_title("Training losses")
    _save(figure, path)


# One colour per arm of the scarcity curve, real and synthetic as in every other plot.
ARM_COLOURS = {"real": REAL, "synthetic": SYNTHETIC, "smote": "#2ca02c", "noise": "#2ca02c",
               "oversampling": "#9467bd", "class_weights": "#8c564b", "shift_rotate": "#2ca02c"}


def plot_augmentation(points: list[dict], metric: str, labels: dict[str, str], path: Path) -> None:
    """Every arm (real only, + synthetic, + each baseline) against the share of real rows used: holdout scores on
    the left, paired gains over real only on the right, each with its 95% interval shaded (seeds and holdout rows
    resampled). Scores share the holdout's noise, so their bands overlap; the gains' bands are the test."""
    plt = _pyplot()
    x = [100 * p["fraction"] for p in points]
    figure, (scores, gains) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name in points[0]["arms"]:
        arms = [p["arms"][name] for p in points]
        colour = ARM_COLOURS.get(name, "#7f7f7f")
        width = 2.2 if name in ("real", "synthetic") else 1.2
        scores.plot(x, [a["score"] for a in arms], marker="o", color=colour, label=labels.get(name, name),
                    linewidth=width)
        scores.fill_between(x, [a["score_low"] for a in arms], [a["score_high"] for a in arms], color=colour,
                            alpha=0.08)
        if name != "real":
            gains.plot(x, [a["gain"] for a in arms], marker="o", color=colour, linewidth=width)
            gains.fill_between(x, [a["gain_low"] for a in arms], [a["gain_high"] for a in arms], color=colour,
                               alpha=0.15)
    gains.axhline(0, color=REAL, linewidth=1.5)
    for ax, label in ((scores, f"holdout {metric.replace('_', ' ')}"), (gains, "gain over real only")):
        ax.set_xlabel("real train rows used (%)")
        ax.set_ylabel(label)
        ax.set_xticks(x)
    scores.legend(fontsize=8)
    leaky = any(p["leaky"] for p in points)
    figure.suptitle("Scarcity curve (95% intervals)" + (": LEAKY, no refits below 100%" if leaky else ""))
    figure.tight_layout()
    _save(figure, path)

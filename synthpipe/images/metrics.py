"""Image quality in a classifier's feature space: Frechet distance, precision / recall / coverage."""

from __future__ import annotations

import numpy as np
import torch
from scipy import linalg


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """FID's formula on any features: |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2)."""
    a, b = a.double().cpu().numpy(), b.double().cpu().numpy()
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root, _ = linalg.sqrtm(cov_a @ cov_b, disp=False)
    if not np.isfinite(root).all():  # a near-singular product: regularise, as the reference FID code does
        eps = np.eye(len(cov_a)) * 1e-6
        root = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root.real))


def precision_recall_coverage(real: torch.Tensor, fake: torch.Tensor, k: int) -> dict[str, float]:
    """Precision and recall of Kynkaanniemi et al. (2019) and coverage of Naeem et al. (2020).

    Each point's k-nearest-neighbour ball approximates its set's manifold. Precision: share of fake points inside
    the real manifold (are fakes realistic?). Recall: share of real points inside the fake manifold (is the variety
    there?). Coverage: share of real points whose own ball holds a fake (robust to fake outliers; a collapsed class
    covers few real points).
    """
    k = min(k, len(real) - 1, len(fake) - 1)
    if k < 1:
        return {"precision": float("nan"), "recall": float("nan"), "coverage": float("nan")}
    real_radius = knn_radius(real, k)
    fake_radius = knn_radius(fake, k)
    cross = torch.cdist(fake, real)  # (fake, real)
    precision = (cross <= real_radius.unsqueeze(0)).any(dim=1).float().mean().item()
    recall = (cross <= fake_radius.unsqueeze(1)).any(dim=0).float().mean().item()
    coverage = (cross.min(dim=0).values <= real_radius).float().mean().item()
    return {"precision": precision, "recall": recall, "coverage": coverage}


def knn_radius(points: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each point to its k-th nearest other point."""
    distances = torch.cdist(points, points)
    return distances.kthvalue(k + 1, dim=1).values  # +1: the point itself is at distance 0


def balanced_subset(targets: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """Indices of a seeded random `fraction` of each class (at least one image per class)."""
    rng = torch.Generator().manual_seed(seed)
    picks = []
    for label in targets.unique().tolist():
        members = (targets == label).nonzero().squeeze(1).cpu()
        keep = max(1, round(fraction * len(members)))
        picks.append(members[torch.randperm(len(members), generator=rng)[:keep]])
    return torch.cat(picks).sort().values.to(targets.device)

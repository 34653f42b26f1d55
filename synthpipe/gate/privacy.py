"""Does synthetic data give away real train rows? Exact copies, distance to closest record, NNDR.

Each figure for synthetic rows is set beside the same figure for real holdout rows: the holdout was never
seen by the generator, so it shows how close genuinely new data from the same population comes to the
train rows. Synthetic rows much closer than that are memorised, not generated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

from synthpipe.gate.features import FeatureSpace


def copy_mask(rows: pd.DataFrame, train: pd.DataFrame) -> np.ndarray:
    """True for each row of `rows` that is identical to some train row (all columns, nulls equal)."""
    rows = rows[list(train.columns)]
    if len(rows) == 0:
        return np.zeros(0, dtype=bool)
    both = pd.concat([train, rows], ignore_index=True)
    # Casting through the combined frame gives both sides one dtype per column, so equal values hash equal.
    hashes = pd.util.hash_pandas_object(both, index=False).to_numpy()
    return np.isin(hashes[len(train):], hashes[: len(train)])


def neighbour_distances(reference: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Distances from each query to its two nearest reference points, shape (n, 2); brute force on
    BLAS matrix products, which beats trees on one-hot-heavy, wide encodings."""
    k = min(2, len(reference))
    search = NearestNeighbors(n_neighbors=k, algorithm="brute", metric="euclidean").fit(reference)
    distances, _ = search.kneighbors(queries)
    return distances if k == 2 else np.hstack([distances, distances])


def privacy_figures(train: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame | None, space: FeatureSpace,
                    max_rows: int, seed: int) -> dict:
    """Exact copies over every row; distance figures on at most `max_rows` rows of each table (seeded)."""
    copies = copy_mask(synthetic, train)
    figures = {"exact_copies": int(copies.sum()), "exact_copy_share": _share(copies),
               "holdout_exact_copy_share": None if holdout is None else _share(copy_mask(holdout, train))}
    reference = space.distance_matrix(_sample(train, max_rows, seed))
    syn = neighbour_distances(reference, space.distance_matrix(_sample(synthetic, max_rows, seed)))
    figures |= {"dcr_synthetic_median": float(np.median(syn[:, 0])), "nndr_synthetic_median": _median_nndr(syn),
                "sampled_rows": min(max_rows, len(train)), "dcr_holdout_median": None, "nndr_holdout_median": None,
                "dcr_ratio": None, "nndr_ratio": None}
    if holdout is not None and len(holdout):
        hold = neighbour_distances(reference, space.distance_matrix(_sample(holdout, max_rows, seed)))
        figures |= {"dcr_holdout_median": float(np.median(hold[:, 0])), "nndr_holdout_median": _median_nndr(hold)}
        figures["dcr_ratio"] = _ratio(figures["dcr_synthetic_median"], figures["dcr_holdout_median"])
        figures["nndr_ratio"] = _ratio(figures["nndr_synthetic_median"], figures["nndr_holdout_median"])
    return figures


def _median_nndr(distances: np.ndarray) -> float:
    # Nearest over second-nearest: near 0, a row sits on one particular real record rather than among several.
    nearest, second = distances[:, 0], distances[:, 1]
    ratio = np.divide(nearest, second, out=np.ones_like(nearest), where=second > 0)
    return float(np.median(ratio))


def _ratio(value: float, baseline: float) -> float:
    # Both zero: synthetic rows are exactly as close as real new rows are (e.g. an all-categorical table).
    return 1.0 if baseline == 0 and value == 0 else (value / baseline if baseline > 0 else float("inf"))


def _share(mask: np.ndarray) -> float:
    return float(mask.mean()) if len(mask) else 0.0


def _sample(df: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    return df if len(df) <= rows else df.sample(rows, random_state=seed)

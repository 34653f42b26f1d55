"""Mode-specific normalisation: a Gaussian mixture per numeric column, all columns fitted at once.

A column with several peaks (prices that cluster, a bimodal measurement) is poorly served by a
single mean and scale: the generator has to squeeze every peak through one tanh. Instead each
value is described by the mixture component ("mode") it most likely came from, plus its position
inside that component. The mixtures are fitted by one batched variational EM over every numeric
column together (arrays of shape modes x columns x rows), on a bounded random subsample, so fitting
cost does not grow with the table. The model is the one CTGAN fits with scikit-learn, one column at a
time: a Dirichlet-process prior with concentration far below 1 on the weights, under which components
the data does not need die out (a bell curve of a few hundred rows keeps one or two of ten), and a
conjugate prior on each mode's mean and variance.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma

WEIGHT_PRIOR = 1e-3  # Dirichlet-process concentration (as CTGAN's mixture): components nobody needs die out
MIN_WEIGHT = 5e-3  # components lighter than this are dropped after fitting
MIN_STD = 1e-3  # in standardised units: a floor for a constant column
EM_STEPS = 300  # the Dirichlet process prunes slowly: at 100 steps most columns still carry unneeded modes
CONVERGED = 1e-5  # stop once no mode's share of its column's rows moves more than this in one step
ALPHA_SPAN = 4.0  # a value's position within its mode, in mode standard deviations, mapped to [-1, 1]


COLUMN_GROUP = 32  # columns fitted together: bounds the rows x columns x modes working arrays


def fit_modes(z: np.ndarray, max_modes: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Fit a mixture to each column of standardised values `z` (rows x columns, NaN = null).

    Returns per column (means, stds, weights), each sorted by mean, with dead components removed.
    """
    return [fit for start in range(0, z.shape[1], COLUMN_GROUP)
            for fit in _fit_group(z[:, start : start + COLUMN_GROUP], max_modes)]


def _fit_group(z: np.ndarray, max_modes: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Variational inference for a Dirichlet-process Gaussian mixture per column, all columns at once.

    The updates are scikit-learn's BayesianGaussianMixture (one feature, conjugate Normal-Wishart prior
    centred on the column's own mean and variance), written over rows x columns x modes arrays.
    """
    present = np.ascontiguousarray(~np.isnan(z).T)  # cols x rows: each column's rows contiguous
    x = np.where(present, z.T, 0.0).astype(np.float32)  # float32 halves the memory traffic
    rows = np.maximum(present.sum(axis=1), 1)[:, None]
    prior_mean = x.sum(axis=1, dtype=np.float64)[:, None] / rows  # cols x 1
    prior_var = np.maximum(((x - prior_mean) ** 2 * present).sum(axis=1)[:, None] / rows, MIN_STD**2)
    # Start from evenly spaced quantiles, each a narrow component: every component begins inside the data.
    probs = (np.arange(max_modes) + 0.5) / max_modes
    means = np.stack([np.nanquantile(z[:, c], probs) if present[c].any() else np.zeros(max_modes)
                      for c in range(z.shape[1])])  # cols x modes
    # A component starting where the one before it starts (a column with few distinct values) starts
    # empty: split evenly between twins, a value's rows would keep both alive, or merge them with a neighbour.
    offset = np.where(np.diff(means, axis=1, prepend=-np.inf) > 0, 0.0, -np.inf)
    var = np.full_like(means, 1.0 / max_modes**2)
    shares = np.zeros_like(means)
    for _ in range(EM_STEPS):
        resp = _responsibilities(x, present, means, var, offset)  # E-step: P(mode | value)
        counts = resp.sum(axis=2, dtype=np.float64).T  # cols x modes
        centre = np.einsum("kcr,cr->ck", resp, x, dtype=np.float64) / np.maximum(counts, 1e-12)
        spread = np.einsum("kcr,kcr->ck", resp, (x[None] - centre.T[:, :, None].astype(np.float32)) ** 2,
                           dtype=np.float64) / np.maximum(counts, 1e-12)
        # M-step: the prior counts as one pseudo-row at the column's mean and variance, so a handful of
        # rows cannot make a needle-thin mode of their own.
        precision = dof = 1.0 + counts
        means = (prior_mean + counts * centre) / precision
        var = np.maximum((prior_var + counts * spread + counts / precision * (centre - prior_mean) ** 2) / dof,
                         MIN_STD**2)
        offset = _log_stick_weights(counts) - 0.5 * np.log(var * dof) + 0.5 * (digamma(dof / 2) - 1.0 / precision)
        previous, shares = shares, counts / rows
        if np.abs(shares - previous).max() < CONVERGED:
            break
    weights = _stick_weights(counts)
    fitted = []
    for c in range(z.shape[1]):
        keep = weights[c] > MIN_WEIGHT
        if not keep.any():
            keep = weights[c] == weights[c].max()
        order = np.argsort(means[c][keep])
        w = weights[c][keep][order]
        fitted.append((means[c][keep][order], np.sqrt(var[c][keep][order]), w / w.sum()))
    return fitted


def _stick_beta(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Posterior Beta(a, b) of each stick-breaking fraction: a counts the mode's rows, b the later modes'."""
    later = counts.sum(axis=1, keepdims=True) - np.cumsum(counts, axis=1)
    return 1.0 + counts, WEIGHT_PRIOR + later


def _log_stick_weights(counts: np.ndarray) -> np.ndarray:
    """E[log weight] of each mode under the Dirichlet process: E[log v_k] + sum over j < k of E[log(1 - v_j)]."""
    a, b = _stick_beta(counts)
    log_rest = digamma(b) - digamma(a + b)
    return digamma(a) - digamma(a + b) + np.concatenate([np.zeros_like(a[:, :1]), np.cumsum(log_rest, axis=1)[:, :-1]], axis=1)


def _stick_weights(counts: np.ndarray) -> np.ndarray:
    a, b = _stick_beta(counts)
    rest = b / (a + b)
    return a / (a + b) * np.concatenate([np.ones_like(a[:, :1]), np.cumprod(rest, axis=1)[:, :-1]], axis=1)


def _responsibilities(x: np.ndarray, present: np.ndarray, means: np.ndarray, var: np.ndarray,
                      offset: np.ndarray) -> np.ndarray:
    """P(mode | value), modes x cols x rows (zero for nulls), from each mode's expected log density.

    This is the fit's only work that grows with the rows, so it runs in place on one float32 array laid
    out modes, then columns, then rows: reductions over modes add whole slabs instead of runs of ten, and
    every operation sweeps long contiguous runs of rows.
    """
    def per_mode(values: np.ndarray) -> np.ndarray:  # cols x modes -> modes x cols x 1
        return values.T[:, :, None].astype(np.float32)

    log_p = x[None] - per_mode(means)
    log_p *= log_p
    log_p *= per_mode(-0.5 / var)
    log_p += per_mode(offset)
    log_p -= log_p.max(axis=0)
    np.maximum(log_p, -80.0, out=log_p)  # exp(-80) is still a normal float32: denormals are ~50x slower
    np.exp(log_p, out=log_p)
    log_p /= log_p.sum(axis=0)
    log_p *= present
    return log_p


def assign_modes(z: np.ndarray, means: np.ndarray, stds: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The most likely mode of each value of one column and its position in it, in [-1, 1]."""
    log_p = np.log(weights)[None] - np.log(stds)[None] - 0.5 * ((z[:, None] - means[None]) / stds[None]) ** 2
    mode = log_p.argmax(axis=1)
    alpha = np.clip((z - means[mode]) / (ALPHA_SPAN * stds[mode]), -1.0, 1.0)
    return mode, alpha


def values_from_modes(alpha: np.ndarray, mode: np.ndarray, means: np.ndarray, stds: np.ndarray) -> np.ndarray:
    return means[mode] + np.clip(alpha, -1.0, 1.0) * ALPHA_SPAN * stds[mode]

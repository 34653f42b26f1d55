"""The quality gate for sequences: marginals, autocorrelation, cross-correlation, discriminative and predictive
scores (the TimeGAN protocol), nearest-sequence privacy and a Great Expectations suite on the step values.

Numbers are min-max scaled by the real train range (as TimeGAN scales them), so the predictive MAE reads on
that scale; categories enter the classifiers as their level codes. Real means the train entities; the
held-out entities (never trained on) are the new real data the predictor is scored on and the privacy baseline.
Privacy compares windows by their paths: each number's level and spread within a window are taken out, because
held-out data sits at other levels for reasons that have nothing to do with copying (a trending single series'
last part lies above every train window; a held-out stock trades at another price), while a copied window, at
whatever level, still lies on its original.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from synthpipe.config import TimeSeriesConfig, ValidateConfig
from synthpipe.gate.checks import check, checks_markdown, describe_failure, verdict
from synthpipe.gate.expectations import expectation_specs, run_expectations
from synthpipe.gate.metrics import column_shape
from synthpipe.schema import infer_kinds
from synthpipe.timeseries.frame import Layout, starts_and_lengths, windows


def entity_key(df: pd.DataFrame, layout: Layout) -> pd.Series:
    return df[layout.entity] if layout.entity else df.get("series", pd.Series(0, index=df.index))


def step_features(df: pd.DataFrame, steps: list[dict]) -> np.ndarray:
    """Steps x value columns: numbers scaled to [0, 1] by the real train range, categories as level codes, NaN for
    nulls."""
    parts = []
    for c in steps:
        if c["name"] not in df.columns:
            continue  # the gap channel of irregular series
        series = df[c["name"]]
        if c["kind"] == "number":
            parts.append((series.to_numpy(float, na_value=np.nan) - c["low"]) / max(c["high"] - c["low"], 1e-12))
        else:
            codes = pd.Categorical(series.astype(object), categories=c["levels"]).codes.astype(float)
            parts.append(np.where(codes < 0, np.nan, codes))
    return np.stack(parts, axis=1)


def padded(df: pd.DataFrame, layout: Layout, features: np.ndarray) -> np.ndarray:
    """Entities x longest x features, NaN past an entity's end."""
    offsets, lengths = starts_and_lengths(entity_key(df, layout))
    out = np.full((len(lengths), lengths.max(), features.shape[1]), np.nan)
    owner = np.repeat(np.arange(len(lengths)), lengths)
    out[owner, np.arange(len(owner)) - np.repeat(offsets, lengths)] = features
    return out


def acf(values: np.ndarray, lags: int) -> np.ndarray:
    """Autocorrelation at lags 1..`lags` per feature (entities x steps x features in), averaged over entities."""
    x = values - np.nanmean(values, axis=1, keepdims=True)
    present = ~np.isnan(x)
    x = np.where(present, x, 0.0)
    denominator = (x**2).sum(axis=1)
    curves = []
    for k in range(1, lags + 1):
        numerator = (x[:, :-k] * x[:, k:]).sum(axis=1) if k < x.shape[1] else np.zeros_like(denominator)
        with np.errstate(invalid="ignore", divide="ignore"):
            curves.append(np.nanmean(np.where(denominator > 0, numerator / denominator, np.nan), axis=0))
    return np.array(curves)  # lags x features


def cut(df: pd.DataFrame, layout: Layout, features: np.ndarray, width: int, stride: int) -> np.ndarray:
    """Every complete window of `width` steps (windows x width x features)."""
    offsets, lengths = starts_and_lengths(entity_key(df, layout))
    steps, inside, _, _ = windows(features, np.zeros((len(features), 0)), offsets, lengths, width, stride)
    return steps[:, 1:][inside.all(axis=1)]


def discriminative_score(real: np.ndarray, synthetic: np.ndarray, iterations: int, seed: int) -> float | None:
    """|accuracy - 0.5| of a classifier telling real windows from synthetic ones on a held-out quarter."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import train_test_split

    count = min(len(real), len(synthetic))
    if count < 4:
        return None
    rng = np.random.default_rng(seed)
    x = np.concatenate([real[rng.permutation(len(real))[:count]], synthetic[rng.permutation(len(synthetic))[:count]]])
    y = np.r_[np.ones(count), np.zeros(count)]
    x_fit, x_test, y_fit, y_test = train_test_split(x.reshape(len(x), -1), y, test_size=0.25, random_state=seed,
                                                    stratify=y)
    model = HistGradientBoostingClassifier(max_iter=iterations, early_stopping=False, random_state=seed)
    return float(abs(model.fit(x_fit, y_fit).score(x_test, y_test) - 0.5))


def predictive_mae(train: np.ndarray, test: np.ndarray, numbers: np.ndarray) -> float | None:
    """Mean absolute error of a linear next-step predictor (last step's numbers from the steps before), fitted on
    `train` windows and scored on `test` windows."""
    from sklearn.linear_model import Ridge

    if len(train) < 2 or len(test) == 0 or not numbers.any():
        return None
    x_fit, y_fit = np.nan_to_num(train[:, :-1].reshape(len(train), -1)), np.nan_to_num(train[:, -1, numbers])
    x_test, y_test = np.nan_to_num(test[:, :-1].reshape(len(test), -1)), test[:, -1, numbers]
    predicted = Ridge(alpha=1e-3).fit(x_fit, y_fit).predict(x_test).reshape(y_test.shape)
    return float(np.nanmean(np.abs(predicted - y_test)))


# Features are scaled to [0, 1] by the train range: a window whose number moves less than 1% of that range is
# compared as flat, not with its wiggles blown up to the size of a real movement.
SPREAD_FLOOR = 0.01


def paths(windows: np.ndarray, numbers: np.ndarray) -> np.ndarray:
    """Windows (windows x width x features) with each number centred on its window mean and divided by its window
    spread (at least SPREAD_FLOOR); categories as they are; nulls stay null."""
    out = windows.copy()
    values = windows[:, :, numbers]
    present = ~np.isnan(values)
    count = np.maximum(present.sum(axis=1, keepdims=True), 1)
    mean = np.where(present, values, 0.0).sum(axis=1, keepdims=True) / count
    spread = np.sqrt(np.where(present, (values - mean) ** 2, 0.0).sum(axis=1, keepdims=True) / count)
    out[:, :, numbers] = (values - mean) / np.maximum(spread, SPREAD_FLOOR)
    return out


def window_privacy(train: np.ndarray, synthetic: np.ndarray, holdout: np.ndarray, numbers: np.ndarray) -> dict:
    """Median distance from synthetic windows to their nearest train window, over the same for held-out windows,
    both compared by their paths."""
    reference = paths(train, numbers)
    figures = {"synthetic_median": float(np.median(nearest_distances(reference, paths(synthetic, numbers)))),
               "holdout_median": float(np.median(nearest_distances(reference, paths(holdout, numbers))))}
    return figures | {"ratio": figures["synthetic_median"] / max(figures["holdout_median"], 1e-12)}


def nearest_distances(reference: np.ndarray, queries: np.ndarray) -> np.ndarray:
    from synthpipe.gate.privacy import neighbour_distances

    flat = lambda w: np.nan_to_num(w.reshape(len(w), -1), nan=-1.0)  # noqa: E731  a null is far from any number
    return neighbour_distances(flat(reference), flat(queries))[:, 0]


def assess(real: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame, series: dict, cfg: TimeSeriesConfig,
           seed: int, expectations_dir, docs_dir) -> dict:
    v, layout, steps = cfg.validate, Layout(**series["layout"]), series["steps"]
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    f_real, f_holdout, f_syn = (step_features(df, steps) for df in (real, holdout, synthetic))
    value_steps = [c for c in steps if c["name"] in layout.values]
    numbers = np.array([c["kind"] == "number" for c in value_steps])
    # Marginals: every value and context column.
    columns = layout.values + layout.context
    kinds = infer_kinds(real[columns])
    shapes = {name: column_shape(real[name], synthetic[name], kinds[name]) for name in columns}
    # Autocorrelation and cross-correlation of the numbers.
    acf_real = acf(padded(real, layout, f_real[:, numbers]), v.lags)
    acf_syn = acf(padded(synthetic, layout, f_syn[:, numbers]), v.lags)
    acf_distance = float(np.nanmean(np.abs(acf_real - acf_syn))) if numbers.any() else None
    cross = None
    if numbers.sum() >= 2:
        c_real = pd.DataFrame(f_real[:, numbers]).corr().to_numpy()
        c_syn = pd.DataFrame(f_syn[:, numbers]).corr().to_numpy()
        upper = np.triu_indices(numbers.sum(), k=1)
        cross = float(np.nanmean(np.abs(c_real - c_syn)[upper]))
    seconds["statistics"] = time.perf_counter() - started
    # Windows no longer than the shortest sequence on any side, so that every entity gives at least one.
    shortest = min(starts_and_lengths(entity_key(df, layout))[1].min() for df in (real, holdout, synthetic))
    width = int(min(cfg.window, shortest))
    w_real, w_holdout, w_syn = (cut(df, layout, f, width, cfg.stride)
                                for df, f in ((real, f_real), (holdout, f_holdout), (synthetic, f_syn)))
    started = time.perf_counter()
    discriminative = discriminative_score(w_real, w_syn, v.classifier_iterations, seed)
    seconds["discriminative"] = time.perf_counter() - started
    lagged = min(v.lags + 1, width)
    p_real, p_holdout, p_syn = (cut(df, layout, f, lagged, 1)
                                for df, f in ((real, f_real), (holdout, f_holdout), (synthetic, f_syn)))
    tstr, trtr = predictive_mae(p_syn, p_holdout, numbers), predictive_mae(p_real, p_holdout, numbers)
    privacy = window_privacy(w_real, w_syn, w_holdout, numbers)
    started = time.perf_counter()
    specs = expectation_specs(real[columns], kinds, rows=len(synthetic), cfg=ValidateConfig())
    results = run_expectations(specs, synthetic[columns], expectations_dir, docs_dir)
    seconds["expectations"] = time.perf_counter() - started
    report = {
        "modality": "timeseries",
        "entities": {name: int(entity_key(df, layout).nunique()) for name, df in
                     (("real_train", real), ("holdout", holdout), ("synthetic", synthetic))},
        "rows": {"real_train": len(real), "holdout": len(holdout), "synthetic": len(synthetic)},
        "fidelity": {"column_shapes": shapes, "mean_column_shape": float(np.mean(list(shapes.values()))),
                     "worst_column": min(shapes, key=shapes.get), "acf_distance": acf_distance,
                     "cross_correlation_diff": cross, "discriminative_score": discriminative, "window": width,
                     "windows": {"real": len(w_real), "synthetic": len(w_syn), "holdout": len(w_holdout)}},
        "acf": {"lags": list(range(1, v.lags + 1)),
                "columns": [c["name"] for c, n in zip(value_steps, numbers) if n],
                "real": np.nan_to_num(acf_real).tolist(), "synthetic": np.nan_to_num(acf_syn).tolist()},
        "utility": {"predictive_mae_synthetic": tstr, "predictive_mae_real": trtr,
                    "ratio": None if tstr is None or not trtr else tstr / trtr, "lags": lagged - 1},
        "privacy": privacy,
        "expectations": {"evaluated": len(results), "failed": sum(not r["success"] for r in results),
                         "results": results},
        "seconds": seconds,
    }
    report["checks"] = gate_checks(report, v)
    verdict(report)
    return report


def gate_checks(report: dict, v) -> list[dict]:
    """Every thresholded figure as {check, value, limit, passed, reason}; passed is None when not computed."""
    f, u, p = report["fidelity"], report["utility"], report["privacy"]
    failed = [item for item in report["expectations"]["results"] if not item["success"]]
    listed = "; ".join(describe_failure(item) for item in failed[:8])
    return [
        check("expectations failed", len(failed), "<=", v.max_failed_expectations, lambda x, t:
               f"{x:.0f} expectations on the step values failed (allowed {t}): {listed}"),
        check("mean column shape", f["mean_column_shape"], ">=", v.min_column_shape, lambda x, t:
               f"step values are distributed unlike the real ones: mean shape similarity {x:.3f} < {t} "
               f"(worst column '{f['worst_column']}')"),
        check("ACF distance", f["acf_distance"], "<=", v.max_acf_distance, lambda x, t:
               f"the synthetic sequences move unlike the real ones: mean autocorrelation difference over "
               f"the first {len(report['acf']['lags'])} lags {x:.3f} > {t}"),
        check("cross-correlation difference", f["cross_correlation_diff"], "<=", v.max_cross_correlation_diff,
               lambda x, t: f"value columns move together unlike the real ones: mean correlation difference "
               f"{x:.3f} > {t}"),
        check("discriminative score", f["discriminative_score"], "<=", v.max_discriminative_score, lambda x, t:
               f"a classifier tells synthetic windows from real ones: |accuracy - 0.5| = {x:.3f} > {t}"),
        check("predictive ratio", u["ratio"], "<=", v.max_predictive_ratio, lambda x, t:
               f"a next-step predictor trained on synthetic sequences does much worse on held-out real entities "
               f"than one trained on real sequences: MAE {u['predictive_mae_synthetic']:.4f} vs "
               f"{u['predictive_mae_real']:.4f} ({x:.2f}x > {t}x)"),
        check("privacy ratio", p["ratio"], ">=", v.min_privacy_ratio, lambda x, t:
               f"synthetic windows sit much closer to real train windows than windows of held-out entities do, a "
               f"sign of memorised sequences: median nearest distance {x:.3f} x the held-out baseline (< {t})"),
    ]


def write_plots(report: dict, real: pd.DataFrame, synthetic: pd.DataFrame, series: dict, out_dir) -> dict:
    """Real and synthetic sequences side by side, ACF curves, and the marginals."""
    from synthpipe.gate.plots import _pyplot, _save, plot_marginals

    plt, layout = _pyplot(), Layout(**series["layout"])
    shapes = report["fidelity"]["column_shapes"]
    plot_marginals(real, synthetic, infer_kinds(real[list(shapes)]), shapes, out_dir / "marginals.png")
    names = report["acf"]["columns"][:4]
    figure, axes = plt.subplots(max(1, len(names)), 2, figsize=(11, 2.8 * max(1, len(names))), squeeze=False)
    for row, name in enumerate(names):
        for ax, df, title in ((axes[row, 0], real, "real"), (axes[row, 1], synthetic, "synthetic")):
            keys = entity_key(df, layout)
            for key in pd.unique(keys)[:8]:
                ax.plot(df[layout.time][keys == key].to_numpy(), df[name][keys == key].to_numpy(), lw=1)
            ax.set_title(f"{name}: {title}", fontsize=9)
    _save(figure, out_dir / "sequences.png")
    figure, axes = plt.subplots(1, max(1, len(names)), figsize=(4 * max(1, len(names)), 3), squeeze=False)
    for i, name in enumerate(names):
        ax = axes[0, i]
        ax.plot(report["acf"]["lags"], np.array(report["acf"]["real"])[:, i], marker="o", label="real")
        ax.plot(report["acf"]["lags"], np.array(report["acf"]["synthetic"])[:, i], marker="o", label="synthetic")
        ax.set_title(f"ACF of {name}", fontsize=9)
        ax.set_xlabel("lag")
        ax.legend(fontsize=8)
    _save(figure, out_dir / "acf.png")
    return {name: f"reports/plots/{name}.png" for name in ("sequences", "acf", "marginals")}


def render_summary(report: dict) -> str:
    f, u, p = report["fidelity"], report["utility"], report["privacy"]
    e = report["entities"]
    lines = [f"# Time-series quality gate: {'PASSED' if report['passed'] else 'FAILED'}", ""]
    lines += [f"- {reason}" for reason in report["reasons"]] + [""] if report["reasons"] else []
    lines += checks_markdown(report)
    lines += ["## Figures", "",
              f"Entities: {e['real_train']} real train, {e['holdout']} held out, {e['synthetic']} synthetic. "
              f"Windows of {f['window']} steps: {f['windows']['real']} real, {f['windows']['synthetic']} synthetic, "
              f"{f['windows']['holdout']} held out.", "",
              f"- predictive MAE (next step, numbers scaled to [0, 1]) on held-out entities: trained on synthetic "
              f"{_fmt(u['predictive_mae_synthetic'])}, trained on real {_fmt(u['predictive_mae_real'])}",
              f"- median nearest-window distance: synthetic {p['synthetic_median']:.4f}, held-out real "
              f"{p['holdout_median']:.4f}",
              "", "![sequences](plots/sequences.png)", "![acf](plots/acf.png)", "![marginals](plots/marginals.png)", ""]
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"

"""The quality gate: every figure on synthetic data against real data, thresholds, and the verdict.

Sections: expectations, fidelity, diversity, utility, augmentation, privacy. Each thresholded figure
becomes a check with a plain-language reason when it fails; any failed check fails the gate.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from synthpipe.config import MergeConfig, ValidateConfig
from synthpipe.errors import InputError
from synthpipe.gate.evaluation import Scorer, augmentation_curve, detection, task_for, utility
from synthpipe.gate.expectations import expectation_specs, run_expectations
from synthpipe.gate.features import FeatureSpace
from synthpipe.gate.metrics import (
    column_shapes,
    contingency_similarities,
    correlation_difference,
    coverage,
    duplicate_share,
)
from synthpipe.gate.privacy import copy_mask, privacy_figures
from synthpipe.merge import select_synthetic
from synthpipe.schema import infer_kinds


def assess(real: pd.DataFrame, synthetic: pd.DataFrame, cfg: ValidateConfig, holdout: pd.DataFrame | None = None,
           target: str | None = None, merge: MergeConfig = MergeConfig(), seed: int = 0,
           expectations_dir: Path | None = None, docs_dir: Path | None = None) -> dict:
    """All gate figures for `synthetic` against `real` train data (and the real `holdout`, never trained on,
    for utility, augmentation and privacy baselines), the checks, the verdict and its reasons."""
    _check_inputs(real, synthetic, holdout, target)
    kinds = infer_kinds(real)
    shared = {name: kind for name, kind in kinds.items() if name in synthetic.columns}
    comparable = synthetic[list(shared)]
    space = FeatureSpace.fit(real, shared)
    timings: dict[str, float] = {}
    with _timed(timings, "expectations"):
        specs = expectation_specs(real, kinds, rows=len(synthetic), cfg=cfg)
        results = run_expectations(specs, synthetic, expectations_dir, docs_dir)
    with _timed(timings, "fidelity"), single_thread():
        fidelity = _fidelity(real, comparable, holdout, shared, space, cfg, seed)
    with _timed(timings, "diversity"):
        diversity = _diversity(real, comparable, shared)
    with _timed(timings, "privacy"):
        privacy = privacy_figures(real[list(shared)], comparable, None if holdout is None else holdout[list(shared)],
                                  space, cfg.sample_rows, seed)
    with _timed(timings, "utility"), single_thread():
        utility_report, augmentation = _learned(real, comparable, holdout, target, shared, cfg, merge, seed)
    report = {
        "rows": {"real_train": len(real), "synthetic": len(synthetic),
                 "holdout": None if holdout is None else len(holdout)},
        "sampling": {"seed": seed, "sample_rows": cfg.sample_rows,
                     "sampled": max(len(real), len(synthetic), len(holdout) if holdout is not None else 0)
                     > cfg.sample_rows},
        "expectations": {"evaluated": len(results), "failed": sum(not r["success"] for r in results),
                         "suite": specs, "results": results},
        "fidelity": fidelity, "diversity": diversity, "utility": utility_report, "augmentation": augmentation,
        "privacy": privacy, "seconds": timings,
    }
    report["checks"] = gate_checks(report, cfg)
    report["reasons"] = [check["reason"] for check in report["checks"] if check["passed"] is False]
    report["passed"] = not report["reasons"]
    return report


def single_thread():
    """One thread for the many small model fits: on bounded samples threading gains little, and OpenMP threads
    spinning against other busy processes made each fit 20x slower on a shared 2-core machine."""
    return threadpool_limits(1)


def _check_inputs(real: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame | None,
                  target: str | None) -> None:
    for name, table in (("real train", real), ("synthetic", synthetic)):
        if len(table) == 0:
            raise InputError(f"the {name} data has no rows")
    if holdout is not None and list(holdout.columns) != list(real.columns):
        raise InputError(f"holdout columns {list(holdout.columns)} do not match real columns {list(real.columns)}")
    if target is not None and target not in real.columns:
        raise InputError(f"target column '{target}' is not in the real data (columns: {list(real.columns)})")


class _timed:
    def __init__(self, timings: dict, name: str):
        self.timings, self.name = timings, name

    def __enter__(self):
        self.started = time.perf_counter()

    def __exit__(self, *exc):
        self.timings[self.name] = round(time.perf_counter() - self.started, 3)


def _fidelity(real, synthetic, holdout, kinds, space, cfg: ValidateConfig, seed: int) -> dict:
    # Detection compares with real rows the generator never saw: a generator that reuses train values puts copies
    # of a scored train row's values among the fitted synthetic rows, which pulls the AUC below 0.5 (a copula on
    # breast cancer scored 0.41 against its train rows). Without a holdout, the train rows are all there is.
    reference = holdout[list(kinds)] if holdout is not None else real[list(kinds)]

    def detect(other):  # None when too few rows for the folds
        if other is None or min(len(reference), len(other)) < cfg.detection_folds:
            return {"auc": None, "low": None, "high": None}
        return detection(reference, other[list(kinds)], space, cfg.sample_rows, cfg.detection_folds, seed,
                         cfg.model_iterations)

    synthetic_vs_real = detect(synthetic)
    shapes = column_shapes(real, synthetic, kinds)
    pairs = contingency_similarities(real, synthetic, kinds, cfg.max_pairs)
    worst, worst_pair = _argmin(shapes), _argmin(pairs)
    return {
        "mean_column_shape": _mean(shapes.values()),
        "worst_column": worst,
        "worst_column_shape": shapes.get(worst),
        "correlation_difference": correlation_difference(real, synthetic, kinds),
        "contingency_similarity": _mean(pairs.values()),
        "worst_pair": worst_pair,
        "worst_pair_similarity": pairs.get(worst_pair),
        "detection_auc": synthetic_vs_real["auc"],
        "detection_interval": [synthetic_vs_real["low"], synthetic_vs_real["high"]],
        "detection_reference": "holdout" if holdout is not None else "train",
        # The same procedure on real train rows in place of synthetic ones: what a perfect generator would score
        # at this sample size (near 0.5; how far it strays shows how far chance alone moves the figure).
        "detection_floor": detect(real)["auc"] if holdout is not None else None,
        "column_shapes": shapes,
        "pair_similarities": pairs,
    }


def _diversity(real, synthetic, kinds) -> dict:
    covered = coverage(real, synthetic, kinds)
    worst_category, worst_range = _argmin(covered["categories"]), _argmin(covered["ranges"])
    return {
        "duplicate_share": duplicate_share(synthetic),
        "real_duplicate_share": duplicate_share(real[list(kinds)]),
        "category_coverage": covered["categories"].get(worst_category),
        "least_covered_categorical": worst_category,
        "range_coverage": covered["ranges"].get(worst_range),
        "least_covered_numeric": worst_range,
        "columns": covered,
    }


def _learned(real, synthetic, holdout, target, kinds, cfg: ValidateConfig, merge: MergeConfig, seed: int):
    """Utility and augmentation, on the real holdout; both need a target and a holdout."""
    if (target is None or holdout is None or len(kinds) < len(real.columns)
            or synthetic[target].notna().sum() == 0):
        missing = ("a target column" if target is None else "a real holdout" if holdout is None
                   else "synthetic data with every real column" if len(kinds) < len(real.columns)
                   else f"synthetic values of the target '{target}'")
        note = {"skipped": f"needs {missing}"}
        return note, note
    task = cfg.task if cfg.task != "auto" else task_for(real[target], kinds[target])
    space = FeatureSpace.fit(real, kinds, exclude=(target,))
    scorer = Scorer(_capped(holdout, cfg.sample_rows * 4, seed), target, task, space, cfg.model_iterations)
    train = _capped(real, cfg.sample_rows, seed)
    # The pool in its own order, as merge takes it, without exact copies (merge never adds them).
    pool = synthetic[~copy_mask(synthetic, real[list(kinds)])]
    select = partial(_policy_rows, merge=merge, target=target, full_rows=len(real))
    fractions = cfg.augmentation_fractions if 1.0 in cfg.augmentation_fractions else [*cfg.augmentation_fractions, 1.0]
    points = augmentation_curve(scorer, train, pool, select, fractions, cfg.augmentation_repeats, seed)
    full = points[-1]  # all real train rows: the training set merge will produce
    augmentation = {"metric": scorer.metric, "policy": merge.policy, "points": points,
                    "fraction": full["fraction"], "gain": full["gain"], "real_score": full["real_score"],
                    "augmented_score": full["augmented_score"]}
    tstr = utility(full["real_score"], scorer, _capped(synthetic, cfg.sample_rows, seed), seed)
    return {"target": target} | tstr, augmentation


def _policy_rows(subset: pd.DataFrame, pool: pd.DataFrame, fraction: float, merge: MergeConfig, target: str,
                 full_rows: int) -> pd.DataFrame:
    rows, _ = select_synthetic(subset, pool, merge, target, scale=len(subset) / full_rows)
    return rows


def _capped(df: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    return df if len(df) <= rows else df.sample(rows, random_state=seed).reset_index(drop=True)


def gate_checks(report: dict, cfg: ValidateConfig) -> list[dict]:
    """Every thresholded figure as {check, value, limit, passed, reason}; passed is None when not computed."""
    f, d, u, a, p = (report[k] for k in ("fidelity", "diversity", "utility", "augmentation", "privacy"))
    failed = [item for item in report["expectations"]["results"] if not item["success"]]
    listed = "; ".join(describe_failure(item) for item in failed[:8])
    copy_excess = p["exact_copy_share"] - (p["holdout_exact_copy_share"] or 0.0)
    return [
        _check("expectations failed", len(failed), "<=", cfg.max_failed_expectations, lambda v, t:
               f"{v:.0f} expectations failed (allowed {t}): {listed}"),
        _check("mean column shape", f["mean_column_shape"], ">=", cfg.min_column_shape, lambda v, t:
               f"column distributions differ from the real data: mean shape similarity {v:.3f} < {t}"),
        _check("worst column shape", f["worst_column_shape"], ">=", cfg.min_worst_column_shape, lambda v, t:
               f"column '{f['worst_column']}' is far from its real distribution: shape similarity {v:.3f} < {t}"),
        _check("correlation difference", f["correlation_difference"], "<=", cfg.max_correlation_diff, lambda v, t:
               f"relationships between numeric columns are lost: mean correlation difference {v:.3f} > {t}"),
        _check("contingency similarity", f["contingency_similarity"], ">=", cfg.min_contingency_similarity, lambda v, t:
               f"relationships of categorical columns are lost: mean contingency similarity {v:.3f} < {t} "
               f"(worst pair {f['worst_pair']})"),
        _check("detection AUC", f["detection_auc"], "<=", cfg.max_detection_auc, lambda v, t:
               f"a classifier tells synthetic rows from real ones: detection ROC AUC {v:.3f} > {t} "
               "(0.5 = indistinguishable)"),
        _check("duplicate share", d["duplicate_share"] - d["real_duplicate_share"], "<=", cfg.max_duplicate_share,
               lambda v, t: f"the generator repeats itself (mode collapse): {d['duplicate_share']:.1%} of synthetic "
               f"rows are duplicates, vs {d['real_duplicate_share']:.1%} of real rows (excess {v:.3f} > {t})"),
        _check("category coverage", d["category_coverage"], ">=", cfg.min_category_coverage, lambda v, t:
               f"the generator collapsed onto few categories (mode collapse): column "
               f"'{d['least_covered_categorical']}' shows only {v:.0%} of its common real categories (< {t})"),
        _check("range coverage", d["range_coverage"], ">=", cfg.min_range_coverage, lambda v, t:
               f"the generator collapsed onto a narrow range (mode collapse): column '{d['least_covered_numeric']}' "
               f"spans only {v:.0%} of its real range (< {t})"),
        _check("utility gap", u.get("gap"), "<=", cfg.max_utility_gap, lambda v, t:
               f"a model trained on synthetic data predicts '{u['target']}' much worse than one trained on real "
               f"data: holdout {u['metric']} {u['tstr']:.3f} vs {u['trtr']:.3f} (gap {v:.3f} > {t})"),
        _check("augmentation loss", None if "gain" not in a else -a["gain"], "<=", cfg.max_augmentation_loss,
               lambda v, t: f"adding synthetic rows makes the model worse on the real holdout: {a['metric']} "
               f"{a['real_score']:.3f} -> {a['augmented_score']:.3f} (loss {v:.3f} > {t})"),
        _check("exact copies", copy_excess, "<=", cfg.max_exact_copy_share, lambda v, t:
               f"synthetic data copies real train rows: {p['exact_copies']} rows ({p['exact_copy_share']:.1%}) are "
               f"identical to a train row, vs {(p['holdout_exact_copy_share'] or 0):.1%} of real holdout rows "
               f"(excess {v:.3f} > {t})"),
        _check("DCR ratio", p["dcr_ratio"], ">=", cfg.min_dcr_ratio, lambda v, t:
               f"synthetic rows sit much closer to train rows than new real rows do, a sign of memorised rows: "
               f"median distance to closest record is {v:.3f} x the holdout's (< {t})"),
        _check("NNDR ratio", p["nndr_ratio"], ">=", cfg.min_nndr_ratio, lambda v, t:
               f"synthetic rows sit on single train records rather than among them: median nearest-neighbour "
               f"distance ratio is {v:.3f} x the holdout's (< {t})"),
    ]


def _check(name: str, value, op: str, limit, reason) -> dict:
    if value is None:
        return {"check": name, "value": None, "limit": f"{op} {limit}", "passed": None, "reason": None}
    passed = bool(value <= limit) if op == "<=" else bool(value >= limit)
    return {"check": name, "value": float(value), "limit": f"{op} {limit}", "passed": passed,
            "reason": None if passed else reason(float(value), limit)}


def describe_failure(item: dict) -> str:
    where = f"column '{item['column']}'" if item["column"] else "table"
    name = item["expectation"].removeprefix("expect_").replace("_", " ")
    examples = list(dict.fromkeys(item["unexpected_examples"]))[:3]
    detail = f", e.g. {', '.join(examples)}" if examples else ""
    observed = f" (observed {item['observed']})" if item["observed"] is not None and not detail else ""
    return f"{where}: {name}{observed}{detail}"


def _argmin(scores: dict[str, float]) -> str | None:
    return min(scores, key=scores.get) if scores else None


def _mean(values) -> float | None:
    values = [v for v in values if v is not None and not np.isnan(v)]
    return float(np.mean(values)) if values else None

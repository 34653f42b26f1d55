"""The quality gate: every figure on synthetic data against real data, thresholds, and the verdict.

Sections: expectations, fidelity, diversity, utility, augmentation, privacy. Each thresholded figure
becomes a check with a plain-language reason when it fails; any failed check fails the gate.
"""

from __future__ import annotations

import math
import time
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from synthpipe.config import MergeConfig, TrainConfig, ValidateConfig
from synthpipe.constraints import holds, suggestions
from synthpipe.constraints import parse as parse_constraint
from synthpipe.errors import REFIT_FAILURES, InputError
from synthpipe.gate.checks import check, expectations_check, verdict
from synthpipe.gate.evaluation import Scorer, detection, task_for, utility
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
from synthpipe.gate.scarcity import Refit, scarcity_curve, scarcity_verdict
from synthpipe.io import frame_hash
from synthpipe.merge import policy_demand, select_synthetic
from synthpipe.schema import infer_kinds


def assess(real: pd.DataFrame, synthetic: pd.DataFrame, cfg: ValidateConfig, holdout: pd.DataFrame | None = None,
           target: str | None = None, merge: MergeConfig = MergeConfig(), seed: int = 0,
           expectations_dir: Path | None = None, docs_dir: Path | None = None,
           train: TrainConfig | None = None, identifiers: dict[str, str] | None = None,
           constraints: list[str] = ()) -> dict:
    """All gate figures for `synthetic` against `real` train data (and the real `holdout`, never trained on,
    for utility, augmentation and privacy baselines), the checks, the verdict and its reasons. `train`: the
    generator settings the run used, refitted on subsets for the scarcity curve (None: no refits, a leaky curve).

    `identifiers` (column -> fresh | keep | drop, synthpipe.identifiers) are judged apart: no fresh value may equal
    a real one; every other figure leaves them out (an id says nothing of a row's distribution or distance).
    `constraints` (train.constraints) must hold on every synthetic row they apply to; relations the real rows
    obey exactly but no constraint declares are suggested."""
    _check_inputs(real, synthetic, holdout, target)
    identifiers = {name: mode for name, mode in (identifiers or {}).items() if name in real.columns}
    id_report = identifier_figures(real, synthetic, holdout, identifiers)
    real, synthetic = real.drop(columns=list(identifiers)), synthetic.drop(columns=list(identifiers), errors="ignore")
    holdout = None if holdout is None else holdout.drop(columns=list(identifiers))
    kinds = infer_kinds(real)
    shared = {name: kind for name, kind in kinds.items() if name in synthetic.columns}
    comparable = synthetic[list(shared)]
    space = FeatureSpace.fit(real, shared)
    timings: dict[str, float] = {}
    rules = [parse_constraint(text) for text in constraints]
    held = {f"holds: {rule.text}": holds(rule, synthetic) for rule in rules}
    with _timed(timings, "expectations"):
        specs = with_constraints(expectation_specs(real, kinds, rows=len(synthetic), cfg=cfg), held)
        results = run_expectations(specs, synthetic.assign(**held), expectations_dir, docs_dir)
    with _timed(timings, "fidelity"), single_thread():
        fidelity = _fidelity(real, comparable, holdout, shared, space, cfg, seed)
    with _timed(timings, "diversity"):
        diversity = _diversity(real, comparable, shared, seed)
    with _timed(timings, "privacy"):
        privacy = privacy_figures(real[list(shared)], comparable, None if holdout is None else holdout[list(shared)],
                                  space, cfg.sample_rows, seed)
    with _timed(timings, "utility and scarcity"), single_thread():
        utility_report, augmentation = _scored_or_why(
            lambda: learned(real, comparable, holdout, target, shared, cfg, merge, seed, train),
            lambda why: ({"skipped": why},) * 2)
    holdout_rows = None if holdout is None else len(holdout)
    report = {
        "modality": "table",
        "rows": {"real_train": len(real), "synthetic": len(synthetic), "holdout": holdout_rows},
        "sampling": {"seed": seed, "sample_rows": cfg.sample_rows,
                     "sampled": max(len(real), len(synthetic), holdout_rows or 0) > cfg.sample_rows},
        "expectations": {"evaluated": len(results), "failed": sum(not r["success"] for r in results),
                         "suite": specs, "results": results},
        "fidelity": fidelity, "diversity": diversity, "utility": utility_report, "augmentation": augmentation,
        "privacy": privacy, "identifiers": id_report, "seconds": timings,
        "constraints": [{"constraint": name.removeprefix("holds: "), "rows": int(h.notna().sum()),
                         "broken": int(h.eq(False).sum())} for name, h in held.items()],
        "constraint_suggestions": [text for text in suggestions(real) if text not in constraints],
    }
    report["checks"] = gate_checks(report, cfg)
    verdict(report)
    return report


def with_constraints(specs: list[dict], held: dict[str, pd.Series]) -> list[dict]:
    """`specs` plus one expectation per constraint: its column of per-row verdicts (null where it does not apply)
    is all True. The table's expected column set grows by those columns."""
    for spec in specs:
        if spec["expectation"] == "ExpectTableColumnsToMatchSet":
            spec["kwargs"]["column_set"] = [*spec["kwargs"]["column_set"], *held]
    return specs + [{"expectation": "ExpectColumnValuesToBeInSet", "kwargs": {"column": name, "value_set": [True]}}
                    for name in held]


def identifier_figures(real: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame | None,
                       identifiers: dict[str, str]) -> dict:
    """Per identifier column: its mode and how many synthetic values equal a real train (or holdout) value."""
    figures = {}
    for name, mode in identifiers.items():
        values = synthetic[name].dropna().astype(str) if name in synthetic.columns else pd.Series([], dtype=str)
        seen = set(real[name].dropna().astype(str))
        figures[name] = {"mode": mode, "synthetic_values": len(values), "equal_to_train": int(values.isin(seen).sum()),
                         "equal_to_holdout": None if holdout is None else
                         int(values.isin(set(holdout[name].dropna().astype(str))).sum())}
    return figures


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

    def detect(other):  # auc None, and why, when there are too few rows for the folds or the library refuses
        if other is None or min(len(reference), len(other)) < cfg.detection_folds:
            return {"auc": None, "low": None, "high": None, "why": "fewer rows than validate.detection_folds"}
        return _scored_or_why(lambda: detection(reference, other[list(kinds)], space, cfg.sample_rows,
                                                cfg.detection_folds, seed, cfg.model_iterations),
                              lambda why: {"auc": None, "low": None, "high": None, "why": why})

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
        **_detection(synthetic_vs_real),
        "detection_interval": [synthetic_vs_real["low"], synthetic_vs_real["high"]],
        "detection_reference": "holdout" if holdout is not None else "train",
        # The same procedure on real train rows in place of synthetic ones: what a perfect generator would score
        # at this sample size (near 0.5; how far it strays shows how far chance alone moves the figure).
        "detection_floor": detect(real)["auc"] if holdout is not None else None,
        "column_shapes": shapes,
        "pair_similarities": pairs,
    }


def _detection(measured: dict) -> dict:
    """The detection AUC, or why it could not be measured."""
    if measured["auc"] is None:
        return {"detection_auc": None, "detection_not_computed": measured["why"]}
    return {"detection_auc": measured["auc"]}


def _scored_or_why(measure, unmeasured):
    """measure(), or unmeasured(why) when the model library refuses the data (a class with too few rows for
    its splits, a feature it cannot bin): the gate reports what it could not compute instead of failing."""
    try:
        return measure()
    except ValueError as exc:
        return unmeasured(f"not computed: {type(exc).__name__}: {exc}")


def _diversity(real, synthetic, kinds, seed: int) -> dict:
    covered = coverage(real, synthetic, kinds)
    worst_category, worst_range = _argmin(covered["categories"]), _argmin(covered["ranges"])
    return {
        # On as many rows as the real table: repeats grow with the number of rows drawn (a pool sized for
        # merge.policy balance holds many times the real rows), and the real share is the yardstick.
        "duplicate_share": duplicate_share(_capped(synthetic, len(real), seed)),
        "real_duplicate_share": duplicate_share(real[list(kinds)]),
        "category_coverage": covered["categories"].get(worst_category),
        "least_covered_categorical": worst_category,
        "range_coverage": covered["ranges"].get(worst_range),
        "least_covered_numeric": worst_range,
        "columns": covered,
    }


def learned(real, synthetic, holdout, target, kinds, cfg: ValidateConfig, merge: MergeConfig, seed: int,
             train_cfg: TrainConfig | None):
    """Utility and the scarcity curve, on the real holdout; both need a target and a holdout."""
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
    scale = partial(_scale, full_rows=len(real))
    demand = lambda subset, fraction: policy_demand(subset, merge, target, scale(subset))  # noqa: E731
    select = lambda subset, offered, fraction: (  # noqa: E731
        select_synthetic(subset, offered, merge, target, scale(subset), seed)[0])
    fractions = cfg.augmentation_fractions if 1.0 in cfg.augmentation_fractions else [*cfg.augmentation_fractions, 1.0]
    refit = (refitter(train_cfg, target, cfg.augmentation_time_budget, merge.curation_factor)
             if cfg.augmentation_refit and train_cfg else None)
    counts = train[target].dropna().astype(object).astype(str).value_counts()
    minority = str(counts.index[-1]) if task == "classification" and len(counts) > 1 else None
    points = scarcity_curve(scorer, train, pool, demand, select, fractions, cfg.augmentation_seeds, seed, refit,
                            minority)
    full = points[-1]  # all real train rows: the training set merge will produce
    augmentation = {"metric": scorer.metric, "task": task, "policy": merge.policy,
                    "curation_factor": merge.curation_factor, "points": points,
                    "refit": refit is not None, "minority_class": minority,
                    "imbalance_ratio": float(counts.iloc[0] / counts.iloc[-1]) if minority else None,
                    **{key: full[key] for key in ("fraction", "gain", "gain_low", "gain_high", "real_score",
                                                  "augmented_score")},
                    **scarcity_verdict(points, scorer.metric, "rows")}
    tstr = utility(full["real_score"], scorer, _capped(synthetic, cfg.sample_rows, seed), seed)
    return {"target": target} | tstr, augmentation


def _scale(subset: pd.DataFrame, full_rows: int) -> float:
    return len(subset) / full_rows


def refitter(train_cfg: TrainConfig, target: str, budget: float | None, draw_factor: float = 1.0) -> Refit:
    """Refits of the run's generator (same settings, `budget` seconds each) on one subset of real rows at a time,
    each drawing `draw_factor` times the rows the policy asks for (merge.curation_factor), as generate draws."""
    def refit(subset: pd.DataFrame, wanted, seed: int) -> tuple[pd.DataFrame, dict]:
        from synthpipe.tabular.synthesizer import TabularSynthesizer

        record = {"seed": seed, "rows": len(subset), "data_hash": frame_hash(subset)}
        # One selection split: the curve's refits run on budgets of seconds, and the curve's own seeds already
        # average over what one split of a small subset leaves to chance.
        settings = train_cfg.model_copy(update={"time_budget": budget, "nproc": 1, "selection_splits": 1})
        synthesizer = TabularSynthesizer.from_config(settings, seed)
        try:
            synthesizer.fit(subset, target=target)
            generated = _draw(synthesizer, wanted, target, seed, draw_factor)
        except REFIT_FAILURES as exc:  # e.g. fewer rows than the GAN's pac: nothing to add at this size
            return subset.head(0), record | {"failed": str(exc)}
        info = synthesizer.info
        return generated, record | {"family": info["model"], "epochs": info["epochs_run"],
                                    "seconds": round(info["seconds"], 2)}
    return refit


def _draw(synthesizer, wanted, target: str, seed: int, factor: float) -> pd.DataFrame:
    """`factor` times the rows the policy asks for: a count drawn as the generate stage draws, or rows per class
    conditioned."""
    none = pd.DataFrame(columns=synthesizer.info["columns"])
    if not isinstance(wanted, dict):
        return synthesizer.sample(math.ceil(wanted * factor), seed=seed) if wanted > 0 else none
    parts = [synthesizer.sample(math.ceil(need * factor), conditions={target: label}, seed=seed + i)
             for i, (label, need) in enumerate(wanted.items()) if need > 0]
    return pd.concat(parts, ignore_index=True) if parts else none


def _capped(df: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    return df if len(df) <= rows else df.sample(rows, random_state=seed).reset_index(drop=True)


def gate_checks(report: dict, cfg: ValidateConfig) -> list[dict]:
    """Every thresholded figure as {check, value, limit, passed, reason}; passed is None when not computed."""
    f, d, u, a, p = (report[k] for k in ("fidelity", "diversity", "utility", "augmentation", "privacy"))
    copy_excess = p["exact_copy_share"] - (p["holdout_exact_copy_share"] or 0.0)
    broken = sum(c["broken"] for c in report["constraints"])
    fresh = {name: i for name, i in report["identifiers"].items() if i["mode"] == "fresh"}
    copied = {name: i["equal_to_train"] for name, i in fresh.items() if i["equal_to_train"]}
    return [
        expectations_check(report["expectations"]["results"], cfg.max_failed_expectations),
        check("mean column shape", f["mean_column_shape"], ">=", cfg.min_column_shape, lambda v, t:
               f"column distributions differ from the real data: mean shape similarity {v:.3f} < {t}"),
        check("worst column shape", f["worst_column_shape"], ">=", cfg.min_worst_column_shape, lambda v, t:
               f"column '{f['worst_column']}' is far from its real distribution: shape similarity {v:.3f} < {t}",
               why="no column to compare"),
        check("correlation difference", f["correlation_difference"], "<=", cfg.max_correlation_diff, lambda v, t:
               f"relationships between numeric columns are lost: mean correlation difference {v:.3f} > {t}",
               why="fewer than two numeric columns"),
        check("contingency similarity", f["contingency_similarity"], ">=", cfg.min_contingency_similarity, lambda v, t:
               f"relationships of categorical columns are lost: mean contingency similarity {v:.3f} < {t} "
               f"(worst pair {f['worst_pair']})", why="no column pair with a categorical column"),
        check("detection AUC", f["detection_auc"], "<=", cfg.max_detection_auc, lambda v, t:
               f"a classifier tells synthetic rows from real ones: detection ROC AUC {v:.3f} > {t} "
               "(0.5 = indistinguishable)", why=f.get("detection_not_computed")),
        check("duplicate share", d["duplicate_share"] - d["real_duplicate_share"], "<=", cfg.max_duplicate_share,
               lambda v, t: f"the generator repeats itself (mode collapse): {d['duplicate_share']:.1%} of synthetic "
               f"rows are duplicates, vs {d['real_duplicate_share']:.1%} of real rows (excess {v:.3f} > {t})"),
        check("category coverage", d["category_coverage"], ">=", cfg.min_category_coverage, lambda v, t:
               f"the generator collapsed onto few categories (mode collapse): column "
               f"'{d['least_covered_categorical']}' shows only {v:.0%} of its common real categories (< {t})",
               why="no categorical column"),
        check("range coverage", d["range_coverage"], ">=", cfg.min_range_coverage, lambda v, t:
               f"the generator collapsed onto a narrow range (mode collapse): column '{d['least_covered_numeric']}' "
               f"spans only {v:.0%} of its real range (< {t})", why="no numeric column"),
        check("utility gap", u.get("gap"), "<=", cfg.max_utility_gap, lambda v, t:
               f"a model trained on synthetic data predicts '{u['target']}' much worse than one trained on real "
               f"data: holdout {u['metric']} {u['tstr']:.3f} vs {u['trtr']:.3f} (gap {v:.3f} > {t})",
               why=u.get("skipped")),
        check("augmentation gain, 95% upper bound", a.get("gain_high"), ">=", 0.0 - cfg.max_augmentation_loss,
              lambda v, t: f"adding the synthetic rows the merge would add makes the model worse on the real "
              f"holdout: {a['metric']} {a['real_score']:.3f} -> {a['augmented_score']:.3f} (loss "
              f"{-a['gain']:.3f}; 95% interval of the gain {a['gain_low']:+.3f} to {v:+.3f}, below {t} beyond "
              "noise)", why=a.get("skipped")),
        check("exact copies", copy_excess, "<=", cfg.max_exact_copy_share, lambda v, t:
               f"synthetic data copies real train rows: {p['exact_copies']} rows ({p['exact_copy_share']:.1%}) are "
               f"identical to a train row, vs {(p['holdout_exact_copy_share'] or 0):.1%} of real holdout rows "
               f"(excess {v:.3f} > {t})"),
        check("DCR ratio", p["dcr_ratio"], ">=", cfg.min_dcr_ratio, lambda v, t:
               f"synthetic rows sit much closer to train rows than new real rows do, a sign of memorised rows: "
               f"median distance to closest record is {v:.3f} x the holdout's (< {t})", why="needs a real holdout"),
        check("NNDR ratio", p["nndr_ratio"], ">=", cfg.min_nndr_ratio, lambda v, t:
               f"synthetic rows sit on single train records rather than among them: median nearest-neighbour "
               f"distance ratio is {v:.3f} x the holdout's (< {t})", why="needs a real holdout"),
        check("fresh identifiers equal to real ones", sum(copied.values()) if fresh else None, "<=", 0, lambda v, t:
               f"fresh identifier columns repeat real values: {copied}", why="no fresh identifier column"),
        check("rows breaking constraints", broken if report["constraints"] else None, "<=", 0, lambda v, t:
               "synthetic rows break declared constraints: " + "; ".join(
                   f"{c['constraint']}: {c['broken']} of {c['rows']} rows"
                   for c in report["constraints"] if c["broken"]),
               why="no train.constraints declared"),
    ]


def _argmin(scores: dict[str, float]) -> str | None:
    return min(scores, key=scores.get) if scores else None


def _mean(values) -> float | None:
    values = [v for v in values if v is not None and not np.isnan(v)]
    return float(np.mean(values)) if values else None

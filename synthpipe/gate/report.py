"""The quality report people read: summary.md (verdict first, then why, then what synthetic data did
to model accuracy) and the PNG plots beside it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from synthpipe.gate import plots
from synthpipe.gate.metrics import correlation_matrices
from synthpipe.schema import infer_kinds

PLOTS = {"marginals": "marginals.png", "correlation": "correlation_difference.png",
         "losses": "training_losses.png", "augmentation": "augmentation.png"}


def write_plots(report: dict, real: pd.DataFrame, synthetic: pd.DataFrame, out_dir: Path,
                train_log: Path | None = None) -> dict[str, str]:
    """Draw every plot the data allows into `out_dir`; returns {plot: file name}."""
    kinds = {name: kind for name, kind in infer_kinds(real).items() if name in synthetic.columns}
    drawn = {}
    if kinds:
        plots.plot_marginals(real, synthetic, kinds, report["fidelity"]["column_shapes"], out_dir / PLOTS["marginals"])
        drawn["marginals"] = PLOTS["marginals"]
    names, corr_real, corr_syn = correlation_matrices(real, synthetic, kinds)
    if len(names) >= 2:
        plots.plot_correlation_difference(names, corr_real, corr_syn, out_dir / PLOTS["correlation"])
        drawn["correlation"] = PLOTS["correlation"]
    if train_log is not None and train_log.exists():
        plots.plot_training_losses(pd.read_csv(train_log), out_dir / PLOTS["losses"])
        drawn["losses"] = PLOTS["losses"]
    if "points" in report["augmentation"]:
        plots.plot_augmentation(report["augmentation"]["points"], report["augmentation"]["metric"],
                                out_dir / PLOTS["augmentation"])
        drawn["augmentation"] = PLOTS["augmentation"]
    return drawn


def render_summary(report: dict, plot_dir: str | None = None) -> str:
    """A markdown page: the verdict and its reasons, model accuracy with and without synthetic data,
    then every check and the detailed figures. `plot_dir` is the plots' folder relative to the page."""
    verdict = "PASSED" if report["passed"] else "FAILED"
    lines = [f"# Quality gate: {verdict}", ""]
    if report["reasons"]:
        lines += ["Synthetic data was **not** accepted, so nothing was merged:", ""]
        lines += [f"- {reason}" for reason in report["reasons"]] + [""]
    else:
        lines += ["Synthetic data met every threshold and may be merged.", ""]
    lines += _accuracy_section(report) + _checks_section(report) + _details_section(report)
    if plot_dir is not None and report.get("plots"):
        lines += ["## Plots", ""] + [f"![{name}]({plot_dir}/{file})" for name, file in report["plots"].items()] + [""]
    return "\n".join(lines)


def _accuracy_section(report: dict) -> list[str]:
    utility, augmentation = report["utility"], report["augmentation"]
    lines = ["## What synthetic data did to model accuracy", ""]
    if "skipped" in utility:
        return lines + [f"Not measured: {utility['skipped']}.", ""]
    metric = utility["metric"].replace("_", " ")
    gain = augmentation["gain"]
    effect = "improved" if gain > 0 else ("did not change" if gain == 0 else "lowered")
    lines += [
        f"A gradient-boosting model predicting **{utility['target']}** ({utility['task']}), scored by {metric} on the "
        f"real holdout ({report['rows']['holdout']} rows, never seen by the generator):", "",
        f"- trained on real train rows: **{augmentation['real_score']:.3f}**; on real + synthetic rows "
        f"({augmentation['policy']} policy): **{augmentation['augmented_score']:.3f}** — synthetic data {effect} it "
        f"by {abs(gain):.3f} (± {augmentation['points'][-1]['gain_holdout_std']:.3f} over holdout resamples).",
        f"- trained on synthetic rows only: {utility['tstr']:.3f} (real only: {utility['trtr']:.3f}).", "",
        "| real rows used | real rows | synthetic rows added | real only | real + synthetic | gain | ± over seeds | "
        "± over holdout resamples |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in augmentation["points"]:
        lines.append(f"| {p['fraction']:.0%} | {p['real_rows']} | {p['synthetic_rows']} | {p['real_score']:.3f} | "
                     f"{p['augmented_score']:.3f} | **{p['gain']:+.3f}** | {p['gain_std']:.3f} (n={p['repeats']}) | "
                     f"{p['gain_holdout_std']:.3f} |")
    lines += ["", "Fractions below 100% repeat over seeded subsets of the real rows; the last column is the spread of "
              "the gain over bootstrap resamples of the holdout, i.e. how much a holdout this size can tell. "
              "The synthetic rows come from a "
              "generator fitted on all real train rows, so at small fractions the gain shows what the synthetic pool "
              "carries, not what a generator fitted on that fraction alone would give.", ""]
    return lines


def _checks_section(report: dict) -> list[str]:
    lines = ["## Checks", "", "| check | value | threshold | result |", "|---|---|---|---|"]
    for c in report["checks"]:
        result = {True: "pass", False: "**FAIL**", None: "not computed"}[c["passed"]]
        value = "n/a" if c["value"] is None else f"{c['value']:.3f}"
        lines.append(f"| {c['check']} | {value} | {c['limit']} | {result} |")
    return lines + [""]


def _details_section(report: dict) -> list[str]:
    rows, f, d, p = report["rows"], report["fidelity"], report["diversity"], report["privacy"]
    sampling = report["sampling"]
    cap = sampling["sample_rows"]
    note = (f"Sampled with seed {sampling['seed']}: detection, privacy distances and model training use at most "
            f"{cap} rows per table, the holdout at most {4 * cap}; shapes, pairs, coverage and exact copies use "
            "every row." if sampling["sampled"] else "Every row was used.")
    lines = [
        "## Figures", "",
        f"Rows: {rows['real_train']} real train, {rows['synthetic']} synthetic, "
        f"{rows['holdout'] if rows['holdout'] is not None else 'no'} real holdout. {note}", "",
        "| figure | value |", "|---|---|",
        f"| detection ROC AUC against real {f['detection_reference']} rows, on held-out folds (0.5 = "
        f"indistinguishable), 95% interval | {_fmt(f['detection_auc'])} "
        f"({_fmt(f['detection_interval'][0])}-{_fmt(f['detection_interval'][1])}) |",
        f"| the same for real train rows in place of synthetic ones (the floor) | {_fmt(f['detection_floor'])} |",
        f"| worst column pair | {f['worst_pair']} ({_fmt(f['worst_pair_similarity'])}) |",
        f"| duplicate synthetic rows | {d['duplicate_share']:.1%} (real: {d['real_duplicate_share']:.1%}) |",
        f"| exact copies of train rows | {p['exact_copies']} (dropped before merge) |",
        f"| median distance to closest train row: synthetic / holdout | {_fmt(p['dcr_synthetic_median'])} / "
        f"{_fmt(p['dcr_holdout_median'])} |",
        f"| median NNDR: synthetic / holdout | {_fmt(p['nndr_synthetic_median'])} / {_fmt(p['nndr_holdout_median'])} |",
        f"| seconds per section | {', '.join(f'{k} {v:.1f}' for k, v in report['seconds'].items())} |",
        "", "## Column shapes (1.0 = same distribution)", "", "| column | similarity | coverage |", "|---|---|---|",
    ]
    covered = {**d["columns"]["categories"], **d["columns"]["ranges"]}
    lines += [f"| {name} | {score:.3f} | {_fmt(covered.get(name))} |" for name, score in f["column_shapes"].items()]
    return lines + [""]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"

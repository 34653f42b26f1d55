"""The quality report people read: summary.md (verdict first, then why, then what synthetic data did
to model accuracy) and the PNG plots beside it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from synthpipe.gate import plots
from synthpipe.gate.checks import checks_markdown
from synthpipe.gate.metrics import correlation_matrices
from synthpipe.gate.scarcity import LABELS, SHORT
from synthpipe.schema import infer_kinds

PLOTS = {"marginals": "marginals.png", "correlation": "correlation_difference.png",
         "losses": "training_losses.png", "augmentation": "augmentation.png"}
IMBALANCED = 1.5  # largest / rarest class rows from which the class-balance table is shown


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
        plots.plot_augmentation(report["augmentation"]["points"], report["augmentation"]["metric"], LABELS,
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
    lines += _headline(report["augmentation"])
    lines += _accuracy_section(report) + checks_markdown(report) + _details_section(report)
    if plot_dir is not None and report.get("plots"):
        lines += ["## Plots", ""] + [f"![{name}]({plot_dir}/{file})" for name, file in report["plots"].items()] + [""]
    return "\n".join(lines)


def _headline(augmentation: dict) -> list[str]:
    """The scarcity verdict in one sentence, and plainly when a classic oversampler does better."""
    if "verdict" not in augmentation:
        return []
    lines = [f"**{augmentation['verdict']}**", ""]
    if not augmentation["beats_best_baseline"]:
        best = SHORT[augmentation["best_baseline"]]
        lines += [f"Synthetic data does **not** beat the best baseline, {best}, at "
                  f"{augmentation['scarce_fraction']:.0%} of the real rows (gain {augmentation['scarce_gain']:+.3f} vs "
                  f"{augmentation['best_baseline_gain']:+.3f}): that baseline is the cheaper choice there.", ""]
    return lines


def _accuracy_section(report: dict) -> list[str]:
    utility, augmentation = report["utility"], report["augmentation"]
    lines = ["## What synthetic data did to model accuracy", ""]
    if "skipped" in utility:
        return lines + [f"Not measured: {utility['skipped']}.", ""]
    metric = utility["metric"].replace("_", " ")
    gain = augmentation["gain"]
    effect = "improved" if gain > 0 else ("did not change" if gain == 0 else "lowered")
    points = augmentation["points"]
    names = list(points[0]["arms"])
    lines += [
        f"A gradient-boosting model predicting **{utility['target']}** ({utility['task']}), scored by {metric} on the "
        f"real holdout ({report['rows']['holdout']} rows, never seen by the generator):", "",
        f"- trained on real train rows: **{augmentation['real_score']:.3f}**; on the training set merge builds "
        f"({augmentation['policy']} policy{_curation(augmentation)}): **{augmentation['augmented_score']:.3f}** — "
        f"synthetic data {effect} it "
        f"by {abs(gain):.3f} (95% interval of the gain {augmentation['gain_low']:+.3f} to "
        f"{augmentation['gain_high']:+.3f}).",
        f"- trained on synthetic rows only: {utility['tstr']:.3f} (real only: {utility['trtr']:.3f}).", "",
        "Gain over real only at each share of the real rows (95% interval: seeds and holdout rows resampled):", "",
        "| real rows used | real rows | rows added | " + " | ".join(LABELS[n] for n in names) + " |",
        "|---|---|---|" + "---|" * len(names),
    ]
    for p in points:
        cells = [f"{p['arms']['real']['score']:.3f}"] + [gain_cell(p["arms"][n]) for n in names[1:]]
        lines.append(f"| {p['fraction']:.0%} | {p['real_rows']} | {p['synthetic_rows']} | " + " | ".join(cells) + " |")
    lines += ["", provenance(augmentation), ""]
    lines += _balance_section(augmentation, names)
    notes = sorted({note for p in points for note in p["baseline_notes"]})
    if notes:
        lines += ["Baselines: " + "; ".join(notes) + ".", ""]
    return lines


def _curation(augmentation: dict) -> str:
    factor = augmentation.get("curation_factor", 1.0)  # images have none
    return (f"; from a draw {factor:g} times as large, the rows whose target a model fitted on the real rows agrees "
            "with first" if factor > 1 else "")


def gain_cell(arm: dict) -> str:
    return f"{arm['score']:.3f} (**{arm['gain']:+.3f}** [{arm['gain_low']:+.3f}, {arm['gain_high']:+.3f}])"


def provenance(augmentation: dict, items: str = "rows") -> str:
    """Where the synthetic `items` of each point came from: refits (family, epochs, seconds) or the run's own."""
    parts = []
    for p in augmentation["points"]:
        if p["fraction"] >= 1:
            parts.append(f"{p['fraction']:.0%}: the run's own synthetic {items}")
        elif p["leaky"]:
            parts.append(f"{p['fraction']:.0%}: the run's own synthetic {items}, from a generator fitted on ALL real "
                         f"train {items} (leaky: it saw the {items} this point pretends not to have)")
        else:
            fits = [f"{r['family']} {r['epochs']} epochs {r['seconds']:.1f} s" if "family" in r else
                    f"failed ({r['failed']})" for r in p["refits"]]
            parts.append(f"{p['fraction']:.0%}: {len(fits)} refit{'s' * (len(fits) > 1)} on the subset alone "
                         f"({'; '.join(fits)})")
    return f"Synthetic {items}: " + ". ".join(parts) + "."


def _balance_section(augmentation: dict, names: list[str]) -> list[str]:
    """Minority-class recall and macro F1 per arm, when the target is imbalanced or the merge balances it."""
    ratio = augmentation.get("imbalance_ratio")
    if ratio is None or (ratio < IMBALANCED and augmentation["policy"] != "balance"):
        return []
    lines = [f"Class balance ({augmentation['policy']} policy; the rarest class '{augmentation['minority_class']}' "
             f"has {ratio:.1f}x fewer train rows than the largest): recall of the rarest class / macro F1", "",
             "| real rows used | " + " | ".join(LABELS[n] for n in names) + " |", "|---|" + "---|" * len(names)]
    for p in augmentation["points"]:
        cells = [f"{p['arms'][n].get('minority_recall', float('nan')):.3f} / {p['arms'][n]['macro_f1']:.3f}"
                 for n in names]
        lines.append(f"| {p['fraction']:.0%} | " + " | ".join(cells) + " |")
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
        *_identifier_rows(report.get("identifiers", {})),
        *[f"| constraint {c['constraint']} | broken on {c['broken']} of {c['rows']} rows it applies to |"
          for c in report.get("constraints", [])],
        *[f"| suggested constraint (exact on every real row) | {text} |"
          for text in report.get("constraint_suggestions", [])],
        f"| seconds per section | {', '.join(f'{k} {v:.1f}' for k, v in report['seconds'].items())} |",
        "", "## Column shapes (1.0 = same distribution)", "", "| column | similarity | coverage |", "|---|---|---|",
    ]
    covered = {**d["columns"]["categories"], **d["columns"]["ranges"]}
    lines += [f"| {name} | {score:.3f} | {_fmt(covered.get(name))} |" for name, score in f["column_shapes"].items()]
    return lines + [""]


def _identifier_rows(identifiers: dict) -> list[str]:
    """Identifier columns, left out of every other figure: how each was made and whether it repeats real values."""
    return [f"| identifier column {name} ({i['mode']}) | {i['synthetic_values']} synthetic values, "
            f"{i['equal_to_train']} equal to a train value"
            + ("" if i["equal_to_holdout"] is None else f", {i['equal_to_holdout']} to a holdout value") + " |"
            for name, i in identifiers.items()]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"

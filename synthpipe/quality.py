"""The quality gate: expectations and fidelity figures, thresholds, and a report people read."""

from __future__ import annotations

import pandas as pd

from synthpipe.config import ValidateConfig
from synthpipe.expectations import expectation_specs, run_expectations
from synthpipe.metrics import column_shapes, correlation_difference
from synthpipe.schema import infer_kinds


def assess(real: pd.DataFrame, synthetic: pd.DataFrame, cfg: ValidateConfig) -> dict:
    """All gate figures for `synthetic` against `real` train data, the verdict and its reasons."""
    kinds = infer_kinds(real)
    specs = expectation_specs(real, kinds, rows=len(synthetic), cfg=cfg)
    expectations = run_expectations(specs, synthetic)
    failed = [item for item in expectations if not item["success"]]
    shared = {name: kind for name, kind in kinds.items() if name in synthetic.columns}
    shapes = column_shapes(real, synthetic, shared)
    worst = min(shapes, key=shapes.get) if shapes else None
    report = {
        "rows": {"real_train": len(real), "synthetic": len(synthetic)},
        "expectations": {"evaluated": len(expectations), "failed": len(failed), "results": expectations},
        "fidelity": {
            "mean_column_shape": _mean(shapes.values()),
            "worst_column": worst,
            "worst_column_shape": shapes.get(worst),
            "correlation_difference": correlation_difference(real, synthetic, shared),
            "column_shapes": shapes,
        },
    }
    report["reasons"] = gate_reasons(report, cfg)
    report["passed"] = not report["reasons"]
    return report


def gate_reasons(report: dict, cfg: ValidateConfig) -> list[str]:
    """Plain-language reasons the synthetic data may not be merged; empty when it passes."""
    reasons = []
    failed = [item for item in report["expectations"]["results"] if not item["success"]]
    if len(failed) > cfg.max_failed_expectations:
        listed = "; ".join(_describe_failure(item) for item in failed[:8])
        reasons.append(f"{len(failed)} expectations failed (allowed {cfg.max_failed_expectations}): {listed}")
    fidelity = report["fidelity"]
    if fidelity["mean_column_shape"] is not None and fidelity["mean_column_shape"] < cfg.min_column_shape:
        reasons.append(f"column distributions differ from the real data: mean shape similarity "
                       f"{fidelity['mean_column_shape']:.3f} < {cfg.min_column_shape}")
    if fidelity["worst_column_shape"] is not None and fidelity["worst_column_shape"] < cfg.min_worst_column_shape:
        reasons.append(f"column '{fidelity['worst_column']}' is far from its real distribution: shape similarity "
                       f"{fidelity['worst_column_shape']:.3f} < {cfg.min_worst_column_shape}")
    corr = fidelity["correlation_difference"]
    if corr is not None and corr > cfg.max_correlation_diff:
        reasons.append(f"relationships between numeric columns are lost: mean correlation difference "
                       f"{corr:.3f} > {cfg.max_correlation_diff}")
    return reasons


def _describe_failure(item: dict) -> str:
    where = f"column '{item['column']}'" if item["column"] else "table"
    name = item["expectation"].removeprefix("expect_").replace("_", " ")
    examples = list(dict.fromkeys(item["unexpected_examples"]))[:3]
    detail = f", e.g. {', '.join(examples)}" if examples else ""
    observed = f" (observed {item['observed']})" if item["observed"] is not None and not detail else ""
    return f"{where}: {name}{observed}{detail}"


def _mean(values) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


def render_summary(report: dict) -> str:
    """A markdown page that says at once whether the refresh passed, why, and the key figures."""
    fidelity = report["fidelity"]
    verdict = "PASSED" if report["passed"] else "FAILED"
    lines = [f"# Quality gate: {verdict}", ""]
    if report["reasons"]:
        lines += ["Synthetic data was **not** accepted:", ""] + [f"- {reason}" for reason in report["reasons"]] + [""]
    else:
        lines += ["Synthetic data met every threshold and may be merged.", ""]
    corr = fidelity["correlation_difference"]
    lines += [
        "| figure | value |", "|---|---|",
        f"| real train rows | {report['rows']['real_train']} |",
        f"| synthetic rows | {report['rows']['synthetic']} |",
        f"| expectations failed | {report['expectations']['failed']} of {report['expectations']['evaluated']} |",
        f"| mean column shape similarity | {_fmt(fidelity['mean_column_shape'])} |",
        f"| worst column | {fidelity['worst_column']} ({_fmt(fidelity['worst_column_shape'])}) |",
        f"| mean correlation difference | {_fmt(corr)} |",
        "", "## Column shapes (1.0 = same distribution)", "", "| column | similarity |", "|---|---|",
    ]
    lines += [f"| {name} | {score:.3f} |" for name, score in fidelity["column_shapes"].items()]
    return "\n".join(lines) + "\n"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"

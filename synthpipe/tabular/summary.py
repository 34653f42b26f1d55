"""The table gate's lines in the run summary (light: no torch import)."""

from __future__ import annotations


def gate_summary(quality: dict, summary_path: str) -> dict:
    return {"passed": quality["passed"], "reasons": quality["reasons"], "modality": "table",
            "fidelity": {k: v for k, v in quality["fidelity"].items() if not isinstance(v, dict)},
            "augmentation": {k: quality["augmentation"].get(k)
                             for k in ("metric", "real_score", "augmented_score", "gain")},
            "expectations_failed": quality["expectations"]["failed"],
            "expectations_evaluated": quality["expectations"]["evaluated"],
            "path": summary_path}


def gate_line(s: dict) -> str:
    f = s["fidelity"]
    corr = "n/a" if f["correlation_difference"] is None else f"{f['correlation_difference']:.3f}"
    detection = "n/a" if f["detection_auc"] is None else f"{f['detection_auc']:.3f}"
    figures = (f"shape {f['mean_column_shape']:.3f} (worst {f['worst_column']} {f['worst_column_shape']:.3f}), "
               f"corr diff {corr}, detection AUC {detection}, "
               f"expectations failed {s['expectations_failed']}/{s['expectations_evaluated']}")
    return f"{'PASSED' if s['passed'] else 'FAILED'}: {figures}"


def extra_rows(s: dict) -> list[tuple[str, str, str]]:
    """What the synthetic rows did to a model's holdout score, when there is a target to score."""
    a = s["augmentation"]
    if a["gain"] is None:
        return []
    return [("accuracy", f"holdout {a['metric']}: real {a['real_score']:.3f}, real + synthetic "
                         f"{a['augmented_score']:.3f} ({a['gain']:+.3f})", "reports/plots/augmentation.png")]

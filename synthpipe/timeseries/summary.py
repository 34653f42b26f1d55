"""The time-series gate's lines in the run summary (light: no torch import)."""

from __future__ import annotations


def gate_summary(quality: dict, summary_path: str) -> dict:
    return {"passed": quality["passed"], "reasons": quality["reasons"], "modality": "timeseries",
            "checks": {c["check"]: c["value"] for c in quality["checks"]}, "utility": quality["utility"],
            "path": summary_path}


def gate_line(s: dict) -> str:
    c, u = s["checks"], s["utility"]
    shown = ", ".join(f"{name} {'n/a' if c.get(name) is None else format(c[name], '.3f')}"
                      for name in ("discriminative score", "ACF distance", "mean column shape", "privacy ratio"))
    mae = ("n/a" if u["predictive_mae_synthetic"] is None else
           f"{u['predictive_mae_synthetic']:.4f} (real {u['predictive_mae_real']:.4f})")
    return f"{'PASSED' if s['passed'] else 'FAILED'}: {shown}, predictive MAE {mae}"

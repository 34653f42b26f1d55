"""The image gate's lines in the run summary (light: no torch import)."""

from __future__ import annotations


def gate_summary(quality: dict, report_path: str) -> dict:
    return {"passed": quality["passed"], "reasons": quality["reasons"], "modality": "image",
            "fidelity": quality["fidelity"], "utility": quality["utility"],
            "augmentation": quality["augmentation"], "path": report_path}


def gate_line(s: dict) -> str:
    f, u = s["fidelity"], s["utility"]
    return (f"{'PASSED' if s['passed'] else 'FAILED'}: FID {f['fid']:.2f} (real floor {f['fid_real_baseline']:.2f}), "
            f"coverage {f['coverage']:.3f} (worst {f['worst_class']} {f['worst_class_coverage']:.3f}), "
            f"label agreement {f['label_agreement']:.3f}, CAS {u['cas']:.3f} vs real {u['real_accuracy']:.3f}")

"""The short run summary: read back from the stage outputs, so it is the same however the stages ran."""

from __future__ import annotations

from synthpipe.config import Paths
from synthpipe.images.summary import gate_line, gate_summary
from synthpipe.io import read_json, table_rows


def summarize(paths: Paths) -> dict:
    """Key figures of the last refresh, from the files each stage wrote (missing stages are left out)."""
    summary: dict = {}
    if paths.schema.exists():
        schema = read_json(paths.schema)
        summary["ingest"] = {"rows": schema["rows"], "columns": len(schema["columns"]), "path": str(paths.raw)}
    if (paths.prepared / "train.parquet").exists():
        summary["preprocess"] = {"train_rows": table_rows(paths.prepared / "train.parquet"),
                                 "holdout_rows": table_rows(paths.prepared / "holdout.parquet"),
                                 "path": str(paths.prepared)}
    if (paths.model / "config.json").exists():
        config = read_json(paths.model / "config.json")
        # Model directories of other kinds (older ones, other modalities) may lack the synthesizer's keys.
        summary["train"] = {"model": config.get("model", "gan"), "chosen_by": config["train"].get("model"),
                            "epochs": config.get("epochs_run", config["train"].get("epochs")),
                            "seconds": config["seconds"], "device": config["device"], "run_id": config["run_id"],
                            "path": str(paths.model)}
    if paths.synthetic.exists():
        summary["generate"] = {"rows": table_rows(paths.synthetic), "path": str(paths.synthetic)}
    if paths.quality.exists():
        quality = read_json(paths.quality)
    if paths.quality.exists() and quality.get("modality") == "image":
        summary["validate"] = gate_summary(quality, str(paths.summary))
    elif paths.quality.exists():
        summary["validate"] = {"passed": quality["passed"], "reasons": quality["reasons"],
                               "fidelity": {k: v for k, v in quality["fidelity"].items() if not isinstance(v, dict)},
                               "augmentation": {k: quality["augmentation"].get(k)
                                                for k in ("metric", "real_score", "augmented_score", "gain")},
                               "expectations_failed": quality["expectations"]["failed"],
                               "expectations_evaluated": quality["expectations"]["evaluated"],
                               "path": str(paths.summary)}
    manifest = paths.merged / "manifest.json"
    if manifest.exists() and summary.get("validate", {}).get("passed"):
        summary["merge"] = {**read_json(manifest)["rows"], "path": str(paths.merged / "train.parquet")}
    return summary


def format_summary(summary: dict) -> str:
    rows = []
    if "ingest" in summary:
        s = summary["ingest"]
        rows.append(("ingested", f"{s['rows']} rows, {s['columns']} columns", s["path"]))
    if "preprocess" in summary:
        s = summary["preprocess"]
        rows.append(("split", f"{s['train_rows']} train / {s['holdout_rows']} holdout", s["path"]))
    if "train" in summary:
        s = summary["train"]
        model = f"{s['model']} (auto)" if s["chosen_by"] == "auto" else s["model"]
        epochs = f", {s['epochs']} epochs" if s["epochs"] else ""
        rows.append(("trained", f"{model}{epochs} in {s['seconds']:.1f} s on {s['device']} (run {s['run_id']})",
                     s["path"]))
    if "generate" in summary:
        rows.append(("generated", f"{summary['generate']['rows']} rows", summary["generate"]["path"]))
    if summary.get("validate", {}).get("modality") == "image":
        rows.append(("gate", gate_line(summary["validate"]), summary["validate"]["path"]))
    elif "validate" in summary:
        s, f = summary["validate"], summary["validate"]["fidelity"]
        corr = "n/a" if f["correlation_difference"] is None else f"{f['correlation_difference']:.3f}"
        detection = "n/a" if f["detection_auc"] is None else f"{f['detection_auc']:.3f}"
        if f.get("detection_floor") is not None:
            detection += f" (real train rows: {f['detection_floor']:.3f})"
        figures = (f"shape {f['mean_column_shape']:.3f} (worst {f['worst_column']} {f['worst_column_shape']:.3f}), "
                   f"corr diff {corr}, detection AUC {detection}, "
                   f"expectations failed {s['expectations_failed']}/{s['expectations_evaluated']}")
        rows.append(("gate", f"{'PASSED' if s['passed'] else 'FAILED'}: {figures}", s["path"]))
        a = s["augmentation"]
        if a["gain"] is not None:
            rows.append(("accuracy", f"holdout {a['metric']}: real {a['real_score']:.3f}, real + synthetic "
                                     f"{a['augmented_score']:.3f} ({a['gain']:+.3f})",
                         "reports/plots/augmentation.png"))
    if "merge" in summary:
        s = summary["merge"]
        rows.append(("merged", f"{s['real']} real + {s['synthetic']} synthetic = {s['total']} rows", s["path"]))
    elif "validate" in summary and not summary["validate"]["passed"]:
        rows.append(("merged", "nothing: the gate failed", "-"))
    width = max((len(detail) for _, detail, _ in rows), default=0)
    lines = [f"  {label:<10} {detail:<{width}}  {path}" for label, detail, path in rows]
    if "validate" in summary:
        lines += [f"    - {reason}" for reason in summary["validate"]["reasons"]]
    return "\n".join(lines)

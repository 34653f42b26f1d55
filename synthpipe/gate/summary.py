"""The short run summary: read back from the stage outputs, so it is the same however the stages ran."""

from __future__ import annotations

from synthpipe.config import Paths
from synthpipe.io import read_json, table_rows
from synthpipe.stages import summary_module


def summarize(paths: Paths, modality: str) -> dict:
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
                            "phases": (config.get("selection") or {}).get("phases", {}), "path": str(paths.model)}
    if paths.synthetic.exists():
        summary["generate"] = {"rows": table_rows(paths.synthetic), "path": str(paths.synthetic)}
    if paths.quality.exists():
        summary["validate"] = summary_module(modality).gate_summary(read_json(paths.quality), str(paths.summary))
    manifest = paths.merged / "manifest.json"
    if manifest.exists() and summary.get("validate", {}).get("passed"):
        summary["merge"] = {**read_json(manifest)["rows"], "path": str(paths.merged / "train.parquet")}
    return summary


def phase_line(phase: dict) -> str:
    """How much of the table a training phase used, and why."""
    steps = f", {phase['steps']} steps" if phase["steps"] else ""
    return f"{phase['rows']} rows ({phase['share']:.0%}){steps}, {phase['seconds']:.0f} s: {phase['why']}"


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
        rows += [(f"  {name}", phase_line(phase), "") for name, phase in s.get("phases", {}).items()]
    if "generate" in summary:
        rows.append(("generated", f"{summary['generate']['rows']} rows", summary["generate"]["path"]))
    if "validate" in summary:
        s = summary["validate"]
        module = summary_module(s["modality"])  # the modality that wrote these figures lays them out
        rows.append(("gate", module.gate_line(s), s["path"]))
        rows += getattr(module, "extra_rows", lambda _: [])(s)  # e.g. the table's accuracy line
    if "merge" in summary:
        s = summary["merge"]
        rows.append(("merged", f"{s['real']} real + {s['synthetic']} synthetic = {s['total']} rows", s["path"]))
    elif "validate" in summary and not summary["validate"]["passed"]:
        rows.append(("merged", "nothing: the gate failed", "-"))
    width = max((len(detail) for _, detail, path in rows if path), default=0)  # pathless notes do not widen it
    lines = [f"  {label:<10} {detail:<{width}}  {path}".rstrip() for label, detail, path in rows]
    if "validate" in summary:
        lines += [f"    - {reason}" for reason in summary["validate"]["reasons"]]
    return "\n".join(lines)

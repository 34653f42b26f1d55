"""The short run summary: read back from the stage outputs, so it is the same however the stages ran."""

from __future__ import annotations

from synthpipe.config import Paths
from synthpipe.gate.html import REPORT_FILE
from synthpipe.io import read_json, table_rows

# The checks shown in the run summary's gate line, where a modality's report has them (every check is in
# summary.md and quality.json).
HEADLINE = ("mean column shape", "worst column shape", "correlation difference", "detection AUC",
            "label agreement", "CAS ratio", "worst class coverage", "FID ratio", "discriminative score", "ACF distance",
            "predictive ratio", "privacy ratio", "expectations failed")


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
                            "phases": (config.get("selection") or {}).get("phases", {}), "path": str(paths.model)}
    if paths.synthetic.exists():
        summary["generate"] = {"rows": table_rows(paths.synthetic), "path": str(paths.synthetic)}
    if paths.quality.exists():
        # The page to open: the self-contained report, where the run wrote one.
        report = paths.quality.parent / REPORT_FILE
        page = report if report.exists() else paths.summary
        summary["validate"] = gate_summary(read_json(paths.quality), str(page))
    manifest = paths.merged / "manifest.json"
    if manifest.exists() and summary.get("validate", {}).get("passed"):
        record = read_json(manifest)
        shortfall = (record.get("policy") or {}).get("shortfall")  # tables under merge.policy balance only
        summary["merge"] = {**record["rows"], **({"shortfall": shortfall} if shortfall else {}),
                            "path": str(paths.merged / "train.parquet")}
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
        detail = f"{model}{epochs} in {s['seconds']:.1f} s on {s['device']} (run {s['run_id']})"
        rows.append(("trained", detail, s["path"]))
        rows += [(f"  {name}", phase_line(phase), "") for name, phase in s.get("phases", {}).items()]
    if "generate" in summary:
        rows.append(("generated", f"{summary['generate']['rows']} rows", summary["generate"]["path"]))
    if "validate" in summary:
        s, a = summary["validate"], summary["validate"]["augmentation"]
        rows.append(("gate", gate_line(s), s["path"]))
        if a.get("gain") is not None:
            rows.append(("accuracy", f"holdout {a['metric']}: real {a['real_score']:.3f}, real + synthetic "
                                     f"{a['augmented_score']:.3f} ({a['gain']:+.3f})",
                         "reports/plots/augmentation.png"))
        if a.get("verdict"):
            rows.append(("scarcity", a["verdict"], s["path"]))
    if "merge" in summary:
        s = summary["merge"]
        rows.append(("merged", f"{s['real']} real + {s['synthetic']} synthetic = {s['total']} rows", s["path"]))
        if s.get("shortfall"):
            short = ", ".join(f"{missing} of {label!r}" for label, missing in s["shortfall"].items())
            rows.append(("  short", f"balance: the pool held too few rows of some classes ({short} missing); "
                                    "raise generate.rows", ""))
    elif "validate" in summary and not summary["validate"]["passed"]:
        rows.append(("merged", "nothing: the gate failed", "-"))
    width = max((len(detail) for _, detail, path in rows if path), default=0)  # pathless notes do not widen it
    lines = [f"  {label:<10} {detail:<{width}}  {path}".rstrip() for label, detail, path in rows]
    if "validate" in summary:
        lines += [f"    - {reason}" for reason in summary["validate"]["reasons"]]
    return "\n".join(lines)


def gate_summary(quality: dict, page: str) -> dict:
    """The gate's verdict, reasons, check results and augmentation headline: the same keys for every modality."""
    return {"passed": quality["passed"], "reasons": quality["reasons"], "modality": quality["modality"],
            "checks": [{key: c[key] for key in ("check", "value", "limit", "passed")} for c in quality["checks"]],
            "augmentation": {k: quality.get("augmentation", {}).get(k)
                             for k in ("metric", "real_score", "augmented_score", "gain", "verdict")},
            "path": page}


def gate_line(s: dict) -> str:
    """Verdict, checks passed, and the headline checks' values: "PASSED: 5/5 checks passed; label agreement ..."."""
    judged = [c for c in s["checks"] if c["passed"] is not None]
    shown = [f"{c['check']} {c['value']:.3g}" + ("" if c["passed"] is not False else " (FAIL)")
             for c in s["checks"] if c["check"] in HEADLINE and c["value"] is not None]
    return (f"{'PASSED' if s['passed'] else 'FAILED'}: {sum(c['passed'] for c in judged)}/{len(judged)} checks "
            f"passed; {', '.join(shown)}")

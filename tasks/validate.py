"""Stage 5: the quality gate. Writes reports/quality.json, summary.md, plots/ and data_docs/, and the GX project
gx/ (the expectation suite); fails (exit 3) when a threshold fails."""

from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from synthpipe.config import MergeConfig, Params, ValidateConfig
from synthpipe.errors import GateFailed
from synthpipe.io import atomic_dir, file_hash, read_json, read_table, write_json, write_text
from synthpipe.quality import assess
from synthpipe.report import render_summary, write_plots


def validate(train_path: Path, synthetic_path: Path, reports_dir: Path, cfg: ValidateConfig,
             holdout_path: Path | None = None, target: str | None = None, merge: MergeConfig = MergeConfig(),
             seed: int = 0, train_log: Path | None = None, expectations_dir: Path | None = None) -> dict:
    """Judge synthetic rows against real train rows (and the real holdout); write the report into `reports_dir`:
    quality.json, summary.md, plots/*.png and data_docs/ (the GX site). Raises GateFailed when a check fails."""
    real, synthetic = read_table(train_path), read_table(synthetic_path)
    holdout = read_table(holdout_path) if holdout_path is not None else None
    report = assess(real, synthetic, cfg, holdout=holdout, target=target, merge=merge, seed=seed,
                    expectations_dir=expectations_dir or reports_dir / "gx", docs_dir=reports_dir / "data_docs")
    with atomic_dir(reports_dir / "plots") as plot_dir:
        report["plots"] = write_plots(report, real, synthetic, plot_dir, train_log)
    # The verdict names the exact files it judged: merge refuses any other synthetic data.
    inputs = {"train": train_path, "synthetic": synthetic_path, "holdout": holdout_path}
    report["inputs"] = {name: {"path": str(path), "sha256": file_hash(path)}
                        for name, path in inputs.items() if path is not None and Path(path).is_file()}
    report["thresholds"] = cfg.model_dump()
    # Reports are written whatever the verdict: a failed gate must say why.
    write_json(report, reports_dir / "quality.json")
    write_text(render_summary(report, plot_dir="plots"), reports_dir / "summary.md")
    if not report["passed"]:
        raise GateFailed(report["reasons"])
    return {"passed": True, "checks": len(report["checks"])}


def run(params: Params) -> dict:
    paths = params.paths
    if params.data.modality == "image":
        from tasks import images  # torch and Pillow load only for image runs

        return images.validate(paths.prepared, paths.synthetic, paths.quality, paths.summary, params.image, params.seed,
                               expectations_dir=Path("gx"))
    return validate(paths.prepared / "train.parquet", paths.synthetic, paths.quality.parent, params.validate,
                    holdout_path=paths.prepared / "holdout.parquet", target=params.data.target, merge=params.merge,
                    seed=params.seed, train_log=paths.train_log, expectations_dir=Path("gx"))


def run_and_publish(params: Params) -> dict:
    """`run`, then publish the report as Prefect artifacts, whether the gate passed or not."""
    try:
        return run(params)
    finally:
        if params.paths.quality.exists():
            _publish(params.paths.quality, params.paths.summary)


def _publish(quality_path: Path, summary_path: Path) -> None:
    if read_json(quality_path).get("modality") == "image":
        from tasks import images

        return images.publish(quality_path, summary_path)
    report = read_json(quality_path)
    create_markdown_artifact(key="quality-summary", markdown=summary_path.read_text(encoding="utf-8"),
                             description="Quality gate verdict, reasons and what synthetic data did to model accuracy")
    table = [{"check": c["check"], "value": c["value"], "threshold": c["limit"],
              "result": {True: "pass", False: "FAIL", None: "not computed"}[c["passed"]]} for c in report["checks"]]
    create_table_artifact(key="quality-figures", table=table, description="Quality gate checks")
    if "points" in report["augmentation"]:
        create_table_artifact(key="augmentation-curve", table=report["augmentation"]["points"],
                              description=f"Holdout {report['augmentation']['metric']}: real only vs real + synthetic")


validate_task = task(run_and_publish, name="validate", cache_policy=NO_CACHE, persist_result=False)

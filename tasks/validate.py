"""Stage 5: the quality gate. Writes reports/quality.json and summary.md; fails (exit 3) when thresholds fail."""

from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from synthpipe.config import Params, ValidateConfig
from synthpipe.errors import GateFailed
from synthpipe.io import read_json, read_table, write_json, write_text
from synthpipe.quality import assess, render_summary


def validate(train_path: Path, synthetic_path: Path, quality_path: Path, summary_path: Path, cfg: ValidateConfig) -> dict:
    report = assess(read_table(train_path), read_table(synthetic_path), cfg)
    # Reports are written whatever the verdict: a failed gate must say why.
    write_json(report, quality_path)
    write_text(render_summary(report), summary_path)
    if not report["passed"]:
        raise GateFailed(report["reasons"])
    return {"passed": True}


def run(params: Params) -> dict:
    paths = params.paths
    (paths.summary.parent / "plots").mkdir(parents=True, exist_ok=True)  # a DVC output; image runs draw into it
    if params.data.modality == "image":
        from tasks import images  # torch and Pillow load only for image runs

        return images.validate(paths.prepared, paths.synthetic, paths.quality, paths.summary, params.image, params.seed)
    return validate(paths.prepared / "train.parquet", paths.synthetic, paths.quality, paths.summary, params.validate)


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
                             description="Quality gate verdict and figures")
    fidelity = report["fidelity"]
    table = [{"figure": "passed", "value": report["passed"]},
             {"figure": "expectations_failed", "value": report["expectations"]["failed"]}]
    table += [{"figure": key, "value": value} for key, value in fidelity.items() if key != "column_shapes"]
    create_table_artifact(key="quality-figures", table=table, description="Quality gate figures")


validate_task = task(run_and_publish, name="validate", cache_policy=NO_CACHE, persist_result=False)

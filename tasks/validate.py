"""Stage 5: the quality gate, then its report published as Prefect artifacts, whether it passed or not."""

import re
from pathlib import Path

from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from synthpipe.config import Params
from synthpipe.gate.checks import artifact_tables
from synthpipe.gate.html import REPORT_FILE
from synthpipe.io import read_json
from synthpipe.stages import run_stage

# summary.md's figures are relative links, which the Prefect UI cannot show: the artifact names the files instead.
RELATIVE_IMAGE = re.compile(r"!\[([^\]]*)\]\((?![a-z]+:|/)([^)]+)\)")


def run(params: Params) -> dict:
    try:
        return run_stage("validate", params)
    finally:
        if params.paths.quality.exists():
            publish(params.paths.quality, params.paths.summary)


def publish(quality_path: Path, summary_path: Path) -> None:
    report = (summary_path.parent / REPORT_FILE).resolve()
    create_markdown_artifact(key="quality-summary", markdown=artifact_markdown(summary_path, report),
                             description="Quality gate verdict, reasons and what synthetic data did to model accuracy")
    if report.exists():
        create_link_artifact(key="quality-report", link=report.as_uri(), link_text=str(report),
                             description="The full quality report with every figure: one HTML file, opens offline")
    for key, (table, description) in artifact_tables(read_json(quality_path)).items():
        create_table_artifact(key=key, table=table, description=description)


def artifact_markdown(summary_path: Path, report: Path) -> str:
    """summary.md, led by where the full report is, with each figure named by its absolute path."""
    folder = summary_path.parent.resolve()
    summary = RELATIVE_IMAGE.sub(lambda m: f"- {m[1]}: `{folder / m[2]}`", summary_path.read_text(encoding="utf-8"))
    if not report.exists():
        return summary
    return (f"**Full report, every figure included:** [{report.name}]({report.as_uri()}) — open `{report}` in a "
            "browser (one self-contained file; it works offline and as an attachment).\n\n" + summary)


validate_task = task(run, name="validate", cache_policy=NO_CACHE, persist_result=False)

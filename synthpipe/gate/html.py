"""reports/report.html: the quality report as one self-contained page, for tables, images and time series alike.

Everything is inside the file: figures as base64 PNG data URIs, the style sheet inline, no script, font or
style sheet from anywhere else. It opens from disk, as a CI artifact or an e-mail attachment, offline, on a
phone (responsive), and prints. It is rendered from quality.json's structure — the verdict, its reasons and the
`checks` records first, then whichever sections the modality wrote — so a section a report lacks is left out.
"""

from __future__ import annotations

import base64
import math
from pathlib import Path

from synthpipe.gate.datadocs import renders_offline
from synthpipe.io import write_text

REPORT_FILE = "report.html"
TEMPLATE = "report.html.j2"
# Sections in reading order, with their headings; keys a report has beyond these follow under their own names.
SECTIONS = {
    "augmentation": "What synthetic data did to model accuracy",
    "utility": "Utility: models trained on synthetic data",
    "fidelity": "Fidelity: does synthetic data look like the real data?",
    "detection": "Detection: can a classifier tell synthetic from real?",
    "privacy": "Privacy: how close are synthetic rows to real ones?",
    "diversity": "Diversity",
    "acf": "Autocorrelation by lag",
    "classes": "Per class",
    "expectations": "Great Expectations results",
    "rows": "Rows",
    "counts": "Images",
    "sampling": "Sampling",
    "seconds": "Seconds per section",
    "inputs": "Inputs judged",
}
# Keys shown elsewhere on the page, or as long as the data itself (the suite is in gx/ and the Data Docs).
NOT_SECTIONS = {"passed", "reasons", "checks", "plots", "figures", "modality", "thresholds"}
SUBSECTIONS_HIDDEN = {"suite"}
FIGURE_CAPTIONS = {
    "samples": "Synthetic samples, one row per class",
    "augmentation": "Holdout score with and without synthetic data",
    "marginals": "Real vs synthetic distribution of each column",
    "correlation_difference": "Correlation difference, synthetic minus real",
    "training_losses": "Training losses",
    "sequences": "Real and synthetic sequences",
    "acf": "Autocorrelation of real and synthetic sequences",
}


def write_html_report(report: dict, reports_dir: Path) -> Path:
    """Render report.html into `reports_dir` from `report` and the PNGs in reports_dir/plots/."""
    figures = embedded_figures(reports_dir / "plots")
    docs = reports_dir / "data_docs" / "index.html"
    html = render_html(report, figures, data_docs="data_docs/index.html" if renders_offline(docs) else None)
    path = reports_dir / REPORT_FILE
    write_text(html, path)
    return path


def embedded_figures(plot_dir: Path) -> dict[str, dict]:
    """Every PNG in `plot_dir` as {stem: {"caption", "src": data URI}}, the sample grid first."""
    paths = sorted(plot_dir.glob("*.png"), key=lambda p: (p.stem != "samples", p.stem)) if plot_dir.is_dir() else []
    return {p.stem: {"caption": FIGURE_CAPTIONS.get(p.stem, p.stem.replace("_", " ")),
                     "src": "data:image/png;base64," + base64.b64encode(p.read_bytes()).decode("ascii")}
            for p in paths}


def render_html(report: dict, figures: dict[str, dict], data_docs: str | None = None) -> str:
    """The page for `report` (quality.json's structure), with `figures` from embedded_figures; `data_docs` is the
    Data Docs' address relative to the page, linked only when given."""
    from jinja2 import Environment, PackageLoader, select_autoescape  # loaded only by the validate stage

    env = Environment(loader=PackageLoader("synthpipe.gate", "templates"), autoescape=select_autoescape(["j2"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["fmt"] = fmt
    env.tests["records"] = is_records
    env.globals["columns"] = columns
    return env.get_template(TEMPLATE).render(
        verdict="PASSED" if report.get("passed") else "FAILED", passed=bool(report.get("passed")),
        reasons=report.get("reasons", []), checks=report.get("checks", []), sections=sections(report),
        augmentation_figure=figures.get("augmentation"),
        figures={k: v for k, v in figures.items() if k != "augmentation"},
        thresholds=report.get("thresholds", {}), data_docs=data_docs, modality=report.get("modality", "table"))


def sections(report: dict) -> list[dict]:
    """The report's sections in reading order, each {"key", "title", "content"}; absent ones left out."""
    body = {k: v for k, v in report.items() if k not in NOT_SECTIONS}
    if isinstance(body.get("fidelity"), dict) and "detection_auc" in body["fidelity"]:
        # Detection has a section of its own: it is the one figure a person checks first for realism.
        body["detection"] = {"detection_auc": body["fidelity"]["detection_auc"],
                             "meaning": "ROC AUC of a classifier separating synthetic from real rows: "
                                        "0.5 or less = indistinguishable, 1.0 = always told apart"}
    order = list(SECTIONS) + [k for k in body if k not in SECTIONS]
    return [{"key": key, "title": SECTIONS.get(key, key.replace("_", " ").capitalize()),
             "content": _without_hidden(body[key])} for key in order if key in body and body[key] not in (None, {}, [])]


def _without_hidden(content):
    if isinstance(content, dict):
        return {k: v for k, v in content.items() if k not in SUBSECTIONS_HIDDEN}
    return content


def is_records(value) -> bool:
    """A non-empty list of dicts: shown as a table with one row per dict."""
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def fmt(value) -> str:
    """One cell: numbers to 3 decimals, missing values as n/a, short lists inline."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, list):
        shown = ", ".join(fmt(item) for item in value[:12])
        return shown + (f", … ({len(value)} in all)" if len(value) > 12 else "")
    return str(value)


def columns(records: list[dict]) -> list[str]:
    """The union of the records' keys, in first-seen order."""
    return list(dict.fromkeys(key for record in records for key in record))

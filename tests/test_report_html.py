"""reports/report.html and the Data Docs as a person opens them: one self-contained file, offline, checked in a
real headless Chromium (skipped where it is not installed), and the Prefect artifacts that point at it."""

import base64
import re

import pytest

from synthpipe.config import ValidateConfig
from synthpipe.gate.datadocs import offline_page, renders_offline
from synthpipe.gate.html import render_html
from synthpipe.io import read_json
from synthpipe.tabular.stages import validate
from tests.browser import Browser, external, needs_chromium

MAX_REPORT_BYTES = 2 * 1024 * 1024
PHONE_WIDTH = 390


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """The validate stage's reports on real penguins: fresh real rows stand in for a good generator."""
    import palmerpenguins

    root = tmp_path_factory.mktemp("validate")
    rows = palmerpenguins.load_penguins().sample(frac=1, random_state=7).reset_index(drop=True)
    parts = {"train": rows.iloc[:138], "fresh": rows.iloc[138:275], "holdout": rows.iloc[275:]}
    for name, part in parts.items():
        part.reset_index(drop=True).to_parquet(root / f"{name}.parquet", index=False)
    (root / "log.csv").write_text("epoch,loss\n1,0.9\n2,0.5\n3,0.4\n")
    out = root / "reports"
    validate(root / "train.parquet", root / "fresh.parquet", out, ValidateConfig(),
             holdout_path=root / "holdout.parquet", target="species", train_log=root / "log.csv",
             expectations_dir=root / "gx")
    return out


def test_report_is_one_small_file_with_every_figure_inside(reports):
    html = (reports / "report.html").read_text(encoding="utf-8")
    quality = read_json(reports / "quality.json")
    assert (reports / "report.html").stat().st_size <= MAX_REPORT_BYTES
    assert html.index("Quality gate: <span class=\"verdict\">PASSED</span>") < html.index('id="checks"')
    # Every plot is inside, byte for byte; nothing is fetched from elsewhere.
    embedded = re.findall(r'<img src="data:image/png;base64,([^"]+)"', html)
    plots = sorted((reports / "plots").glob("*.png"))
    assert len(plots) == 4
    assert sorted(base64.b64decode(data) for data in embedded) == sorted(p.read_bytes() for p in plots)
    assert not re.search(r'<(script|link|img)\b[^>]*(src|href)="(?!data:|#|data_docs/)', html)
    assert '<meta name="viewport"' in html and "@media print" in html and "@media (max-width" in html
    for check in quality["checks"]:
        assert f"<td>{check['check']}</td>" in html
    assert html.index('id="augmentation"') < html.index('id="fidelity"') < html.index('id="detection"') \
        < html.index('id="privacy"') < html.index('id="figures"')
    assert f"{quality['fidelity']['detection_auc']:.3f}" in html


def test_a_failed_gate_leads_with_its_reasons_escaped():
    report = {"passed": False, "reasons": ["detection AUC 0.990 > 0.95 <script>alert(1)</script>"],
              "checks": [{"check": "detection AUC", "value": 0.99, "limit": "<= 0.95", "passed": False},
                         {"check": "DCR ratio", "value": None, "limit": ">= 0.5", "passed": None}],
              "fidelity": {"detection_auc": 0.99}}
    html = render_html(report, figures={})
    assert "<title>Quality gate: FAILED</title>" in html and "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.index("<ul class=\"reasons\">") < html.index('id="checks"')
    assert '<tr class="fail"><td>detection AUC</td><td>0.990</td><td>&lt;= 0.95</td>' in html
    assert "<td>DCR ratio</td><td>n/a</td>" in html and ">not computed</td>" in html


def test_an_image_report_renders_the_sections_it_has():
    """Image reports lay their figures out differently; the page shows whatever is there, sample grid first."""
    report = {"modality": "image", "passed": True, "reasons": [],
              "fidelity": {"fid": 1.5, "label_agreement": 0.9, "worst_class": "3"},
              "utility": {"real_accuracy": 0.95, "cas": 0.9},
              "classes": {"0": {"precision": 0.8, "coverage": 0.7}},
              "augmentation": [{"real_fraction": 0.5, "accuracy_real": 0.9, "accuracy_real_plus_synthetic": 0.93}],
              "counts": {"train": 640, "holdout": 160, "synthetic": 300},
              "thresholds": {"min_label_agreement": 0.3}}
    png = "data:image/png;base64,AAAA"
    figures = {"samples": {"caption": "samples", "src": png}, "augmentation": {"caption": "curve", "src": png}}
    html = render_html(report, figures)
    assert 'id="checks"' not in html and 'id="thresholds"' in html and "min label agreement" in html
    assert html.index('id="augmentation"') < html.index("accuracy real plus synthetic") < html.index('id="classes"')
    assert html.index("<figcaption>curve</figcaption>") < html.index('id="figure-samples"')
    assert "<th scope=\"row\">coverage</th><td>0.700</td>" in html.replace("\n", "")
    assert "Quality gate: <span class=\"verdict\">PASSED</span>" in render_html({"passed": True}, {})


def test_data_docs_load_nothing_from_another_host(reports):
    site = reports / "data_docs"
    pages = list(site.rglob("*.html"))
    assert len(pages) == 3 and renders_offline(site / "index.html")
    assert not any("cdn" in page.read_text() or "s3.us-east-2" in page.read_text() for page in pages)
    assert (site / "static/synthpipe/offline.js").is_file()
    assert 'href="data_docs/index.html"' in (reports / "report.html").read_text()
    page = offline_page('<head><script src="https://code.jquery.com/jquery.js"></script>\n<link '
                        'href="https://cdn.example/x.css" rel="stylesheet"/></head><a href="https://x.org">', "..")
    assert page == ('<head><link rel="stylesheet" href="../static/synthpipe/offline.css">\n'
                    '<script src="../static/synthpipe/offline.js"></script>\n</head><a href="https://x.org">')


@needs_chromium
def test_report_in_chromium_shows_the_verdict_and_every_figure_offline(reports, tmp_path):
    with Browser() as browser:
        browser.open((reports / "report.html").as_uri())
        verdict = browser.evaluate("(() => { const v = document.querySelector('#verdict'); const box = "
                                   "v.getBoundingClientRect(); return [v.innerText, box.top, box.height]; })()")
        widths = browser.evaluate("Array.from(document.images).map(image => image.complete && image.naturalWidth)")
        assert verdict[0] == "Quality gate: PASSED" and 0 <= verdict[1] < 100 and verdict[2] > 0
        assert len(widths) == 4 and all(width > 0 for width in widths)
        assert external(browser.requests) == [] and browser.failed == []
        browser.screenshot(tmp_path / "report.png")
        assert (tmp_path / "report.png").read_bytes()[:4] == b"\x89PNG"
        # On a phone the page itself never scrolls sideways: wide tables scroll in their own boxes.
        browser.call("Emulation.setDeviceMetricsOverride", width=PHONE_WIDTH, height=800, deviceScaleFactor=2,
                     mobile=True)
        browser.open((reports / "report.html").as_uri())
        assert browser.evaluate("document.documentElement.scrollWidth") <= PHONE_WIDTH


@needs_chromium
def test_data_docs_in_chromium_list_the_run_offline(reports):
    evaluated = read_json(reports / "quality.json")["expectations"]["evaluated"]
    with Browser() as browser:
        browser.open((reports / "data_docs/index.html").as_uri())
        rows = browser.evaluate("Array.from(document.querySelectorAll('table.synthpipe-offline-table'))"
                                ".map(table => table.innerText)")
        assert len(rows) == 2 and all("synthetic" in text for text in rows)
        validation = browser.evaluate("document.querySelector('a[href*=\"validations/\"]').href")
        browser.open(validation)
        text = browser.evaluate("document.body.innerText")
        assert re.search(rf"Evaluated Expectations\s+{evaluated}\s", text) and "Must have exactly these columns" in text
        assert external(browser.requests) == []


def test_the_validate_task_links_the_report_from_its_artifacts(reports, prefect_harness):
    from prefect import flow
    from prefect.artifacts import Artifact

    from tasks.validate import publish

    @flow
    def publishing():
        publish(reports / "quality.json", reports / "summary.md")

    publishing()
    report = (reports / "report.html").resolve()
    assert Artifact.get("quality-report").data == f"[{report}]({report.as_uri()})"
    markdown = Artifact.get("quality-summary").data
    assert markdown.startswith("**Full report, every figure included:**") and "](plots/" not in markdown
    assert f"`{(reports / 'plots' / 'marginals.png').resolve()}`" in markdown

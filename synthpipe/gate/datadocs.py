"""Great Expectations' Data Docs, made to render offline.

GX 1.x pages load jQuery, Bootstrap, bootstrap-table, Font Awesome and vega from CDNs and fill their tables
from inline data with bootstrap-table: opened from disk on a machine without network, they are unstyled and
their lists of suites and validation results empty. `make_offline` drops every reference to another host and
puts two small files of ours in their place (synthpipe/gate/static/): a stand-in for the few jQuery calls the
pages make, which fills each table from its inline data, and a style sheet. No request leaves the machine.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from synthpipe.io import write_text

STATIC = Path(__file__).parent / "static"
OFFLINE_FILES = ("offline.js", "offline.css")
OFFLINE_DIR = "static/synthpipe"  # inside the docs site
# Tags that would fetch from another host as the page loads (links in <a> only navigate when clicked).
REMOTE_SCRIPT = re.compile(r'<script\b[^>]*\bsrc="https?://[^"]*"[^>]*>\s*</script>\s*', re.IGNORECASE)
REMOTE_STYLESHEET = re.compile(r'<link\b[^>]*\bhref="https?://[^"]*"[^>]*>\s*', re.IGNORECASE)
# GX's logo comes from its S3 bucket (with the data context id in the query); the site has a copy.
REMOTE_ASSET = re.compile(r"https?://great-expectations-web-assets\.[^\"')\s]*")
REMOTE_LOAD = re.compile(r'<(?:script|img|link|iframe|source)\b[^>]*\b(?:src|href)="https?://|url\([\'"]?https?://',
                         re.IGNORECASE)


def make_offline(site: Path) -> None:
    """Rewrite every page of the Data Docs site in `site` in place so it renders with no network."""
    target = site / OFFLINE_DIR
    target.mkdir(parents=True, exist_ok=True)
    for name in OFFLINE_FILES:
        shutil.copyfile(STATIC / name, target / name)
    for page in site.rglob("*.html"):
        write_text(offline_page(page.read_text(encoding="utf-8"), os.path.relpath(site, page.parent)), page)


def offline_page(html: str, root: str) -> str:
    """One page with its remote scripts and style sheets replaced by ours; `root` is the site relative to it."""
    ours = (f'<link rel="stylesheet" href="{root}/{OFFLINE_DIR}/offline.css">\n'
            f'<script src="{root}/{OFFLINE_DIR}/offline.js"></script>\n')
    html = REMOTE_SCRIPT.sub("", REMOTE_STYLESHEET.sub("", html))
    # At the end of <head>: defined before any of the pages' inline scripts runs.
    html = html.replace("</head>", ours + "</head>", 1) if "</head>" in html else ours + html
    return REMOTE_ASSET.sub(f"{root}/static/images/logo-long.png", html)


def renders_offline(index: Path) -> bool:
    """Whether the Data Docs site of `index` exists and none of its pages loads anything from another host."""
    if not index.is_file():
        return False
    return not any(REMOTE_LOAD.search(page.read_text(encoding="utf-8")) for page in index.parent.rglob("*.html"))

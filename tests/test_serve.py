"""`synthpipe serve` on a real Prefect server (loopback), with deployment runs triggered from outside: a table
project, then the same project switched to time series."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import yaml

from synthpipe.io import read_json
from tests.conftest import FAST_PARAMS, LOOSE_GATE, deep_update, make_project
from tests.test_timeseries import SETTINGS, shops

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def collect_output(process: subprocess.Popen) -> list[str]:
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True).start()
    return lines


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def run_deployment(env: dict, deadline: float) -> subprocess.CompletedProcess:
    """Trigger the served deployment and watch it; retry while `serve` is still registering it."""
    command = [str(BIN / "prefect"), "deployment", "run", "refresh/refresh", "--watch", "--watch-timeout", "300"]
    while True:
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400)
        if result.returncode == 0 or time.monotonic() > deadline or "not found" not in result.stdout + result.stderr:
            return result
        time.sleep(2)


# The schedule's plumbing is under test here, not the model: the copula fits in a second and passes the gate.
QUICK = {"train": {"model": "copula"}}


def test_serve_runs_the_deployment_and_stops_cleanly(tmp_path):
    project = make_project(tmp_path / "project", FAST_PARAMS, LOOSE_GATE, QUICK)
    port = free_port()
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PREFECT_UI_ENABLED": "false",
           "PREFECT_HOME": str(project / ".prefect")}
    env.pop("PREFECT_API_URL", None)
    server = subprocess.Popen([str(BIN / "synthpipe"), "serve", "--port", str(port)], cwd=project, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output = collect_output(server)
    try:
        wait_for(lambda: any("synthpipe serve:" in line for line in output), 240, "the server to start")
        result = run_deployment({**env, "PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}, time.monotonic() + 120)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Completed" in result.stdout
        assert (project / "data/merged/train.parquet").exists() and (project / "reports/quality.json").exists()

        # Each run reads params.yaml afresh: the same deployment, switched to time series, runs them through.
        params = deep_update(yaml.safe_load((project / "params.yaml").read_text()), SETTINGS)
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        shops().to_csv(project / "shops.csv", index=False)
        result = run_deployment({**env, "PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}, time.monotonic())
        assert result.returncode == 0 and "Completed" in result.stdout, result.stdout + result.stderr
        assert read_json(project / "reports/quality.json")["modality"] == "timeseries"
        # The page DVC recorded is this run's, not the table run's left in place.
        assert "(timeseries data)" in (project / "reports/report.html").read_text(encoding="utf-8")
        merged = pd.read_parquet(project / "data/merged/train.parquet")
        assert merged.loc[merged["is_synthetic"], "shop"].nunique() == 8 and "species" not in merged.columns
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=90)
    assert server.returncode == 0, "".join(output)
    assert "deployment 'refresh/refresh' on cron '0 3 * * *' (UTC)" in "".join(output)
    assert not port_open(port)  # the Prefect server it started is gone too


def test_bad_cron_is_a_config_error(project):
    params = (project / "params.yaml").read_text().replace("0 3 * * *", "every day")
    (project / "params.yaml").write_text(params)
    result = subprocess.run([str(BIN / "synthpipe"), "serve", "--port", str(free_port())], cwd=project,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "schedule.cron" in result.stderr


def test_the_ui_on_another_port_talks_to_its_own_api(tmp_path):
    """On a port other than Prefect's default the UI must be pointed at its own API, or the page in the browser
    says "Unable to connect to Prefect server"."""
    import json
    import urllib.request

    from tests.browser import CHROMIUM, Browser, external

    project = make_project(tmp_path / "project", FAST_PARAMS, LOOSE_GATE, QUICK)
    port = free_port()
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PREFECT_HOME": str(project / ".prefect")}
    env.pop("PREFECT_API_URL", None)
    server = subprocess.Popen([str(BIN / "synthpipe"), "serve", "--port", str(port)], cwd=project, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output = collect_output(server)
    base = f"http://127.0.0.1:{port}"
    try:
        # Serve exits by itself when the UI names another API: stop waiting then.
        wait_for(lambda: any("synthpipe serve:" in line for line in output) or server.poll() is not None, 240,
                 "the server to start")
        assert f"synthpipe serve: Prefect UI at {base}, deployment" in "".join(output), "".join(output)
        with urllib.request.urlopen(f"{base}/ui-settings", timeout=10) as response:
            assert json.load(response)["api_url"] == f"{base}/api"
        if CHROMIUM.exists():  # the page itself, as a person sees it
            with Browser() as browser:
                browser.open(f"{base}/")
                # The first load serves several MB of scripts from a busy server: give it time. The dashboard shows
                # its runs, or (a new database) its empty state: either once the UI's API calls have answered.
                browser.wait_for("['Flow Runs', 'Run a task or flow to get started']"
                                 ".some(t => document.body.innerText.includes(t))", timeout=180)
                text = browser.evaluate("document.body.innerText")
                # What the V2 and the V1 UI say when their API does not answer.
                assert "Unable to connect" not in text and "Can't connect to Server API" not in text
                api_calls = [url for url in browser.requests if "/api/" in url]
                assert api_calls and all(url.startswith(f"{base}/api/") for url in api_calls)
                assert external(browser.requests) == []
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=90)
    assert server.returncode == 0, "".join(output)

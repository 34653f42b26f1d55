"""Scheduled refreshes: a real Prefect server on loopback, and the refresh deployment served on its cron schedule.

Prefect's ephemeral API cannot fire schedules, so `synthpipe serve` starts `prefect server start`
(SQLite-backed under PREFECT_HOME), points PREFECT_API_URL at it, and serves the flow until SIGTERM/Ctrl-C,
then stops the server it started. The server's UI is told the same API address, whatever the host and port.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from synthpipe.config import load_params
from synthpipe.errors import ConfigError, SynthpipeError

DEPLOYMENT = "refresh"


def serve(params_file: str, host: str, port: int, startup_timeout: float = 120.0) -> None:
    params = load_params(params_file)
    api_url = f"http://{host}:{port}/api"
    # Prefect reads its settings when it is first imported: point it at our server before that,
    # or it would start an ephemeral API of its own, which cannot fire schedules.
    os.environ["PREFECT_API_URL"] = api_url
    schedule = _cron_schedule(params.schedule.cron, params.schedule.timezone)
    # SIGTERM must unwind through `finally` (stopping the server) at any point, not kill us mid-way.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = _start_server(host, port, api_url)
    try:
        _wait_until_healthy(api_url, server, startup_timeout)
        _limit_concurrent_training(params.schedule.train_concurrency)
        from flows.refresh import refresh

        print(f"synthpipe serve: {_ui_line(api_url)}, "
              f"deployment '{refresh.name}/{DEPLOYMENT}' on cron '{params.schedule.cron}' ({params.schedule.timezone})",
              flush=True)
        refresh.serve(
            name=DEPLOYMENT,
            schedule=schedule,
            parameters={"params_file": params_file, "overrides": list(params.schedule.overrides)},
            global_limit=1,  # overlapping scheduled runs wait: never two refreshes of this project at once
            limit=1,
            print_starting_message=False,
        )
    finally:
        _stop(server)


def _cron_schedule(cron: str, timezone: str):
    from prefect.client.schemas.schedules import CronSchedule
    from pydantic import ValidationError

    try:
        return CronSchedule(cron=cron, timezone=timezone)
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"]
        raise ConfigError(f"schedule.cron / schedule.timezone: {problem} "
                          f"(got cron={cron!r}, timezone={timezone!r})") from None


def _start_server(host: str, port: int, api_url: str) -> subprocess.Popen:
    prefect = Path(sys.executable).with_name("prefect")
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    # Without it the UI's settings name the default address (port 4200), and on any other port the page in the
    # browser says "Unable to connect to Prefect server".
    env["PREFECT_SERVER_UI_API_URL"] = api_url
    # A session of its own: a Ctrl-C in the terminal reaches us, and we stop the server in order.
    return subprocess.Popen([str(prefect), "server", "start", "--host", host, "--port", str(port)],
                            env=env, start_new_session=True)


def _wait_until_healthy(api_url: str, server: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SynthpipeError(f"the Prefect server exited with code {server.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise SynthpipeError(f"the Prefect server at {api_url} was not ready within {timeout:.0f} s")


def _ui_line(api_url: str) -> str:
    """Where to open the UI, once it answers and its settings name our API; just the server when the UI is off."""
    base = api_url.removesuffix("/api")
    try:
        with urllib.request.urlopen(f"{base}/ui-settings", timeout=5) as response:
            ui_api = json.load(response).get("api_url")
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
        return f"Prefect server at {base} (no UI)"
    if ui_api != api_url:
        raise SynthpipeError(f"the Prefect UI at {base} talks to {ui_api}, not to its own API {api_url}")
    return f"Prefect UI at {base}"


def _limit_concurrent_training(slots: int) -> None:
    from prefect.client.orchestration import get_client

    from tasks.train import TRAIN_TAG

    with get_client(sync_client=True) as client:
        client.create_concurrency_limit(tag=TRAIN_TAG, concurrency_limit=slots)


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()

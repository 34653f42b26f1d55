"""Headless Chromium driven over the Chrome DevTools Protocol: open a page, see every request it makes, run
JavaScript in it, take a screenshot. Tests that need it skip (with the reason) where /usr/bin/chromium is absent."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium's own connections (updates, sync) are refused here and slow it.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-port=0", "--window-size=1200,900"]

needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium "
                                    "(.ci/run installs it: apt-get install chromium)")


class Browser:
    """One Chromium process with a fresh profile and one page; use as a context manager."""

    def __enter__(self) -> Browser:
        from websockets.sync.client import connect

        # Chromium's helper processes may still write to the profile for a moment after it exits.
        self._profile = tempfile.TemporaryDirectory(prefix="synthpipe-chromium-", ignore_cleanup_errors=True)
        # A session of its own: stopping it stops its helper processes (renderer, GPU, zygote) too.
        self._process = subprocess.Popen([str(CHROMIUM), *FLAGS, f"--user-data-dir={self._profile.name}",
                                          "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                         start_new_session=True)
        try:
            port = self._debugging_port(Path(self._profile.name) / "DevToolsActivePort")
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
                page = next(t for t in json.load(response) if t["type"] == "page")
            self._socket = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        except BaseException:
            self._stop()
            raise
        self._ids = itertools.count(1)
        self.requests: list[str] = []
        self.failed: list[str] = []
        for domain in ("Page", "Network", "Runtime"):
            self.call(f"{domain}.enable")
        return self

    def __exit__(self, *exc) -> None:
        self._socket.close()
        self._stop()

    def _stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGTERM)
        self._process.wait(timeout=30)
        self._profile.cleanup()

    def _debugging_port(self, active_port: Path, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while not active_port.exists() or not active_port.read_text().strip():
            assert self._process.poll() is None, f"chromium exited with code {self._process.returncode}"
            assert time.monotonic() < deadline, "chromium did not open its debugging port"
            time.sleep(0.1)
        return int(active_port.read_text().split()[0])

    def call(self, method: str, **params) -> dict:
        """Send one command and return its result, recording the events that arrive meanwhile."""
        message_id = next(self._ids)
        self._socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = self._receive(timeout=60)
            if message.get("id") == message_id:
                assert "error" not in message, f"{method}: {message['error']}"
                return message["result"]

    def _receive(self, timeout: float) -> dict:
        message = json.loads(self._socket.recv(timeout=timeout))
        if message.get("method") == "Network.requestWillBeSent":
            self.requests.append(message["params"]["request"]["url"])
        elif message.get("method") == "Network.loadingFailed":
            self.failed.append(message["params"].get("errorText", ""))
        return message

    def open(self, url: str, timeout: float = 60) -> None:
        """Navigate and wait for the load event (every image, script and style sheet done or failed)."""
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while self._receive(timeout=max(0.1, deadline - time.monotonic())).get("method") != "Page.loadEventFired":
            pass

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60) -> None:
        """Poll a JavaScript condition until it holds (pages that render after load, like the Prefect UI)."""
        deadline = time.monotonic() + timeout
        while not self.evaluate(expression):
            assert time.monotonic() < deadline, f"timed out waiting for: {expression}"
            time.sleep(0.5)

    def screenshot(self, path: Path, full_page: bool = True) -> None:
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=full_page)
        path.write_bytes(base64.b64decode(shot["data"]))


def external(urls: list[str]) -> list[str]:
    """The requests that would leave the machine (anything but files, inline data and loopback)."""
    local = ("file:", "data:", "blob:", "about:", "chrome:", "devtools:", "http://127.0.0.1", "http://localhost")
    return [url for url in urls if not url.startswith(local)]

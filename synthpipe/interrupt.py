"""Stopping cleanly on SIGTERM and SIGINT.

The CLI runs every command within `stop_on_signals()`, which handles both with `on_signal`. In the main thread
that raises `Interrupted` where the code happens to be, as Python raises KeyboardInterrupt for Ctrl-C, so every
`finally` runs: temporaries are removed, the project lock is released, the last checkpoint stays. It also sets a
flag that `check()` turns into `Interrupted` in any thread, since a signal only interrupts the main thread: the
training loop checks it at every step, so training that runs in a worker thread (as orchestrators may run a task)
stops as soon too, instead of running on after the main thread has given up. A stage that DVC started stops when
DVC dies (DVC does not pass SIGTERM on to its stage commands).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
from collections.abc import Iterator

from synthpipe.errors import Interrupted

SIGNALS = (signal.SIGTERM, signal.SIGINT)
PR_SET_PDEATHSIG = 1  # linux/prctl.h
_received: list[int] = []  # the first signal that asked to stop
_stop = threading.Event()


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGINT stop the run (see the module doc); the previous handlers come back
    after it. A stop asked for stays asked for until the next block: threads still training see it. Main thread
    only, as Python requires."""
    _received.clear()
    _stop.clear()
    previous = {signum: signal.signal(signum, on_signal) for signum in SIGNALS}
    if "DVC_STAGE" in os.environ:  # run by `dvc repro`: stop with it
        stop_with_parent()
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def on_signal(signum: int, frame: object = None) -> None:
    if not _received:
        _received.append(signum)
    _stop.set()
    raise Interrupted(_received[0])


def check() -> None:
    """Raise `Interrupted` if a stop was asked for (callable from any thread; costs one flag read)."""
    if _stop.is_set():
        raise Interrupted(_received[0])


def stop_with_parent() -> None:
    """Linux: get SIGTERM when the parent process dies. Elsewhere (no prctl) nothing."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass

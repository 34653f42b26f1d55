"""Stopping cleanly on SIGTERM and SIGINT.

The CLI installs `on_signal` for both. In the main thread it raises `Interrupted` where the code happens to be, as
Python raises KeyboardInterrupt for Ctrl-C, so every `finally` runs: temporaries are removed, the project lock is
released, the last checkpoint stays. It also sets a flag that `check()` turns into `Interrupted` in any thread,
since a signal only interrupts the main thread: the training loop checks it at every step, so training that runs in
a worker thread (as orchestrators may run a task) stops as soon too, instead of running on after the main thread
has given up. A stage that DVC started stops when DVC dies (it does not pass SIGTERM on to its stage commands).
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading

from synthpipe.errors import Interrupted

SIGNALS = (signal.SIGTERM, signal.SIGINT)
PR_SET_PDEATHSIG = 1  # linux/prctl.h
_received: list[int] = []  # the first signal that asked to stop
_stop = threading.Event()


def install() -> None:
    """Stop on SIGTERM and SIGINT (see the module doc). Main thread only, as Python requires."""
    _received.clear()
    _stop.clear()
    for signum in SIGNALS:
        signal.signal(signum, on_signal)
    if "DVC_STAGE" in os.environ:  # run by `dvc repro`: stop with it
        stop_with_parent()


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

"""Stopping cleanly on SIGTERM and SIGINT.

The CLI runs every command within `stop_on_signals()`, which handles both with `on_signal`. In the main thread
that raises `Interrupted` where the code happens to be, as Python raises KeyboardInterrupt for Ctrl-C, so every
`finally` runs: temporaries are removed, the project lock is released, the last checkpoint stays. The few
statements that must run together (the renames and cleanup of an atomic write) run within `held()`, which keeps
the signal until they are done, since a raise between them would leave a temporary behind. It also sets a
flag that `check()` turns into `Interrupted` in any thread, since a signal only interrupts the main thread: the
training loop checks it at every step, so training that runs in a worker thread (as orchestrators may run a task)
stops as soon too, instead of running on after the main thread has given up. A stage that DVC started stops when
the DVC process exits: DVC does not pass SIGTERM on to its stage commands, and it starts them through a shell that
may outlive it (dash does not exec a `-c` command), so the stage watches DVC itself rather than its parent.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

from synthpipe.errors import Interrupted

SIGNALS = (signal.SIGTERM, signal.SIGINT)
_received: list[int] = []  # the first signal that asked to stop
_stop = threading.Event()
_main = threading.local()  # how deep the main thread is in held() blocks, and whether a signal waits for their end


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGINT stop the run (see the module doc); the previous handlers come back
    after it. A stop asked for stays asked for until the next block: threads still training see it. Main thread
    only, as Python requires."""
    _received.clear()
    _stop.clear()
    previous = {signum: signal.signal(signum, on_signal) for signum in SIGNALS}
    if "DVC_STAGE" in os.environ:  # run by `dvc repro`: stop with it
        stop_with_dvc()
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def on_signal(signum: int, frame: object = None) -> None:
    if not _received:
        _received.append(signum)
    _stop.set()
    if getattr(_main, "depth", 0):  # Python runs handlers in the main thread, so this is the main thread's depth
        _main.waiting = True
        return
    raise Interrupted(_received[0])


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Within the block, a stop signal waits: `Interrupted` is raised when the outermost held block ends."""
    _main.depth = getattr(_main, "depth", 0) + 1
    try:
        yield
    finally:
        _main.depth -= 1
    if _main.depth == 0 and getattr(_main, "waiting", False):
        _main.waiting = False
        raise Interrupted(_received[0])


def check() -> None:
    """Raise `Interrupted` if a stop was asked for (callable from any thread; costs one flag read)."""
    if _stop.is_set():
        raise Interrupted(_received[0])


def stop_with_dvc() -> None:
    """Linux: send this process SIGTERM when the DVC process that runs this stage exits. Elsewhere nothing."""
    pid = dvc_pid()
    if pid is None:
        return
    try:
        exited = os.pidfd_open(pid)
    except ProcessLookupError:  # DVC is already gone
        os.kill(os.getpid(), signal.SIGTERM)
        return
    except (OSError, AttributeError):  # no pidfd (old kernel, not Linux): run on as before
        return
    threading.Thread(target=terminate_when_readable, args=(exited,), name="stop-with-dvc", daemon=True).start()


def terminate_when_readable(exited: int) -> None:
    select.select([exited], [], [])  # a pidfd becomes readable when its process exits
    os.kill(os.getpid(), signal.SIGTERM)


def dvc_pid() -> int | None:
    """The nearest ancestor without DVC's `DVC_STAGE` variable: DVC itself, above the shell it runs the stage in."""
    pid = os.getppid()
    while pid > 1:
        proc = Path("/proc") / str(pid)
        try:
            if not any(entry.startswith(b"DVC_STAGE=") for entry in (proc / "environ").read_bytes().split(b"\0")):
                return pid
            pid = int((proc / "stat").read_bytes().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):  # no /proc, or not ours to read
            return None
    return None

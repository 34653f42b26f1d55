"""Two refreshes of one project never run at once: the second fails at once, naming the holder."""

from pathlib import Path

import pytest

from synthpipe.errors import LockHeld
from synthpipe.io import exclusive_lock


def test_lock_is_exclusive_and_released(tmp_path):
    lock = tmp_path / "project.lock"
    with exclusive_lock(lock, holder="first"):
        with pytest.raises(LockHeld, match=r"held by first \(pid \d+\)"):
            with exclusive_lock(lock, holder="second"):
                pass
    with exclusive_lock(lock, holder="third"):
        assert lock.read_text().startswith("third")


def test_refresh_refuses_to_run_beside_another(project, prefect_harness):
    from flows.refresh import LOCK_FILE, refresh

    with exclusive_lock(LOCK_FILE, holder="refresh flow run other-run"):
        with pytest.raises(LockHeld, match="held by refresh flow run other-run"):
            refresh()
    assert not Path("data/raw").exists()  # no stage ran

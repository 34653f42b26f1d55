"""Keep DVC's record in step with flow runs, so a flow run and `dvc repro` agree on what is up to date."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from synthpipe.io import atomic_path

LOCK_FILE = "dvc.lock"
# DVC rewrites dvc.lock in place: a run killed mid-write leaves it cut short, and every later DVC call fails on it.
# After each record a whole copy goes here (git-ignored, like all of .dvc/tmp), to be put back in that case.
LOCK_COPY = ".dvc/tmp/dvc.lock.recorded"
# DVC's record of the processes reading and writing outputs, also rewritten in place: cut short, every later DVC
# call fails on it. It only names live processes, and none runs while a flow run holds the project's lock.
RWLOCK_FILE = ".dvc/tmp/rwlock"

logger = logging.getLogger(__name__)


class DvcStages:
    """Ask DVC whether a stage is up to date, and record a stage's outputs (dvc.lock + cache) after it runs."""

    def __init__(self, root: Path):
        from dvc.repo import Repo

        logging.getLogger("dvc").setLevel(logging.WARNING)  # its "Updating lock file" lines are noise here
        self.root = root
        self.repo = Repo(str(root))
        self._repair_lock()
        self._repair_rwlock()

    @classmethod
    def for_run(cls, params_file: str | Path, overrides: list[str]) -> DvcStages | None:
        """DVC tracks the run only when it uses the project's own params.yaml unchanged: otherwise
        dvc.lock would record parameters the outputs were not made with."""
        root = Path.cwd()
        is_dvc_project = (root / ".dvc").is_dir() and (root / "dvc.yaml").is_file()
        if not is_dvc_project or overrides or Path(params_file).resolve() != (root / "params.yaml").resolve():
            return None
        return cls(root)

    def is_up_to_date(self, stage: str) -> bool:
        return not self.repo.status(targets=[stage])

    def record(self, stage: str) -> None:
        self.repo.commit(stage, force=True)
        with atomic_path(self.root / LOCK_COPY) as tmp:
            shutil.copyfile(self.root / LOCK_FILE, tmp)

    def _repair_lock(self) -> None:
        """Put back the last whole dvc.lock if the present one cannot be read (or drop it: every stage reruns)."""
        from dvc.dvcfile import Lockfile
        from dvc.exceptions import DvcException

        lock, copy = self.root / LOCK_FILE, self.root / LOCK_COPY
        if not lock.exists():
            return
        try:  # DVC never writes an empty dvc.lock: empty means cut short before the first line
            if Lockfile(self.repo, str(lock)).load():
                return
            problem = "it is empty"
        except DvcException as exc:
            problem = str(exc).splitlines()[0]
        if copy.exists():
            with atomic_path(lock) as tmp:
                shutil.copyfile(copy, tmp)
        else:
            lock.unlink()
        logger.warning("%s could not be read (%s), as after a run killed while DVC wrote it; %s", lock, problem,
                       "restored the last whole copy" if copy.exists() else "removed it: every stage reruns")

    def _repair_rwlock(self) -> None:
        """Remove DVC's reader/writer record if it cannot be read: DVC starts a missing one empty."""
        path = self.root / RWLOCK_FILE
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except ValueError as exc:  # JSON cut short, or bytes cut inside a character
            path.unlink()
            logger.warning("%s could not be read (%s), as after a run killed while DVC wrote it; removed it", path,
                           exc)

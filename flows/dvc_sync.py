"""Keep DVC's record in step with flow runs, so a flow run and `dvc repro` agree on what is up to date."""

from __future__ import annotations

import logging
from pathlib import Path


class DvcStages:
    """Ask DVC whether a stage is up to date, and record a stage's outputs (dvc.lock + cache) after it runs."""

    def __init__(self, root: Path):
        from dvc.repo import Repo

        logging.getLogger("dvc").setLevel(logging.WARNING)  # its "Updating lock file" lines are noise here
        self.repo = Repo(str(root))

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

"""Faults never lose rows: `synthpipe refresh` SIGKILLed during each of the six stages, then run again.

One project runs the six stages once (recorded in DVC as the flow records them), then gets a new version of its
source, so every stage is out of date and rewrites outputs that already exist (the riskier case for a
half-replaced file or folder). Run k of
the refresh is killed, process group and all, at a seeded random point of stage k: the previous run was killed
in stage k-1, so stage k starts when stage k-1 finishes (or is reported up to date). After each kill every output
present must be whole, and the project lock free. A last refresh must complete with every source row in the
merged train set or the holdout, exactly, and no temporary file left anywhere.

The refreshes use the session's Prefect test server (PREFECT_API_URL), so they pay no server start-up each.
`pytest -s` prints the trials: where each kill landed, temporaries it left, rows lost.
"""

import importlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from synthpipe.io import atomic_dir, atomic_path, exclusive_lock, sweep_stale_temps, verify_manifest
from synthpipe.stages import STAGES
from tests.conftest import LOOSE_GATE, make_project

SEED = 20261122
# Column names that would escape their folder if anything built a path from them.
HOSTILE_COLUMNS = ["../../evil", "a/b"]
FAST_COPULA = {"data": {"name": "t", "target": "label", "source": {"format": "csv", "path": "data/source.csv"}},
               "train": {"model": "copula"},
               "validate": {"augmentation_fractions": [1.0], "model_iterations": 10, "detection_folds": 2}}


def source_rows(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({HOSTILE_COLUMNS[0]: rng.normal(0, 1, rows).round(3),
                         HOSTILE_COLUMNS[1]: rng.choice(list("xyz"), rows),
                         "amount": rng.gamma(2, 3, rows).round(2), "label": rng.choice(["p", "q"], rows)})


def temp_leftovers(root: Path) -> list[str]:
    """What synthpipe.io's atomic helpers leave only while writing: .<target>.<pid>.<random>.tmp / .old."""
    return sorted(str(path.relative_to(root)) for path in root.rglob(".*")
                  if path.suffix in (".tmp", ".old") and ".git" not in path.parts and ".dvc" not in path.parts)


class Refresh:
    """`synthpipe refresh` in its own process group, its output lines collected with their arrival times."""

    def __init__(self, root: Path, api_url: str):
        bin_dir = Path(sys.executable).parent
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PREFECT_API_URL": api_url}
        self.process = subprocess.Popen([str(bin_dir / "synthpipe"), "refresh"], cwd=root, env=env, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self.began = time.monotonic()
        self.lines: list[tuple[float, str]] = []
        self.lock_updates: list[float] = []  # when dvc.lock changed: the flow records a stage right after it ran
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        threading.Thread(target=self._watch_lock, args=(root / "dvc.lock",), daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append((time.monotonic(), line))

    def _watch_lock(self, path: Path) -> None:
        seen = path.stat().st_mtime_ns if path.exists() else None
        while self.process.poll() is None:
            stamp = path.stat().st_mtime_ns if path.exists() else None
            if stamp != seen:
                seen = stamp
                self.lock_updates.append(time.monotonic())
            time.sleep(0.01)

    def stage_start(self, stage: str, timeout: float = 120) -> float:
        """When `stage` began: after the flow began (ingest), or once the stage before it was recorded in dvc.lock."""
        if stage == STAGES[0]:
            return self.wait_for(r"Beginning flow run", timeout)
        before = STAGES[STAGES.index(stage) - 1]
        finished, line = self.wait_for_line(rf"Task run '{before}-\w+' - Finished in state Completed|"
                                            rf"{before}: up to date, skipped", timeout)
        if "up to date" in line:  # nothing to record
            return finished
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            recorded = [stamp for stamp in self.lock_updates if stamp >= finished]
            if recorded:
                return recorded[0]
            time.sleep(0.01)
        return finished

    def wait_for(self, pattern: str, timeout: float = 120) -> float:
        """When a line matching `pattern` arrived."""
        return self.wait_for_line(pattern, timeout)[0]

    def wait_for_line(self, pattern: str, timeout: float = 120) -> tuple[float, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for stamp, line in list(self.lines):
                if re.search(pattern, line):
                    return stamp, line
            if self.process.poll() is not None and not self.reader.is_alive():
                break
            time.sleep(0.02)
        raise AssertionError(f"no line matching {pattern!r}:\n{self.output()}")

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.finish()

    def finish(self) -> int:
        code = self.process.wait(timeout=300)
        self.reader.join(timeout=10)
        return code

    def output(self) -> str:
        return "".join(line for _, line in self.lines)

    def finished_stages(self) -> list[str]:
        return [stage for stage in STAGES
                if re.search(rf"Task run '{stage}-\w+' - Finished in state Completed|{stage}: up to date",
                             self.output())]


def assert_outputs_whole(root: Path) -> None:
    """Every output present after a kill is a complete file: Parquet readable, the model's manifest holds."""
    for path in (root / "data").rglob("*.parquet"):
        if not any(part.startswith(".") for part in path.relative_to(root).parts):  # temporaries may be partial
            pd.read_parquet(path)
    if (root / "models" / "t").exists():
        verify_manifest(root / "models" / "t")


@pytest.fixture(scope="module")
def api_url(prefect_harness):
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """A project after one complete run of the six stages, recorded in DVC as the flow records them, and each
    stage's duration. In-process: a refresh subprocess would add its start-up, and these are only the premises."""
    from flows.dvc_sync import DvcStages
    from synthpipe.config import load_params

    outside = tmp_path_factory.mktemp("faults")
    root = make_project(outside / "project", LOOSE_GATE, FAST_COPULA)
    (root / "data").mkdir()
    source_rows(150, seed=0).to_csv(root / "data" / "source.csv", index=False)
    before = {path for path in root.rglob("*") if ".git" not in path.parts}
    modules = {stage: importlib.import_module(f"tasks.{stage}") for stage in STAGES}  # as `synthpipe refresh` does
    durations, here = {}, os.getcwd()
    os.chdir(root)
    try:
        params, dvc = load_params(), DvcStages(root)
        for stage in STAGES:
            started = time.perf_counter()  # the flow's part of a stage: ask DVC, run it
            dvc.is_up_to_date(stage)
            modules[stage].run(params)
            durations[stage] = time.perf_counter() - started
            dvc.record(stage)
    finally:
        os.chdir(here)
    return root, outside, before, durations


def test_column_names_never_build_paths(baseline):
    root, outside, before, _ = baseline
    assert sorted(path.name for path in outside.iterdir()) == ["project"]
    allowed = ("data", "models", "reports", "gx", ".dvc")
    written = [path.relative_to(root) for path in root.rglob("*") if ".git" not in path.parts and path not in before]
    strays = [str(path) for path in written if path.parts[0] not in allowed
              and str(path) not in ("dvc.lock", ".synthpipe.lock", ".gitignore")]  # .gitignore: DVC's, for its outs
    assert strays == []
    assert not [str(path) for path in written if {"evil", "a", "b", ".."} & set(path.parts)]
    merged = pd.read_parquet(root / "data" / "merged" / "train.parquet")
    assert HOSTILE_COLUMNS[0] in merged.columns and HOSTILE_COLUMNS[1] in merged.columns


def test_a_dvc_lock_cut_short_is_put_back(baseline, tmp_path, monkeypatch):
    """DVC rewrites dvc.lock and its rwlock in place; a kill mid-write must not leave every later run failing."""
    from flows.dvc_sync import DvcStages

    root = tmp_path / "project"
    shutil.copytree(baseline[0], root, symlinks=True)
    monkeypatch.chdir(root)  # as the flow runs: DVC resolves stage names in the working directory
    whole = (root / "dvc.lock").read_text()
    for cut in ("", whole[:12]):  # opened for writing, nothing written yet; cut inside a quoted value
        (root / "dvc.lock").write_text(cut)
        dvc = DvcStages(root)
        assert (root / "dvc.lock").read_text() == whole
        assert all(dvc.is_up_to_date(stage) for stage in STAGES)
    # DVC's reader/writer record is rewritten in place too: cut short, it is removed and DVC works again.
    for cut in ("", '{"read": {"data/'):
        (root / ".dvc/tmp/rwlock").write_text(cut)
        dvc = DvcStages(root)
        assert not (root / ".dvc/tmp/rwlock").exists()
        assert all(dvc.is_up_to_date(stage) for stage in STAGES)


def test_sigkill_in_each_stage_loses_no_row(baseline, api_url):
    began = time.monotonic()
    root, _, _, durations = baseline
    # A new version of the source, named in params.yaml (DVC tracks the parameter, not the file outside it):
    # every stage reruns over existing outputs.
    source = source_rows(190, seed=1)
    source.to_csv(root / "data" / "source_v2.csv", index=False)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["data"]["source"]["path"] = "data/source_v2.csv"
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    rng = random.Random(SEED)
    trials = []
    for stage in STAGES:
        run = Refresh(root, api_url)
        started = run.stage_start(stage)
        delay = rng.uniform(0.05, 0.95) * durations[stage]
        time.sleep(max(0.0, started + delay - time.monotonic()))
        run.kill()
        done = run.finished_stages()
        killed_in = next((s for s in STAGES if s not in done), "after merge")
        startup = run.wait_for(r"Beginning flow run") - run.began
        trials.append({"stage": stage, "delay_s": round(float(delay), 2), "killed_in": killed_in,
                       "startup_s": round(startup, 1),
                       "temps_left_by_kill": len(temp_leftovers(root))})
        assert_outputs_whole(root)
        with exclusive_lock(root / ".synthpipe.lock", holder="fault test"):  # the killed run's flock is gone
            pass

    final = Refresh(root, api_url)
    assert final.finish() == 0, final.output()
    prepared_train = pd.read_parquet(root / "data" / "prepared" / "train.parquet")
    holdout = pd.read_parquet(root / "data" / "merged" / "holdout.parquet")
    merged = pd.read_parquet(root / "data" / "merged" / "train.parquet")
    real = merged[~merged["is_synthetic"]].drop(columns=["is_synthetic", "generator_run"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(real, prepared_train)
    pd.testing.assert_frame_equal(holdout, pd.read_parquet(root / "data" / "prepared" / "holdout.parquet"))
    columns = list(source.columns)
    both = pd.concat([real, holdout]).sort_values(columns).reset_index(drop=True)
    rows_lost = len(source) - len(both)
    pd.testing.assert_frame_equal(both, source.sort_values(columns).reset_index(drop=True))
    leftovers = temp_leftovers(root)
    print(f"\nfault injection: {len(trials)} SIGKILL trials, rows lost {rows_lost}, temporary files left after the "
          f"final refresh {len(leftovers)}; stage durations {({k: round(float(v), 2) for k, v in durations.items()})}")
    for trial in trials:
        print(f"  {trial}")
    print(f"  {time.monotonic() - began:.0f} s for the trials and the final refresh")
    assert rows_lost == 0 and leftovers == []
    assert {trial["stage"] for trial in trials} == set(STAGES)


# ---------------------------------------------------------------- the atomic helpers themselves

def test_a_failed_write_leaves_the_old_output_and_no_temp(tmp_path):
    (tmp_path / "out.txt").write_text("old")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "a").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "out.txt") as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "folder") as tmp:
            (tmp / "a").write_text("half")
            raise RuntimeError("disk full")
    assert (tmp_path / "out.txt").read_text() == "old" and (tmp_path / "folder" / "a").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "out.txt"]


@pytest.mark.parametrize("step", ["tempfile.mkdtemp", "os.replace", "shutil.rmtree"])
def test_a_stop_signal_during_the_swap_waits_for_it(tmp_path, monkeypatch, step):
    from synthpipe.errors import Interrupted
    from synthpipe.interrupt import stop_on_signals

    target = tmp_path / "folder"
    target.mkdir()
    (target / "a").write_text("old")
    module, name = step.split(".")
    real = getattr(importlib.import_module(module), name)
    signalled = threading.Event()

    def signal_then_run(*args, **kwargs):  # SIGTERM arrives in the middle of the step, as from DVC or a pod stop
        if not signalled.is_set():
            signalled.set()
            os.kill(os.getpid(), signal.SIGTERM)
        return real(*args, **kwargs)

    with pytest.raises(Interrupted), stop_on_signals():
        with atomic_dir(target) as tmp:
            (tmp / "a").write_text("new")
            monkeypatch.setattr(step, signal_then_run)  # only the swap and its cleanup run after this
    monkeypatch.undo()
    assert signalled.is_set() and (target / "a").read_text() == "new" and temp_leftovers(tmp_path) == []


KILLED_WRITER = """
import sys, time
from synthpipe.io import atomic_dir
with atomic_dir(sys.argv[1]) as tmp:
    (tmp / "part").write_text("half")
    print("writing", flush=True)
    time.sleep(60)
"""


def test_temps_of_a_killed_writer_are_swept_by_the_next_write(tmp_path):
    target = tmp_path / "folder"
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "writing"
    writer.kill()
    writer.wait()
    assert len(temp_leftovers(tmp_path)) == 1 and not target.exists()  # SIGKILL ran no cleanup
    with atomic_dir(target) as tmp:
        (tmp / "whole").write_text("done")
    assert temp_leftovers(tmp_path) == [] and [p.name for p in target.iterdir()] == ["whole"]


def test_a_live_writers_temp_is_left_alone(tmp_path):
    target = tmp_path / "out.txt"
    live = tmp_path / f".out.txt.{os.getpid()}.abc.tmp"
    live.write_text("being written")
    sweep_stale_temps(target)
    assert live.exists()


def test_a_kill_between_the_two_renames_restores_the_previous_output(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    old = tmp_path / f".folder.{pid}.xyz.old"
    (old / "folder").mkdir(parents=True)
    (old / "folder" / "a").write_text("previous")
    sweep_stale_temps(tmp_path / "folder")  # the folder itself was moved aside and never replaced
    assert (tmp_path / "folder" / "a").read_text() == "previous" and not old.exists()

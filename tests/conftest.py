"""Shared fixtures: isolated Prefect state, one Prefect test harness per session, temporary projects."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from synthpipe.config import set_environment_defaults

# Before anything imports Prefect: keep its state out of the developer's home and out of earlier runs.
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="synthpipe-prefect-")
set_environment_defaults()
# One OpenMP thread per process (torch, scikit-learn; inherited by `synthpipe`/`dvc` subprocesses): the tests'
# tables are tiny, and on a busy 2-core machine spinning OpenMP threads made training steps several times slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
PROJECT_FILES = ["dvc.yaml", ".dvcignore", ".dvc/config", ".dvc/.gitignore", "constraints.txt", "synthpipe", "tasks",
                 "flows"]

# Small, fast settings for end-to-end runs; the gate thresholds stay at their defaults unless a test says so.
# min_steps 0: a test's epochs are all the training it gets (the default would raise them on these small tables).
FAST_PARAMS = {"train": {"model": "vae", "epochs": 150, "min_steps": 0, "batch_size": 30, "vae_dims": [64, 64],
                         "latent_dim": 32},
               "generate": {"chunk_rows": 100},
               # Refits of the scarcity curve: one fraction below 100%, half a second each.
               "validate": {"augmentation_fractions": [0.25, 1.0], "augmentation_time_budget": 0.5}}
# A short training run does not reach the default fidelity: loosen the gate for plumbing tests.
LOOSE_GATE = {"validate": {"min_column_shape": 0.7, "min_worst_column_shape": 0.4, "max_correlation_diff": 0.35,
                           "min_contingency_similarity": 0.5, "max_utility_gap": 0.8}}


def deep_update(base: dict, update: dict) -> dict:
    for key, value in update.items():
        base[key] = deep_update(base.get(key, {}), value) if isinstance(value, dict) else value
    return base


def make_project(root: Path, *updates: dict) -> Path:
    """A throw-away copy of the project (a git + DVC repository) with params.yaml updated."""
    root.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        source, target = REPO / name, root / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for update in updates:
        deep_update(params, update)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    return root


@pytest.fixture(autouse=True)
def no_stop_left_asked_for():
    """A test that sends this process SIGTERM leaves the stop asked for, as a real stop does so that threads still
    training see it (synthpipe.interrupt); the next test starts as the next command would, with none."""
    yield
    from synthpipe.interrupt import stop_on_signals

    with stop_on_signals():
        pass


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A temporary project with fast params and a loose gate, as the working directory."""
    root = make_project(tmp_path / "project", FAST_PARAMS, LOOSE_GATE)
    monkeypatch.chdir(root)
    return root


@pytest.fixture(scope="session")
def prefect_harness():
    """One Prefect test harness (ephemeral API on a temporary database) for the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def penguins():
    import palmerpenguins

    return palmerpenguins.load_penguins()


def run_cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the installed `synthpipe` command in a real subprocess, with `env` added to the environment."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", **(env or {})}
    return subprocess.run([str(bin_dir / "synthpipe"), *args], cwd=cwd, env=env, capture_output=True, text=True)

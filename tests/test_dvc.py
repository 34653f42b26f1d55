"""Real `dvc repro` on the project's dvc.yaml, in a temporary git repository."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml


def dvc(*args: str) -> subprocess.CompletedProcess:
    bin_dir = Path(sys.executable).parent  # so dvc.yaml's `synthpipe stage ...` finds the installed command
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run([str(bin_dir / "dvc"), *args], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def stages_run(result: subprocess.CompletedProcess) -> list[str]:
    return [line.split("'")[1] for line in result.stdout.splitlines() if line.startswith("Running stage")]


def test_repro_then_noop_then_only_what_a_param_touches_then_push_and_pull(project):
    first = dvc("repro")
    assert stages_run(first) == ["ingest", "preprocess", "train", "generate", "validate", "merge"]
    assert Path("data/merged/train.parquet").exists() and Path("dvc.lock").exists()

    assert stages_run(dvc("repro")) == []

    params = yaml.safe_load(Path("params.yaml").read_text())
    params["train"]["epochs"] = 120
    Path("params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert stages_run(dvc("repro")) == ["train", "generate", "validate", "merge"]
    assert "up to date" in dvc("status").stdout

    metrics = dvc("metrics", "show", "--json").stdout
    assert "mean_column_shape" in metrics

    # Every output goes to the default local remote and comes back from it (the same pipeline: a second one would
    # only cost time).
    merged = Path("data/merged/train.parquet").read_bytes()
    dvc("push")
    shutil.rmtree("data/merged")
    shutil.rmtree("models")
    dvc("pull")
    assert Path("data/merged/manifest.json").exists() and Path("models/penguins/weights.safetensors").exists()
    assert Path("data/merged/train.parquet").read_bytes() == merged
    assert "up to date" in dvc("status").stdout

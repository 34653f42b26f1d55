"""The real refresh flow under a Prefect test harness, in a temporary git + DVC project."""

from pathlib import Path

import pandas as pd
import pytest

from synthpipe.errors import GateFailed
from synthpipe.io import read_json
from tests.conftest import FAST_PARAMS, make_project

OUTPUTS = ["data/raw/penguins.parquet", "data/prepared/train.parquet", "models/penguins/weights.safetensors",
           "data/synthetic/penguins.parquet", "reports/quality.json", "data/merged/train.parquet"]


def test_refresh_runs_six_stages_and_dvc_agrees(project, prefect_harness, penguins):
    from dvc.repo import Repo
    from prefect.artifacts import Artifact

    from flows.refresh import refresh

    summary = refresh()
    assert summary["ingest"]["rows"] == 344
    assert (summary["preprocess"]["train_rows"], summary["preprocess"]["holdout_rows"]) == (275, 69)
    # Twice the train rows are drawn (merge.curation_factor): merge adds first those the real rows vouch for.
    assert summary["generate"]["rows"] == 550 and summary["validate"]["passed"] is True
    assert summary["merge"] == {"real": 275, "synthetic": 275, "synthetic_offered": 550, "exact_copies_dropped": 0,
                                "total": 550, "path": "data/merged/train.parquet"}

    # Merge keeps every real train row exactly; train + holdout are exactly the source rows.
    merged = pd.read_parquet("data/merged/train.parquet")
    real = pd.read_parquet("data/prepared/train.parquet")
    provenance = ["is_synthetic", "generator_run"]
    pd.testing.assert_frame_equal(merged[~merged["is_synthetic"]].drop(columns=provenance), real)
    holdout = pd.read_parquet("data/merged/holdout.parquet")
    columns = list(penguins.columns)
    both = pd.concat([real, holdout]).sort_values(columns, na_position="last").reset_index(drop=True)
    pd.testing.assert_frame_equal(both, penguins.sort_values(columns, na_position="last").reset_index(drop=True))
    assert merged["generator_run"].dropna().unique().tolist() == [summary["train"]["run_id"]]

    # The flow recorded every stage in dvc.lock and the cache.
    assert Repo(".").status() == {}
    assert Artifact.get("quality-summary") is not None and Artifact.get("quality-figures") is not None
    assert Artifact.get("augmentation-curve") is not None
    assert Path("gx/expectations/synthetic.json").exists() and Path("reports/data_docs/index.html").exists()
    assert len(list(Path("reports/plots").glob("*.png"))) == 4

    # Nothing changed: the second run does no stage work.
    stamps = {path: Path(path).stat().st_mtime_ns for path in OUTPUTS}
    assert refresh() == summary
    assert {path: Path(path).stat().st_mtime_ns for path in OUTPUTS} == stamps


def test_failed_gate_blocks_merge(tmp_path, monkeypatch, prefect_harness):
    from flows.refresh import refresh

    # One epoch leaves the generator untrained: the default gate must refuse its output.
    monkeypatch.chdir(make_project(tmp_path / "project", FAST_PARAMS, {"train": {"epochs": 1}}))
    with pytest.raises(GateFailed) as failure:
        refresh()
    assert failure.value.reasons and not Path("data/merged").exists()
    report = read_json("reports/quality.json")
    assert report["passed"] is False and report["reasons"] == failure.value.reasons
    assert Path("data/synthetic/penguins.parquet").exists()


def test_overridden_params_run_every_stage_without_touching_dvc_lock(tmp_path, monkeypatch, prefect_harness):
    from flows.refresh import refresh
    from tests.conftest import LOOSE_GATE

    monkeypatch.chdir(make_project(tmp_path / "project", FAST_PARAMS, LOOSE_GATE))
    summary = refresh(overrides=["train.epochs=120", "merge.synthetic_ratio=0.5"])
    assert summary["train"]["epochs"] == 120 and summary["merge"]["synthetic"] == 138
    assert not Path("dvc.lock").exists()

"""The `synthpipe` command's exit codes and messages, in real subprocesses."""

import json

import pandas as pd
import yaml

from tests.conftest import run_cli


def test_bad_config_exits_2_naming_the_key(project):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"]["epochs"] = 0
    (project / "bad.yaml").write_text(yaml.safe_dump(params))
    result = run_cli("stage", "train", "--params", "bad.yaml", cwd=project)
    assert result.returncode == 2
    assert "train.epochs: Input should be greater than or equal to 1" in result.stderr
    result = run_cli("refresh", "--set", "merge.synthetic_ratio=-1", cwd=project)
    assert result.returncode == 2 and "merge.synthetic_ratio" in result.stderr


def test_unknown_stage_is_a_usage_error(project):
    result = run_cli("stage", "bake", cwd=project)
    assert result.returncode == 2 and "invalid choice: 'bake'" in result.stderr


def test_missing_input_exits_2(project):
    result = run_cli("stage", "preprocess", cwd=project)
    assert result.returncode == 2 and "data/raw/penguins.parquet: file not found" in result.stderr


def test_failed_gate_exits_3_and_merge_refuses(project, penguins):
    (project / "data/prepared").mkdir(parents=True)
    (project / "data/synthetic").mkdir(parents=True)
    penguins.iloc[:275].to_parquet(project / "data/prepared/train.parquet", index=False)
    penguins.iloc[275:].to_parquet(project / "data/prepared/holdout.parquet", index=False)
    collapsed = pd.concat([penguins.iloc[[0]]] * 275, ignore_index=True)  # one row, repeated
    collapsed.to_parquet(project / "data/synthetic/penguins.parquet", index=False)
    result = run_cli("stage", "validate", cwd=project)
    assert result.returncode == 3, result.stderr
    assert "quality gate failed" in result.stderr and "column distributions differ" in result.stderr
    assert "the generator repeats itself (mode collapse)" in result.stderr
    result = run_cli("stage", "merge", cwd=project)
    assert result.returncode == 3 and not (project / "data/merged").exists()


def test_ci_mode_prints_only_json_with_the_status(project):
    result = run_cli("refresh", "--ci", "--set", "train.epochs=0", cwd=project)
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert report["status"] == "bad_input" and "train.epochs" in report["error"]

    # An untrained generator (one epoch) must fail the gate: exit 3, nothing merged, reasons in the JSON.
    result = run_cli("refresh", "--ci", "--set", "train.epochs=1", cwd=project)
    assert result.returncode == 3, result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "gate_failed" and report["reasons"]
    assert report["summary"]["validate"]["passed"] is False and "merge" not in report["summary"]
    assert not (project / "data/merged").exists()


def test_fit_then_sample_with_conditions_parquet_and_csv(tmp_path, penguins):
    penguins.to_csv(tmp_path / "p.csv", index=False)
    result = run_cli("fit", "--data", "p.csv", "--out", "model", "--model", "copula", "--target", "species",
                     "--seed", "3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "fit: copula" in result.stdout and (tmp_path / "model" / "weights.safetensors").exists()
    result = run_cli("sample", "--model", "model", "--rows", "1234", "--out", "s.parquet", "--chunk-rows", "500",
                     "--condition", "island=Dream", "--condition", "sex=female", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = pd.read_parquet(tmp_path / "s.parquet")
    assert len(rows) == 1234 and (rows["island"] == "Dream").all() and (rows["sex"] == "female").all()
    assert run_cli("sample", "--model", "model", "--rows", "90", "--out", "b.csv", "--balance", "target",
                   cwd=tmp_path).returncode == 0
    assert pd.read_csv(tmp_path / "b.csv")["species"].value_counts().tolist() == [30, 30, 30]


def test_fit_and_sample_errors_exit_2(tmp_path, penguins):
    result = run_cli("fit", "--data", "missing.parquet", "--out", "m", cwd=tmp_path)
    assert result.returncode == 2 and "missing.parquet: file not found" in result.stderr
    penguins.to_parquet(tmp_path / "p.parquet")
    result = run_cli("fit", "--data", "p.parquet", "--out", "m", "--model", "copula", "--target", "label", cwd=tmp_path)
    assert result.returncode == 2 and "--target: column 'label' is not in p.parquet" in result.stderr
    assert run_cli("fit", "--data", "p.parquet", "--out", "m", "--model", "copula", cwd=tmp_path).returncode == 0
    result = run_cli("sample", "--model", "m", "--rows", "10", "--out", "s.parquet", "--condition", "island=Atlantis",
                     cwd=tmp_path)
    assert result.returncode == 2 and "column 'island' has no value 'Atlantis'" in result.stderr
    assert not (tmp_path / "s.parquet").exists()
    result = run_cli("sample", "--model", "m", "--rows", "10", "--out", "s.xlsx", cwd=tmp_path)
    assert result.returncode == 2 and "expected a .parquet or .csv file" in result.stderr
    result = run_cli("sample", "--model", "nowhere", "--rows", "10", "--out", "s.csv", cwd=tmp_path)
    assert result.returncode == 2 and "nowhere: no such model directory" in result.stderr

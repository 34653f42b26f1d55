"""Each stage function on real data, without Prefect or DVC."""

import sqlite3

import pandas as pd
import pytest

from synthpipe.config import MergeConfig, PreprocessConfig, SourceConfig, ValidateConfig, load_params
from synthpipe.errors import GateFailed, InputError
from synthpipe.io import read_json
from synthpipe.merge import merge
from synthpipe.tabular.stages import ingest, preprocess, validate


@pytest.fixture
def sources(tmp_path, penguins):
    """The penguins table in every supported source format."""
    (tmp_path / "parts").mkdir()
    penguins.to_csv(tmp_path / "p.csv", index=False)
    penguins.to_json(tmp_path / "p.jsonl", orient="records", lines=True)
    penguins.iloc[:200].to_parquet(tmp_path / "parts" / "a.parquet", index=False)
    penguins.iloc[200:].to_parquet(tmp_path / "parts" / "b.parquet", index=False)
    with sqlite3.connect(tmp_path / "p.db") as connection:
        penguins.to_sql("penguins", connection, index=False)
    return tmp_path


@pytest.mark.parametrize("source", [
    {"format": "csv", "path": "p.csv"},
    {"format": "jsonl", "path": "p.jsonl"},
    {"format": "parquet", "path": "parts"},
    {"format": "sql", "url": "sqlite:///{root}/p.db", "query": "SELECT * FROM penguins"},
])
def test_ingest_reads_every_format(sources, penguins, source):
    cfg = SourceConfig(**{k: (v.format(root=sources) if k == "url" else (str(sources / v) if k == "path" else v))
                          for k, v in source.items()})
    result = ingest(cfg, sources / "out" / "raw.parquet", sources / "out" / "schema.json", allow_drift=False)
    assert result == {"rows": 344, "columns": 8}
    raw = pd.read_parquet(sources / "out" / "raw.parquet")
    pd.testing.assert_frame_equal(raw[["species", "body_mass_g"]].reset_index(drop=True),
                                  penguins[["species", "body_mass_g"]], check_dtype=False)
    assert read_json(sources / "out" / "schema.json")["rows"] == 344


def test_ingest_stops_on_schema_drift_unless_allowed(tmp_path, penguins):
    penguins.to_csv(tmp_path / "p.csv", index=False)
    cfg = SourceConfig(format="csv", path=str(tmp_path / "p.csv"))
    raw, schema = tmp_path / "raw.parquet", tmp_path / "schema.json"
    ingest(cfg, raw, schema, allow_drift=False)
    before = raw.read_bytes()
    penguins.drop(columns="island").assign(tag="x").to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(InputError, match=r"schema drift .*column 'tag' was added \(str\); column 'island' was removed"):
        ingest(cfg, raw, schema, allow_drift=False)
    assert raw.read_bytes() == before  # nothing written on failure
    ingest(cfg, raw, schema, allow_drift=True)
    assert "tag" in pd.read_parquet(raw).columns


def test_ingest_errors_name_the_source(tmp_path):
    with pytest.raises(InputError, match=r"missing\.csv: file not found"):
        ingest(SourceConfig(format="csv", path=str(tmp_path / "missing.csv")), tmp_path / "r", tmp_path / "s", False)
    with pytest.raises(InputError, match=r"query failed: .*no such table"):
        ingest(SourceConfig(format="sql", url=f"sqlite:///{tmp_path}/x.db", query="SELECT * FROM nope"),
               tmp_path / "r", tmp_path / "s", False)
    assert not (tmp_path / "r").exists()


def test_preprocess_splits_stratified_and_disjoint(tmp_path, penguins):
    penguins.to_parquet(tmp_path / "raw.parquet", index=False)
    result = preprocess(tmp_path / "raw.parquet", tmp_path / "prep", "species", PreprocessConfig(), seed=1)
    assert result["train_rows"] == 275 and result["holdout_rows"] == 69
    train = pd.read_parquet(tmp_path / "prep" / "train.parquet")
    holdout = pd.read_parquet(tmp_path / "prep" / "holdout.parquet")
    both = pd.concat([train, holdout]).sort_values(list(penguins.columns), na_position="last").reset_index(drop=True)
    expected = penguins.sort_values(list(penguins.columns), na_position="last").reset_index(drop=True)
    pd.testing.assert_frame_equal(both, expected)  # every row on exactly one side, unchanged
    share = holdout["species"].value_counts(normalize=True) - penguins["species"].value_counts(normalize=True)
    assert share.abs().max() < 0.02
    assert sorted(p.name for p in (tmp_path / "prep").iterdir()) == ["holdout.parquet", "train.parquet"]


def test_preprocess_names_a_missing_target(tmp_path, penguins):
    penguins.to_parquet(tmp_path / "raw.parquet", index=False)
    with pytest.raises(InputError, match="data.target: column 'label' is not in the data"):
        preprocess(tmp_path / "raw.parquet", tmp_path / "prep", "label", PreprocessConfig(), seed=1)
    assert not (tmp_path / "prep").exists()


def test_gate_fails_planted_constant_column_and_merge_refuses(tmp_path, penguins):
    shuffled = penguins.sample(frac=1, random_state=0).reset_index(drop=True)
    real, good = shuffled.iloc[:172].reset_index(drop=True), shuffled.iloc[172:].reset_index(drop=True)
    real.to_parquet(tmp_path / "train.parquet", index=False)
    good.assign(body_mass_g=4000.0).to_parquet(tmp_path / "synthetic.parquet", index=False)
    with pytest.raises(GateFailed, match="column 'body_mass_g' is far from its real distribution"):
        validate(tmp_path / "train.parquet", tmp_path / "synthetic.parquet", tmp_path, ValidateConfig())
    report = read_json(tmp_path / "quality.json")
    assert report["passed"] is False and report["fidelity"]["worst_column"] == "body_mass_g"
    assert "# Quality gate: FAILED" in (tmp_path / "summary.md").read_text()
    with pytest.raises(GateFailed):
        merge(tmp_path, tmp_path / "synthetic.parquet", tmp_path / "quality.json", tmp_path, tmp_path / "merged",
              load_params().merge)
    assert not (tmp_path / "merged").exists()


def test_gate_fails_invented_category(tmp_path, penguins):
    penguins.to_parquet(tmp_path / "train.parquet", index=False)
    penguins.assign(island=penguins["island"].replace({"Dream": "Atlantis"})).to_parquet(tmp_path / "syn.parquet")
    with pytest.raises(GateFailed, match=r"column 'island': column values to be in set, e\.g\. Atlantis"):
        validate(tmp_path / "train.parquet", tmp_path / "syn.parquet", tmp_path, ValidateConfig())


def test_merge_keeps_every_real_row_and_drops_copies(tmp_path, penguins):
    from synthpipe.merge import merge_real_and_synthetic

    real = penguins.iloc[:200].reset_index(drop=True)
    synthetic = pd.concat([penguins.iloc[:5], penguins.iloc[200:]], ignore_index=True)  # 5 exact copies
    merged, counts, _ = merge_real_and_synthetic(real, synthetic, MergeConfig(synthetic_ratio=0.5), None, run_id="run1")
    assert counts == {"real": 200, "synthetic": 100, "synthetic_offered": 149, "exact_copies_dropped": 5, "total": 300}
    real_part = merged[~merged["is_synthetic"]].drop(columns=["is_synthetic", "generator_run"])
    pd.testing.assert_frame_equal(real_part, real)
    assert merged.loc[merged["is_synthetic"], "generator_run"].eq("run1").all()
    assert merged.loc[~merged["is_synthetic"], "generator_run"].isna().all()


def test_the_scarcity_curve_refits_the_family_auto_chose(tmp_path):
    """With model auto the curve's refits fit the family the run chose, with the run's other settings; a family
    named in the params is refitted as it is."""
    from synthpipe.config import TrainConfig
    from synthpipe.io import write_json
    from synthpipe.tabular.stages import refit_settings

    write_json({"model": "diffusion"}, tmp_path / "config.json")
    resolved = refit_settings(tmp_path, TrainConfig(model="auto", diffusion_steps=700))
    assert (resolved.model, resolved.diffusion_steps) == ("diffusion", 700)
    named = TrainConfig(model="vae")
    assert refit_settings(tmp_path / "absent", named) is named  # no model directory is read

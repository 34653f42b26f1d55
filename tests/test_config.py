from pathlib import Path

import pytest
import yaml

from synthpipe.config import Params, load_params
from synthpipe.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path, data) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_project_params_load_into_typed_sections():
    params = load_params(REPO / "params.yaml")
    assert isinstance(params, Params)
    assert params.data.source.format == "example" and params.data.target == "species"
    assert params.train.pac == 10 and params.train.generator_dims == [256, 256]
    assert params.paths.raw == Path("data/raw/penguins.parquet")


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"train\.epoch: unknown key"):
        load_params(write(tmp_path, {"train": {"epoch": 10}}))


def test_bad_value_names_key_and_expectation(tmp_path):
    with pytest.raises(ConfigError, match=r"train\.epochs: Input should be greater than or equal to 1 \(got -5\)"):
        load_params(write(tmp_path, {"train": {"epochs": -5}}))
    with pytest.raises(ConfigError, match=r"train\.device: Input should be 'auto', 'cpu' or 'cuda'"):
        load_params(write(tmp_path, {"train": {"device": "tpu"}}))


def test_source_needs_what_its_format_reads(tmp_path):
    with pytest.raises(ConfigError, match=r"data\.source: .*format 'csv' needs path"):
        load_params(write(tmp_path, {"data": {"source": {"format": "csv"}}}))
    with pytest.raises(ConfigError, match=r"format 'sql' needs url, query"):
        load_params(write(tmp_path, {"data": {"source": {"format": "sql"}}}))


def test_dataset_name_cannot_escape_the_data_folder(tmp_path):
    with pytest.raises(ConfigError, match=r"data\.name: String should match pattern"):
        load_params(write(tmp_path, {"data": {"name": "../../etc"}}))


def test_overrides_are_typed_and_validated(tmp_path):
    path = write(tmp_path, {})
    params = load_params(path, ["train.epochs=7", "train.generator_dims=[64, 32]", "data.target=null"])
    assert params.train.epochs == 7 and params.train.generator_dims == [64, 32] and params.data.target is None
    with pytest.raises(ConfigError, match=r"train\.nope: unknown key"):
        load_params(path, ["train.nope=1"])
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_params(path, ["train.epochs"])


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="params file not found"):
        load_params(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(bad)

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from synthpipe.config import IMAGE_PRESETS, GenerateConfig, Params, TrainConfig, load_params
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


def leaves(model: type[BaseModel], prefix: str = "") -> dict[str, FieldInfo]:
    """Every setting of a config model by its dotted key, sub-sections expanded."""
    found = {}
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            found |= leaves(field.annotation, f"{prefix}{name}.")
        else:
            found[f"{prefix}{name}"] = field
    return found


def yaml_leaves(data: dict, prefix: str = "") -> dict:
    found = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:  # an empty mapping is a setting's value (e.g. a per-column map)
            found |= yaml_leaves(value, f"{prefix}{key}.")
        else:
            found[f"{prefix}{key}"] = value
    return found


# params.yaml values that differ from the config's defaults on purpose, with the reason. None today: the file shows
# the defaults, so a project copies them and changes what it needs.
DELIBERATE_DIFFERENCES: dict[str, str] = {}


# Settings the image presets set (IMAGE_PRESETS): params.yaml leaves them unset, or they would override the preset.
PRESET_KEYS = {f"image.train.{key}" for sizes in IMAGE_PRESETS.values() for preset in sizes.values() for key in preset}


def test_params_yaml_and_the_config_models_name_the_same_keys_with_the_same_values():
    in_file = yaml_leaves(yaml.safe_load((REPO / "params.yaml").read_text()))
    in_config = leaves(Params)
    assert sorted(in_file.keys() - in_config.keys()) == []  # (extra="forbid" rejects these too)
    assert sorted(in_config.keys() - in_file.keys()) == sorted(PRESET_KEYS)  # every other setting is shown
    differing = {key: (value, in_config[key].get_default(call_default_factory=True)) for key, value in in_file.items()
                 if value != in_config[key].get_default(call_default_factory=True)}
    assert differing.keys() == DELIBERATE_DIFFERENCES.keys(), differing


def test_every_setting_is_described_once_in_the_config():
    assert [key for key, field in leaves(Params).items() if not field.description] == []


def test_the_synthesizer_and_the_cli_take_their_defaults_from_the_config():
    from synthpipe.cli import build_parser
    from synthpipe.tabular.synthesizer import CHUNK_ROWS, TabularSynthesizer

    assert TabularSynthesizer().config == TrainConfig()
    assert TabularSynthesizer(epochs=7).config == TrainConfig(epochs=7)
    assert CHUNK_ROWS == GenerateConfig().chunk_rows
    fit = build_parser().parse_args(["fit", "--data", "x.csv", "--out", "m"])
    assert (fit.model, fit.epochs, fit.device, fit.checkpoint_every) == (
        TrainConfig().model, TrainConfig().epochs, TrainConfig().device, TrainConfig().checkpoint_every)
    sample = build_parser().parse_args(["sample", "--model", "m", "--rows", "5", "--out", "x.csv"])
    assert sample.chunk_rows == GenerateConfig().chunk_rows

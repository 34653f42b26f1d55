"""Typed, validated configuration loaded from params.yaml.

params.yaml is the single source of configuration. Each stage reads its own section;
an unknown key or a bad value fails at load time with an error naming the key.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from synthpipe.errors import ConfigError


class Section(BaseModel):
    # extra="forbid" turns a typo in params.yaml into an error instead of a silently ignored key.
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(Section):
    format: Literal["example", "csv", "parquet", "jsonl", "sql"] = "example"
    example: str | None = "penguins"
    path: str | None = None
    url: str | None = None
    query: str | None = None
    parse_dates: list[str] = []

    @model_validator(mode="after")
    def _needs_what_the_format_reads(self) -> SourceConfig:
        needed = {"example": ["example"], "sql": ["url", "query"]}.get(self.format, ["path"])
        missing = [name for name in needed if not getattr(self, name)]
        if missing:
            raise ValueError(f"format '{self.format}' needs {', '.join(missing)}")
        return self


class DataConfig(Section):
    # The name becomes part of file paths, so it is restricted to a safe alphabet.
    name: str = Field("penguins", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    source: SourceConfig = SourceConfig()
    target: str | None = "species"


class IngestConfig(Section):
    allow_schema_drift: bool = False


class PreprocessConfig(Section):
    holdout_fraction: float = Field(0.2, gt=0, lt=1)
    stratify: bool = True


class TrainConfig(Section):
    model: Literal["auto", "gan", "vae", "copula"] = "auto"  # auto: fit each, keep the best on held-out rows
    epochs: int = Field(300, ge=1)
    batch_size: int = Field(500, ge=2)
    # GAN
    noise_dim: int = Field(128, ge=1)
    generator_dims: list[int] = [256, 256]
    critic_dims: list[int] = [256, 256]
    learning_rate: float = Field(2e-4, gt=0)
    critic_steps: int = Field(1, ge=1)
    gradient_penalty: float = Field(10.0, ge=0)
    pac: int = Field(10, ge=1)
    # VAE
    latent_dim: int = Field(128, ge=1)
    vae_dims: list[int] = [128, 128]
    vae_loss_factor: float = Field(2.0, gt=0)
    # Transformer
    max_modes: int = Field(10, ge=1)
    max_categories: int = Field(100, ge=1)
    mode_fit_rows: int = Field(20_000, ge=100)
    # Model selection (model: auto)
    time_budget: float | None = Field(None, gt=0)
    validation_fraction: float = Field(0.2, gt=0, lt=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"


class GenerateConfig(Section):
    # None: as many rows as the real train split has.
    rows: int | None = Field(None, ge=1)
    chunk_rows: int = Field(100_000, ge=1)


class ValidateConfig(Section):
    min_column_shape: float = Field(0.8, ge=0, le=1)
    min_worst_column_shape: float = Field(0.6, ge=0, le=1)
    max_correlation_diff: float = Field(0.2, ge=0, le=2)
    max_failed_expectations: int = Field(0, ge=0)
    range_tolerance: float = Field(0.05, ge=0)
    null_fraction_tolerance: float = Field(0.05, ge=0, le=1)


class MergeConfig(Section):
    synthetic_ratio: float = Field(1.0, ge=0)


# pydantic warns that a field named `validate` shadows its deprecated classmethod; the section
# is named after its stage, and the classmethod is never used.
warnings.filterwarnings("ignore", message='Field name "validate"', category=UserWarning)


class Params(Section):
    seed: int = Field(42, ge=0)
    data: DataConfig = DataConfig()
    ingest: IngestConfig = IngestConfig()
    preprocess: PreprocessConfig = PreprocessConfig()
    train: TrainConfig = TrainConfig()
    generate: GenerateConfig = GenerateConfig()
    validate: ValidateConfig = ValidateConfig()
    merge: MergeConfig = MergeConfig()

    @property
    def paths(self) -> Paths:
        return Paths.for_dataset(self.data.name)


@dataclass(frozen=True)
class Paths:
    """Where every stage reads and writes, relative to the project root (the working directory)."""

    raw: Path
    schema: Path
    prepared: Path
    model: Path
    train_log: Path
    synthetic: Path
    quality: Path
    summary: Path
    merged: Path

    @classmethod
    def for_dataset(cls, name: str) -> Paths:
        return cls(
            raw=Path("data/raw") / f"{name}.parquet",
            schema=Path("data/raw") / f"{name}.schema.json",
            prepared=Path("data/prepared"),
            model=Path("models") / name,
            train_log=Path("reports/train_log.csv"),
            synthetic=Path("data/synthetic") / f"{name}.parquet",
            quality=Path("reports/quality.json"),
            summary=Path("reports/summary.md"),
            merged=Path("data/merged"),
        )


def load_params(path: str | Path = "params.yaml", overrides: list[str] = ()) -> Params:
    """Read params.yaml, apply `key.sub=value` overrides, and validate everything at once."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: params file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    for item in overrides:
        _apply_override(raw, item)
    return parse_params(raw, source=str(path))


def parse_params(raw: dict[str, Any], source: str = "params") -> Params:
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        problems = [_describe(error) for error in exc.errors()]
        raise ConfigError(f"{source}: invalid configuration:\n  - " + "\n  - ".join(problems)) from None


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    return f"{key}: {error['msg']} (got {error.get('input')!r})"


def _apply_override(raw: dict[str, Any], item: str) -> None:
    key, sep, text = item.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. train.epochs=50")
    *parents, leaf = key.split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: '{part}' is not a section")
    node[leaf] = yaml.safe_load(text)

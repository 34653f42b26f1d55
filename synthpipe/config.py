"""Typed, validated configuration loaded from params.yaml.

params.yaml is the single source of configuration. Each stage reads its own section;
an unknown key or a bad value fails at load time with an error naming the key.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from synthpipe.errors import ConfigError

# Prefect and DVC read these when first imported: state inside the project, telemetry and analytics off, and an
# ephemeral-server start-up timeout that a fresh database on a slow machine fits in (the default is 20 s).
TOOL_ENVIRONMENT = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "DVC_NO_ANALYTICS": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


def set_environment_defaults(prefect_home: Path | None = None) -> None:
    """Set the tool environment (and PREFECT_HOME: `prefect_home`, default ./.prefect) where the caller has not
    chosen otherwise. The CLI and the tests call it before anything imports Prefect or DVC."""
    os.environ.setdefault("PREFECT_HOME", str(prefect_home or Path.cwd() / ".prefect"))
    for name, value in TOOL_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


class Section(BaseModel):
    # extra="forbid" turns a typo in params.yaml into an error instead of a silently ignored key.
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(Section):
    # folder: images in one sub-folder per class (image modality only)
    format: Literal["example", "csv", "parquet", "jsonl", "sql", "folder"] = "example"
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
    modality: Literal["table", "image"] = "table"

    @model_validator(mode="after")
    def _source_fits_the_modality(self) -> DataConfig:
        if self.modality == "table" and self.source.format == "folder":
            raise ValueError("source.format 'folder' reads images: set data.modality: image")
        if self.modality == "image":
            if self.source.format not in ("example", "folder", "parquet"):
                raise ValueError("images come from 'example', 'folder' or 'parquet' sources, "
                                 f"not '{self.source.format}'")
            if not self.target:
                raise ValueError("images need a label column: set data.target")
        return self


class IngestConfig(Section):
    allow_schema_drift: bool = False


class PreprocessConfig(Section):
    holdout_fraction: float = Field(0.2, gt=0, lt=1)
    stratify: bool = True


class LoopConfig(Section):
    """Settings of the shared training loop (synthpipe.training), for every model trained by it."""

    epochs: int = Field(ge=1)  # each model's own default
    checkpoint_every: int = Field(10, ge=1)  # epochs between checkpoints (train stage: in models/<name>.ckpt)
    max_divergence_retries: int = Field(3, ge=0)  # NaN/inf: restarts from the last good epoch before giving up
    divergence_lr_factor: float = Field(0.5, gt=0, lt=1)  # learning rate multiplier for each such restart


class TrainConfig(LoopConfig):
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
    gradient_penalty_every: int = Field(4, ge=1)  # lazy penalty: applied every k steps at k times the weight
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
    # Distributed training (synthpipe.training); checkpoints and divergence: LoopConfig
    nproc: int = Field(1, ge=1)  # train stage: >1 launches torchrun with this many data-parallel processes
    cpu_threads: int | None = Field(None, ge=1)  # torch CPU threads while fitting; None: torch's default


class GenerateConfig(Section):
    # None: as many rows as the real train split has.
    rows: int | None = Field(None, ge=1)
    chunk_rows: int = Field(100_000, ge=1)
    # Shards: independent parts of the rows, each seeded from (seed, shard index); 1 = one process, one stream.
    # The plan depends only on rows and shards, so the file is the same whoever (and however many) draw them.
    shards: int = Field(1, ge=1)
    workers: int | None = Field(None, ge=1)  # local Dask cluster processes (flow only); None: one per CPU core
    dask_address: str | None = None  # flow only: an existing Dask scheduler, e.g. tcp://10.0.0.5:8786


class ValidateConfig(Section):
    # Expectations
    max_failed_expectations: int = Field(0, ge=0)
    range_tolerance: float = Field(0.05, ge=0)
    null_fraction_tolerance: float = Field(0.05, ge=0, le=1)
    # Fidelity
    min_column_shape: float = Field(0.8, ge=0, le=1)
    min_worst_column_shape: float = Field(0.6, ge=0, le=1)
    max_correlation_diff: float = Field(0.2, ge=0, le=2)
    min_contingency_similarity: float = Field(0.7, ge=0, le=1)
    max_detection_auc: float = Field(0.95, ge=0.5, le=1)
    # Diversity
    max_duplicate_share: float = Field(0.2, ge=0, le=1)
    min_category_coverage: float = Field(0.8, ge=0, le=1)
    min_range_coverage: float = Field(0.5, ge=0, le=1)
    # Utility and augmentation (need a target and a holdout)
    task: Literal["auto", "classification", "regression"] = "auto"
    max_utility_gap: float = Field(0.25, ge=0)
    max_augmentation_loss: float = Field(0.05, ge=0)
    augmentation_fractions: list[float] = [0.1, 0.25, 0.5, 1.0]
    augmentation_repeats: int = Field(3, ge=1)
    # Privacy
    max_exact_copy_share: float = Field(0.01, ge=0, le=1)
    min_dcr_ratio: float = Field(0.5, ge=0)
    min_nndr_ratio: float = Field(0.5, ge=0)
    # Cost bounds
    sample_rows: int = Field(5000, ge=100)
    max_pairs: int = Field(500, ge=1)
    model_iterations: int = Field(50, ge=10)
    detection_folds: int = Field(3, ge=2)

    @model_validator(mode="after")
    def _fractions_are_shares(self) -> ValidateConfig:
        if not self.augmentation_fractions or any(not 0 < f <= 1 for f in self.augmentation_fractions):
            raise ValueError("augmentation_fractions must be a non-empty list of shares in (0, 1]")
        return self


class MergeConfig(Section):
    policy: Literal["ratio", "size", "balance"] = "ratio"
    synthetic_ratio: float = Field(1.0, ge=0)
    target_rows: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _size_needs_target_rows(self) -> MergeConfig:
        if self.policy == "size" and self.target_rows is None:
            raise ValueError("policy 'size' needs target_rows")
        return self


class ScheduleConfig(Section):
    """When `synthpipe serve` runs the refresh on a real Prefect server."""

    cron: str = "0 3 * * *"
    timezone: str = "UTC"
    overrides: list[str] = []  # default `--set` overrides for scheduled runs
    train_concurrency: int = Field(1, ge=1)  # training runs allowed at once on this server (GPU sharing)


# pydantic warns that a field named `validate` shadows its deprecated classmethod; the section
# is named after its stage, and the classmethod is never used.
warnings.filterwarnings("ignore", message='Field name "validate"', category=UserWarning)


# Model defaults per image size (image.size picks one; any key set under image.train wins). Per step, the cost
# grows with width^2 x pixels: wider networks pay at 8 px, not at 32 px on a CPU. Measured on 2 CPU cores:
# 8 (sklearn digits, 1,437 train images) and 32 (MNIST padded, 4,000); 16, 64 and 128 are interpolated guesses.
IMAGE_SIZE_PRESETS = {
    8: {"width": 32, "batch_size": 64, "epochs": 30, "learning_rate": 1e-3, "gradient_penalty_every": 1},
    16: {"width": 24, "batch_size": 64, "epochs": 40, "learning_rate": 1e-3, "gradient_penalty_every": 4},
    32: {"width": 16, "batch_size": 64, "epochs": 40, "learning_rate": 1e-3, "gradient_penalty_every": 4},
    64: {"width": 16, "batch_size": 32, "epochs": 60, "learning_rate": 5e-4, "gradient_penalty_every": 4},
    128: {"width": 8, "batch_size": 32, "epochs": 80, "learning_rate": 2e-4, "gradient_penalty_every": 4},
}
DEFAULT_IMAGE_SIZE = 32
_PRESET = IMAGE_SIZE_PRESETS[DEFAULT_IMAGE_SIZE]  # ImageTrainConfig on its own (no size known)


class ImageTrainConfig(LoopConfig):
    epochs: int = Field(_PRESET["epochs"], ge=1)
    batch_size: int = Field(_PRESET["batch_size"], ge=2)
    noise_dim: int = Field(64, ge=1)
    width: int = Field(_PRESET["width"], ge=4)  # channels of the highest-resolution layer; doubled per halving
    learning_rate: float = Field(_PRESET["learning_rate"], gt=0)
    gradient_penalty: float = Field(10.0, ge=0)  # WGAN-GP weight
    # Lazy penalty: applied every k critic steps at k times the weight (the penalty's double backward is about
    # half of a 32 px step's time).
    gradient_penalty_every: int = Field(_PRESET["gradient_penalty_every"], ge=1)
    augment: list[Literal["translation", "cutout", "color"]] = ["translation"]
    ema_decay: float = Field(0.999, ge=0, lt=1)
    time_budget: float | None = Field(None, gt=0)  # seconds: training stops after the epoch that passes it
    device: Literal["auto", "cpu", "cuda"] = "auto"
    mixed_precision: bool = True  # bfloat16 autocast where native: CUDA, or a CPU with AVX512-BF16 / AMX


class ImageGenerateConfig(Section):
    per_class: int | None = Field(None, ge=1)  # None: as many as the class has real train images
    classes: list[int | str] | None = None  # None: every class
    grid_columns: int = Field(10, ge=1)  # synthetic images per class in reports/plots/samples.png
    grid_real_columns: int = Field(4, ge=0)  # real train images per class before them, for comparison
    nearest_per_class: int = Field(4, ge=1)  # synthetic images per class beside their nearest real one


class ImageValidateConfig(Section):
    classifier_steps: int = Field(400, ge=1)
    classifier_batch: int = Field(128, ge=2)
    neighbours: int = Field(5, ge=1)
    augmentation_fractions: list[float] = [0.1, 0.25, 0.5, 1.0]
    min_label_agreement: float = Field(0.8, ge=0, le=1)
    min_cas_ratio: float = Field(0.7, ge=0)
    min_class_coverage: float = Field(0.2, ge=0, le=1)
    max_fid_ratio: float | None = Field(None, gt=0)
    # The gain in holdout accuracy from adding the synthetic images to every real train image: the upper end of
    # its 95% interval (over holdout resamples) must reach this. 0: a merge that lowers accuracy beyond noise is
    # refused. None: reported only.
    min_augmentation_gain: float | None = 0.0

    @model_validator(mode="after")
    def _fractions_are_shares(self) -> ImageValidateConfig:
        if not self.augmentation_fractions or any(not 0 < f <= 1 for f in self.augmentation_fractions):
            raise ValueError("augmentation_fractions: each must be in (0, 1]")
        return self


class ImageConfig(Section):
    """Used when data.modality is image: images are resized to size x size with `channels` channels."""

    size: int = DEFAULT_IMAGE_SIZE
    channels: Literal[1, 3] = 1
    cpu_threads: int | None = Field(None, ge=1)  # torch CPU threads for image stages; None: torch's default
    column: str = "image"  # parquet source: the column holding PNG/JPEG bytes
    train: ImageTrainConfig = ImageTrainConfig()
    generate: ImageGenerateConfig = ImageGenerateConfig()
    validate: ImageValidateConfig = ImageValidateConfig()

    @model_validator(mode="before")
    @classmethod
    def _train_defaults_from_the_size(cls, data: Any) -> Any:
        """image.train keys left unset take the preset of image.size (IMAGE_SIZE_PRESETS)."""
        if not isinstance(data, dict) or not isinstance(data.get("train", {}), dict):
            return data
        preset = IMAGE_SIZE_PRESETS.get(data.get("size", DEFAULT_IMAGE_SIZE), {})
        return {**data, "train": {**preset, **data.get("train", {})}}

    @model_validator(mode="after")
    def _size_doubles_from_four(self) -> ImageConfig:
        # The generator starts at 4x4 and doubles; the critic halves back to 4x4.
        if self.size not in (8, 16, 32, 64, 128):
            raise ValueError(f"size must be one of 8, 16, 32, 64, 128 (got {self.size})")
        return self


class Params(Section):
    seed: int = Field(42, ge=0)
    data: DataConfig = DataConfig()
    ingest: IngestConfig = IngestConfig()
    preprocess: PreprocessConfig = PreprocessConfig()
    train: TrainConfig = TrainConfig()
    generate: GenerateConfig = GenerateConfig()
    validate: ValidateConfig = ValidateConfig()
    merge: MergeConfig = MergeConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    image: ImageConfig = ImageConfig()

    @model_validator(mode="after")
    def _balance_needs_a_target(self) -> Params:
        if self.merge.policy == "balance" and self.data.target is None:
            raise ValueError("merge.policy 'balance' needs data.target (the class column to balance)")
        return self

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
    checkpoints: Path
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
            # beside the model directory, not in it: that one is replaced whole when training ends
            checkpoints=Path("models") / f"{name}.ckpt",
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

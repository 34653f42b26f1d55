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
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from synthpipe.errors import ConfigError

# Prefect and DVC read these when first imported: state inside the project, telemetry and analytics off, and an
# ephemeral-server start-up timeout that a fresh database on a slow machine fits in (the default is 20 s).
TOOL_ENVIRONMENT = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "DVC_NO_ANALYTICS": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    # The UI opens on V1: Prefect 3.8's V2 UI contacts Amplitude as it loads even with analytics off; V1 sends no
    # request off the machine (its "Switch to V2 UI" still works).
    "PREFECT_SERVER_UI_V2_ENABLED": "false",
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
    format: Literal["example", "csv", "parquet", "jsonl", "sql", "folder"] = Field(
        "example", description="where rows come from; folder: images in one sub-folder per class (images only)")
    example: str | None = Field("penguins", description="example: a real dataset shipped in an installed package "
                                                        "(penguins: palmerpenguins; images: digits)")
    path: str | None = Field(None, description="csv/parquet/jsonl: a file (or a directory of Parquet partitions); "
                                               "folder: the folder of class folders")
    url: str | None = Field(None, description="sql: a SQLAlchemy URL, e.g. sqlite:///data/source.db")
    query: str | None = Field(None, description="sql: the SELECT to run")
    parse_dates: list[str] = Field([], description="columns to parse as datetimes (CSV and JSON carry no types)")

    @model_validator(mode="after")
    def _needs_what_the_format_reads(self) -> SourceConfig:
        needed = {"example": ["example"], "sql": ["url", "query"]}.get(self.format, ["path"])
        missing = [name for name in needed if not getattr(self, name)]
        if missing:
            raise ValueError(f"format '{self.format}' needs {', '.join(missing)}")
        return self


class DataConfig(Section):
    # The name becomes part of file paths, so it is restricted to a safe alphabet.
    name: str = Field("penguins", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                      description="names the files: data/raw/<name>.parquet, models/<name>/, ...")
    source: SourceConfig = SourceConfig()
    target: str | None = Field("species", description="label column: stratifies the split, scores utility; "
                                                      "null for none (images: required)")
    modality: Literal["table", "image", "timeseries"] = Field(
        "table", description="which stages module runs (synthpipe.stages); images: settings under `image`, "
                             "time series under `timeseries`")

    @model_validator(mode="after")
    def _source_fits_the_modality(self) -> DataConfig:
        if self.modality != "image" and self.source.format == "folder":
            raise ValueError("source.format 'folder' reads images: set data.modality: image")
        if self.modality == "image":
            if self.source.format not in ("example", "folder", "parquet"):
                raise ValueError("images come from 'example', 'folder' or 'parquet' sources, "
                                 f"not '{self.source.format}'")
            if not self.target:
                raise ValueError("images need a label column: set data.target")
        return self


class IngestConfig(Section):
    allow_schema_drift: bool = Field(False, description="false: fail when columns or dtypes differ from the "
                                                        "last ingest")


class PreprocessConfig(Section):
    holdout_fraction: float = Field(0.2, gt=0, lt=1, description="real rows kept out of training and merging, "
                                                                 "for honest evaluation")
    stratify: bool = Field(True, description="keep the target's class balance in both splits")


class LoopConfig(Section):
    """Settings of the shared training loop (synthpipe.training), for every model trained by it."""

    epochs: int = Field(ge=1, description="passes over the training data (each model has its own default)")
    min_steps: int = Field(0, ge=0, description="more epochs when the data is small, up to this many optimiser "
                                                "steps a fit (0: epochs alone)")
    max_steps: int | None = Field(None, ge=1, description="at most this many optimiser steps a fit, so large data "
                                                          "gets fewer epochs (null: epochs alone)")
    checkpoint_every: int = Field(10, ge=1, description="epochs between checkpoints (the train stage keeps them in "
                                                        "models/<name>.ckpt/); a stopped run resumes there")
    max_divergence_retries: int = Field(3, ge=0, description="NaN/inf loss or weights: restarts from the last good "
                                                             "epoch before failing")
    divergence_lr_factor: float = Field(0.5, gt=0, lt=1, description="learning rate multiplier for each of those "
                                                                     "restarts")


class TrainConfig(LoopConfig):
    model: Literal["auto", "gan", "vae", "copula", "diffusion"] = Field(
        "auto", description="auto: fit each family, keep the best on held-out rows")
    epochs: int = Field(300, ge=1, description="GAN and VAE passes over the data, raised to min_steps on small "
                                               "tables and cut to max_steps on large ones")
    min_steps: int = Field(2000, ge=0, description="GAN and VAE: more epochs on small tables, up to this many "
                                                   "optimiser steps a fit (0: epochs alone)")
    max_steps: int | None = Field(3000, ge=1, description="GAN and VAE: at most this many optimiser steps a fit, "
                                                          "so large tables get fewer epochs (null: epochs alone)")
    batch_size: int = Field(500, ge=2, description="capped at the train size (GAN: rounded down to a multiple of pac)")
    # GAN
    noise_dim: int = Field(128, ge=1, description="GAN: width of the generator's noise input")
    generator_dims: list[int] = Field([256, 256], description="GAN: widths of the generator's residual layers")
    critic_dims: list[int] = Field([256, 256], description="GAN: widths of the critic's layers")
    learning_rate: float = Field(2e-4, gt=0, description="GAN: Adam learning rate of generator and critic")
    critic_steps: int = Field(1, ge=1, description="GAN: critic updates per generator update")
    gradient_penalty: float = Field(10.0, ge=0, description="GAN: WGAN-GP weight")
    gradient_penalty_every: int = Field(4, ge=1, description="GAN: lazy penalty, every k steps at k times the "
                                                             "weight (the double backward is costly)")
    pac: int = Field(10, ge=1, description="GAN: rows the critic judges together (PacGAN, against mode collapse)")
    # VAE
    latent_dim: int = Field(128, ge=1, description="VAE: width of the latent code")
    vae_dims: list[int] = Field([128, 128], description="VAE: widths of the encoder's and decoder's layers")
    vae_loss_factor: float = Field(2.0, gt=0, description="VAE: weight of reconstruction against the KL term")
    # Diffusion
    diffusion_steps: int = Field(3000, ge=1, description="diffusion: optimiser steps, whatever the table's size")
    diffusion_batch_size: int = Field(1024, ge=2, description="diffusion: rows per step (capped at the train size)")
    diffusion_dims: list[int] = Field([256, 256], min_length=1, description="diffusion: widths of the denoiser's "
                                                                            "layers")
    diffusion_learning_rate: float = Field(1e-3, gt=0, description="diffusion: Adam learning rate")
    sampling_steps: int = Field(20, ge=1, description="diffusion: denoising steps per sampled row")
    # Transformer
    max_modes: int = Field(10, ge=1, description="Gaussian mixture components per numeric column "
                                                 "(mode-specific normalisation)")
    max_categories: int = Field(100, ge=1, description="levels with a slot of their own; rarer ones share "
                                                       "'other', drawn by frequency")
    mode_fit_rows: int = Field(20_000, ge=100, description="rows the mixtures are fitted on (a random subsample "
                                                           "of larger tables)")
    # Model selection (model: auto)
    time_budget: float | None = Field(360.0, gt=0, description="seconds for the whole fit, auto: the candidates "
                                                               "and the refit (null: none; a limit that stops a fit "
                                                               "makes its epochs machine-dependent)")
    validation_fraction: float = Field(0.2, gt=0, lt=1, description="auto: share of the train rows held out to "
                                                                    "score the candidates")
    selection_rows: int = Field(20_000, ge=100, description="auto: candidates are fitted and scored on a seeded "
                                                            "subsample of at most this many rows")
    selection_splits: int = Field(3, ge=1, description="auto: on a small table each candidate is fitted and scored "
                                                       "on this many seeded splits, its scores averaged (one split "
                                                       "of a few dozen held-out rows ranks the families by chance)")
    selection_splits_below: int = Field(200, ge=1, description="auto: held-out rows under which selection_splits "
                                                               "apply; larger tables are scored on one split")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="bfloat16 autocast on CUDA and on CPUs with "
                                                                       "AVX512-BF16 or AMX")
    # Distributed training (synthpipe.training); checkpoints and divergence: LoopConfig
    nproc: int = Field(1, ge=1, description="train stage: >1 trains data-parallel in this many torchrun processes "
                                            "(one per GPU; gloo on CPU)")
    cpu_threads: int | None = Field(None, ge=1, description="torch CPU threads while fitting; null: one per core")
    # Identifier columns (synthpipe.identifiers): text with a value on nearly every row, or very many values
    identifiers: Literal["fresh", "keep", "drop"] = Field(
        "fresh", description="text columns of ids/names: fresh (new values in the real formats, never a real one) "
                             "| keep (real values, modelled as a category) | drop (left empty)")
    identifier_columns: dict[str, Literal["fresh", "keep", "drop"]] = Field(
        {}, description="per column: fresh | keep | drop, e.g. {tailnum: keep}; names a column as an identifier too")
    identifier_share: float = Field(0.5, gt=0, le=1, description="a text column is an identifier with distinct "
                                                                 "values on at least this share of its rows")
    identifier_levels: int = Field(1000, ge=10, description="... or with at least this many distinct values "
                                                            "(text dates excepted)")
    constraints: list[str] = Field([], description="relations every generated row satisfies, e.g. "
                                                   "[\"hour = sched_dep_time // 100\", \"arr_delay >= -90\"]")

    @field_validator("constraints")
    @classmethod
    def _constraints_parse(cls, value: list[str]) -> list[str]:
        from synthpipe.constraints import parse

        for text in value:
            try:
                parse(text)
            except ConfigError as exc:
                raise ValueError(str(exc).removeprefix("train.constraints: ")) from None
        return value


class GenerateConfig(Section):
    rows: int | None = Field(None, ge=1, description="null: what merge needs: the train rows, the policy's count if "
                                                     "larger, under balance enough for the rarest class; times "
                                                     "merge.curation_factor with a target")
    max_balance_factor: float = Field(50.0, ge=1, description="rows null under merge.policy balance: at most this "
                                                              "many times the train rows")
    chunk_rows: int = Field(100_000, ge=1, description="rows sampled and decoded at a time")
    # The plan depends only on rows and shards, so the file is the same whoever (and however many) draw them.
    shards: int = Field(1, ge=1, description=">1: rows drawn in independent parts, each seeded from (seed, shard "
                                             "index)")
    workers: int | None = Field(None, ge=1, description="refresh flow: local Dask cluster processes for the shards; "
                                                        "null: one per core")
    dask_address: str | None = Field(None, description="refresh flow: an existing Dask scheduler (e.g. "
                                                       "tcp://host:8786) instead of a local cluster")


class ValidateConfig(Section):
    # Expectations (a Great Expectations suite derived from the real train rows)
    max_failed_expectations: int = Field(0, ge=0, description="expectations the synthetic rows may fail")
    range_tolerance: float = Field(0.05, ge=0, description="numeric ranges may exceed the real ones by this share "
                                                           "of their width")
    null_fraction_tolerance: float = Field(0.05, ge=0, le=1, description="a column's share of nulls may exceed the "
                                                                         "real share by this much")
    # Fidelity
    min_column_shape: float = Field(0.8, ge=0, le=1, description="mean per-column similarity (KS / total-variation "
                                                                 "complement)")
    min_worst_column_shape: float = Field(0.6, ge=0, le=1, description="the least similar column's similarity")
    max_correlation_diff: float = Field(0.2, ge=0, le=2, description="mean absolute difference of pairwise "
                                                                     "correlations of numeric columns")
    min_contingency_similarity: float = Field(0.7, ge=0, le=1, description="mean 1 - TV distance of joint "
                                                                           "distributions of pairs with a category")
    max_detection_auc: float = Field(0.95, ge=0.5, le=1, description="ROC AUC of a classifier telling synthetic from "
                                                                     "real rows (0.5 = indistinguishable)")
    # Diversity (mode collapse)
    max_duplicate_share: float = Field(0.2, ge=0, le=1, description="share of repeated synthetic rows, beyond the "
                                                                    "real data's own share")
    min_category_coverage: float = Field(0.8, ge=0, le=1, description="worst column: share of common real "
                                                                      "categories that appear")
    min_range_coverage: float = Field(0.5, ge=0, le=1, description="worst column: share of the real 1st-99th "
                                                                   "percentile range spanned")
    # Utility and augmentation gain (on the real holdout; need data.target)
    task: Literal["auto", "classification", "regression"] = Field("auto", description="what the target is; auto: "
                                                                                      "inferred from its values")
    max_utility_gap: float = Field(0.25, ge=0, description="train-real-test-real minus "
                                                           "train-synthetic-test-real score")
    max_augmentation_loss: float = Field(0.0, ge=0, description="refuse the merge when the gain's whole 95% "
                                                                "interval is below -this: never merge harm")
    augmentation_fractions: list[float] = Field([0.1, 0.25, 1.0], description="shares of the real train rows for the "
                                                                              "scarcity curve")
    augmentation_seeds: int = Field(3, ge=1, description="seeded subsets per fraction below 1, each with its own "
                                                         "generator refit")
    augmentation_refit: bool = Field(True, description="refit the generator on each subset alone; false (huge "
                                                       "tables): the curve below 100% is leaky")
    augmentation_time_budget: float | None = Field(0.5, gt=0, description="seconds per refit (epochs then depend on "
                                                                          "the machine); null: the run's own epochs")
    # Privacy (against the holdout: real rows the generator never saw)
    max_exact_copy_share: float = Field(0.01, ge=0, le=1, description="synthetic rows identical to a train row, "
                                                                      "beyond the holdout's share")
    min_dcr_ratio: float = Field(0.5, ge=0, description="median distance to closest train row, synthetic / holdout")
    min_nndr_ratio: float = Field(0.5, ge=0, description="median nearest-neighbour distance ratio, "
                                                         "synthetic / holdout")
    # Cost bounds for large tables (sampled with the seed; the report says when)
    sample_rows: int = Field(5000, ge=100, description="rows per table for detection, privacy distances and model "
                                                       "training")
    max_pairs: int = Field(500, ge=1, description="column pairs scored for contingency similarity")
    model_iterations: int = Field(50, ge=10, description="boosting iterations of every gradient-boosting model")
    detection_folds: int = Field(3, ge=2, description="cross-validation folds of the detection classifier")

    @model_validator(mode="after")
    def _fractions_are_shares(self) -> ValidateConfig:
        if not self.augmentation_fractions or any(not 0 < f <= 1 for f in self.augmentation_fractions):
            raise ValueError("augmentation_fractions must be a non-empty list of shares in (0, 1]")
        return self


class MergeConfig(Section):
    policy: Literal["ratio", "size", "balance"] = Field("ratio", description="balance: add target classes up to "
                                                                             "the majority class's count")
    synthetic_ratio: float = Field(1.0, ge=0, description="ratio: synthetic rows added per real train row (exact "
                                                          "copies are never added)")
    target_rows: int | None = Field(None, ge=1, description="size: rows of the merged train set, real + synthetic")
    curation_factor: float = Field(2.0, ge=1, description="generate draws this many times the rows merge needs, and "
                                                          "merge adds first those whose target a model fitted on the "
                                                          "real rows agrees with; 1: no curation")

    @model_validator(mode="after")
    def _size_needs_target_rows(self) -> MergeConfig:
        if self.policy == "size" and self.target_rows is None:
            raise ValueError("policy 'size' needs target_rows")
        return self


class ScheduleConfig(Section):
    """When `synthpipe serve` runs the refresh on a real Prefect server."""

    cron: str = Field("0 3 * * *", description="when, in `timezone` (default: every day at 03:00)")
    timezone: str = Field("UTC", description="the cron's time zone")
    overrides: list[str] = Field([], description="`--set` overrides applied to scheduled runs, "
                                                 "e.g. [\"train.epochs=3000\"]")
    train_concurrency: int = Field(1, ge=1, description="training runs allowed at once across the server's flow "
                                                        "runs (one GPU: 1)")


# pydantic warns that a field named `validate` shadows its deprecated classmethod; the section
# is named after its stage, and the classmethod is never used.
warnings.filterwarnings("ignore", message='Field name "validate"', category=UserWarning)


# Model defaults per family and image size (image.size picks one; any key set under image.train wins). Per step,
# the cost grows with width^2 x pixels: wider networks pay at 8 px, not at 32 px on a CPU. Measured on 2 CPU cores:
# 8 (sklearn digits, 1,437 train images) and 32 (MNIST padded, 4,000); 16, 64 and 128 are interpolated guesses.
IMAGE_PRESETS = {
    "gan": {
        8: {"width": 32, "batch_size": 64, "epochs": 30, "learning_rate": 1e-3, "gradient_penalty_every": 1},
        16: {"width": 24, "batch_size": 64, "epochs": 40, "learning_rate": 1e-3, "gradient_penalty_every": 4},
        32: {"width": 16, "batch_size": 64, "epochs": 40, "learning_rate": 1e-3, "gradient_penalty_every": 4},
        64: {"width": 16, "batch_size": 32, "epochs": 60, "learning_rate": 5e-4, "gradient_penalty_every": 4},
        128: {"width": 8, "batch_size": 32, "epochs": 80, "learning_rate": 2e-4, "gradient_penalty_every": 4},
    },
    # At least 1,000 steps whatever the set's size: the preset's 30 epochs of 400 images are 180 steps, too few to
    # draw recognisable digits (the scarcity curve's refits on a share of the images train as few).
    "diffusion": {
        8: {"width": 32, "batch_size": 64, "epochs": 60, "min_steps": 1000, "learning_rate": 2e-3},
        16: {"width": 32, "batch_size": 64, "epochs": 40, "min_steps": 1000, "learning_rate": 2e-3},
        32: {"width": 32, "batch_size": 64, "epochs": 30, "min_steps": 1000, "learning_rate": 2e-3},
        64: {"width": 32, "batch_size": 32, "epochs": 40, "min_steps": 1000, "learning_rate": 1e-3},
        128: {"width": 16, "batch_size": 32, "epochs": 60, "min_steps": 1000, "learning_rate": 1e-3},
    },
}
DEFAULT_IMAGE_MODEL = "diffusion"
DEFAULT_IMAGE_SIZE = 32
_PRESET = IMAGE_PRESETS[DEFAULT_IMAGE_MODEL][DEFAULT_IMAGE_SIZE]  # ImageTrainConfig on its own (no size known)


class ImageTrainConfig(LoopConfig):
    model: Literal["gan", "diffusion"] = Field(DEFAULT_IMAGE_MODEL, description=(
        "diffusion: flow matching with a small U-Net (varied images, slower sampling); gan: class-conditional DCGAN "
        "(fast sampling; at 32 px it collapses each class to one image)"))
    epochs: int = Field(_PRESET["epochs"], ge=1, description="passes over the train images (preset by image.size)")
    batch_size: int = Field(_PRESET["batch_size"], ge=2, description="images per step (preset by image.size)")
    noise_dim: int = Field(64, ge=1, description="GAN: width of the generator's noise input")
    width: int = Field(_PRESET["width"], ge=4, description="channels at full resolution, doubled per halving "
                                                           "(capped at 512; preset by image.size)")
    learning_rate: float = Field(_PRESET["learning_rate"], gt=0, description="Adam learning rate (GAN: of generator "
                                                                             "and critic; preset by image.size)")
    gradient_penalty: float = Field(10.0, ge=0, description="GAN: WGAN-GP weight")
    gradient_penalty_every: int = Field(IMAGE_PRESETS["gan"][DEFAULT_IMAGE_SIZE]["gradient_penalty_every"], ge=1,
                                        description=("GAN: lazy penalty, every k critic steps at k times the weight "
                                                     "(its double backward is about half of a 32 px step; preset by "
                                                     "image.size)"))
    augment: list[Literal["translation", "cutout", "color"]] = Field(
        ["translation"], description="GAN: DiffAugment on real and fake images for the critic")
    ema_decay: float = Field(0.999, ge=0, lt=1, description="images are drawn from a moving average of the "
                                                            "network's weights")
    time_budget: float | None = Field(None, gt=0, description="seconds: training stops after the epoch that passes "
                                                              "it (null: no limit)")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="where the image model trains")
    mixed_precision: bool = Field(True, description="bfloat16 autocast where native: CUDA, or a CPU with "
                                                    "AVX512-BF16 / AMX")


class ImageGenerateConfig(Section):
    per_class: int | None = Field(None, ge=1, description="images per class; null: as many as the class has real "
                                                          "train images")
    classes: list[int | str] | None = Field(None, description="classes to generate; null: all")
    sampling_steps: int = Field(10, ge=1, description="diffusion: Euler steps from noise to an image (each one or "
                                                      "two passes of the network)")
    guidance: float = Field(1.5, ge=0, description="diffusion: classifier-free guidance; 1 = none (one pass a step), "
                                                   "higher = images more typical of their class, less varied")
    grid_columns: int = Field(10, ge=1, description="synthetic images per class in reports/plots/samples.png")
    grid_real_columns: int = Field(4, ge=0, description="real train images per class before them, for comparison")
    nearest_per_class: int = Field(4, ge=1, description="synthetic images per class beside their nearest real one "
                                                        "(reports/plots/nearest.png)")


class ImageValidateConfig(Section):
    classifier_steps: int = Field(400, ge=1, description="optimiser steps per classifier (2 + 3 per augmentation "
                                                         "fraction are trained: judge, CAS, curve)")
    classifier_batch: int = Field(128, ge=2, description="images per classifier step")
    neighbours: int = Field(5, ge=1, description="k of the k-NN manifolds for precision / recall / coverage")
    augmentation_fractions: list[float] = Field([0.1, 0.25, 1.0], description="shares of the real train images "
                                                                              "for the augmentation curve")
    augmentation_refit: bool = Field(True, description="below 100%, fit the generator again on the share alone "
                                                       "(image.train settings); false: the run's images, leaky")
    min_label_agreement: float = Field(0.8, ge=0, le=1, description="share of synthetic images the real-trained "
                                                                    "classifier puts in their class")
    min_cas_ratio: float = Field(0.7, ge=0, description="accuracy of a synthetic-trained classifier / of a "
                                                        "real-trained one (real holdout)")
    min_class_coverage: float = Field(0.2, ge=0, le=1, description="worst class's coverage of its real holdout "
                                                                   "images (mode collapse)")
    max_fid_ratio: float | None = Field(None, gt=0, description="FID / real train-vs-holdout FID; null: reported, "
                                                                "not gated")
    min_augmentation_gain: float | None = Field(0.0, description=(
        "the upper end of the 95% interval of the holdout-accuracy gain from adding the synthetic images must reach "
        "this: 0 refuses a merge that lowers accuracy beyond noise; null: reported only"))

    @model_validator(mode="after")
    def _fractions_are_shares(self) -> ImageValidateConfig:
        if not self.augmentation_fractions or any(not 0 < f <= 1 for f in self.augmentation_fractions):
            raise ValueError("augmentation_fractions: each must be in (0, 1]")
        return self


class ImageConfig(Section):
    """Used when data.modality is image: images are resized to size x size with `channels` channels."""

    size: int = Field(DEFAULT_IMAGE_SIZE, description="images are centre-cropped and resized to size x size: 8, 16, "
                                                      "32, 64 or 128; picks the image.train preset")
    channels: Literal[1, 3] = Field(1, description="1 grayscale, 3 RGB")
    cpu_threads: int | None = Field(None, ge=1, description="torch CPU threads for image stages; null: torch's "
                                                            "default (one per core)")
    column: str = Field("image", description="parquet source: the column of PNG/JPEG bytes (labels: data.target)")
    train: ImageTrainConfig = ImageTrainConfig()
    generate: ImageGenerateConfig = ImageGenerateConfig()
    validate: ImageValidateConfig = ImageValidateConfig()

    @model_validator(mode="before")
    @classmethod
    def _train_defaults_from_the_size(cls, data: Any) -> Any:
        """image.train keys left unset take the preset of image.train.model at image.size (IMAGE_PRESETS)."""
        if not isinstance(data, dict) or not isinstance(data.get("train", {}), dict):
            return data
        family = IMAGE_PRESETS.get(data.get("train", {}).get("model", DEFAULT_IMAGE_MODEL), {})
        preset = family.get(data.get("size", DEFAULT_IMAGE_SIZE), {})
        return {**data, "train": {**preset, **data.get("train", {})}}

    @model_validator(mode="after")
    def _size_doubles_from_four(self) -> ImageConfig:
        # The generator starts at 4x4 and doubles; the critic halves back to 4x4.
        if self.size not in (8, 16, 32, 64, 128):
            raise ValueError(f"size must be one of 8, 16, 32, 64, 128 (got {self.size})")
        return self


class SeriesTrainConfig(LoopConfig):
    epochs: int = Field(60, ge=1, description="passes over the training windows")
    min_steps: int = Field(100, ge=0, description="more epochs when the windows are few, up to this many optimiser "
                                                  "steps (0: epochs alone)")
    batch_size: int = Field(128, ge=2, description="windows per step")
    hidden: int = Field(64, ge=4, description="GRU units")
    layers: int = Field(1, ge=1, description="GRU layers")
    learning_rate: float = Field(5e-3, gt=0, description="Adam learning rate (the peak of a cosine schedule)")
    schedule: Literal["constant", "cosine"] = Field(
        "cosine", description="learning rate over the planned steps: constant, or cosine decay to zero")
    context_model: Literal["copula", "gan", "vae"] = Field(
        "copula", description="TabularSynthesizer of context, length, start and interval, one row per entity")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="where the sequence model trains")
    cpu_threads: int | None = Field(None, ge=1, description="torch CPU threads while fitting; null: torch's default")


class SeriesGenerateConfig(Section):
    entities: int | None = Field(None, ge=1, description="synthetic entities; null: as many as the train split has")
    id_prefix: str = Field("syn-", description="fresh ids: prefix + number, never a real id (integer ids: past the "
                                               "largest)")


class SeriesValidateConfig(Section):
    lags: int = Field(8, ge=1, description="ACF lags compared, and the next-step predictor's inputs")
    max_failed_expectations: int = Field(0, ge=0, description="step values in the real ranges and level sets, "
                                                              "nulls alike")
    min_column_shape: float = Field(0.7, ge=0, le=1, description="mean KS / total-variation similarity of value "
                                                                 "and context columns")
    max_acf_distance: float = Field(0.2, ge=0, description="mean |ACF real - ACF synthetic| over the lags")
    max_cross_correlation_diff: float = Field(0.3, ge=0, le=2, description="value columns moving together as in "
                                                                           "the real data")
    max_discriminative_score: float = Field(0.35, ge=0, le=0.5, description="|accuracy - 0.5| of a "
                                                                            "real-vs-synthetic window classifier")
    max_predictive_ratio: float = Field(2.0, gt=0, description="next-step MAE on held-out entities: trained on "
                                                               "synthetic / on real")
    min_privacy_ratio: float = Field(0.5, ge=0, description="nearest-window distance to train: synthetic / "
                                                            "held-out entities")
    classifier_iterations: int = Field(100, ge=10, description="boosting rounds of the discriminator")


class TimeSeriesConfig(Section):
    """Used when data.modality is timeseries: a long table, one row per entity and time step."""

    entity: str | None = Field(None, description="entity column of the long table; null: one single series")
    time: str = Field("date", description="time column: datetimes or integer order")
    context: list[str] = Field([], description="static columns, one value per entity")
    min_length: int = Field(8, ge=2, description="entities with fewer steps are refused at ingest")
    window: int = Field(24, ge=2, description="training (and discriminator) windows, in steps, cut by preprocess")
    stride: int = Field(4, ge=1, description="steps between window starts")
    train: SeriesTrainConfig = SeriesTrainConfig()
    generate: SeriesGenerateConfig = SeriesGenerateConfig()
    validate: SeriesValidateConfig = SeriesValidateConfig()


class Params(Section):
    seed: int = Field(42, ge=0, description="every random draw of every stage derives from it")
    data: DataConfig = DataConfig()
    ingest: IngestConfig = IngestConfig()
    preprocess: PreprocessConfig = PreprocessConfig()
    train: TrainConfig = TrainConfig()
    generate: GenerateConfig = GenerateConfig()
    validate: ValidateConfig = ValidateConfig()
    merge: MergeConfig = MergeConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    image: ImageConfig = ImageConfig()
    timeseries: TimeSeriesConfig = TimeSeriesConfig()

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

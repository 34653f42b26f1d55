"""The six stages for labelled images (data.modality: image), as plain functions on paths, and `run`, which maps
params.yaml's sections onto them (synthpipe.stages picks this module for images).

Layout: Parquet tables of PNG bytes + label + height + width (raw, prepared train/holdout, synthetic);
models/<name>/ with safetensors + JSON; reports/quality.json, summary.md, report.html and plots/ (sample grid, one
row per class, and the augmentation curve).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import train_test_split
from tqdm import tqdm

from synthpipe.config import (
    ImageConfig,
    ImageGenerateConfig,
    ImageTrainConfig,
    MergeConfig,
    Params,
    PreprocessConfig,
    SourceConfig,
    ValidateConfig,
)
from synthpipe.device import cpu_threads, resolve_device
from synthpipe.errors import REFIT_FAILURES, GateFailed, InputError
from synthpipe.gate.expectations import expectation_specs, run_expectations
from synthpipe.gate.html import write_html_report
from synthpipe.gate.plots import plot_augmentation, plot_training_losses
from synthpipe.gate.scarcity import LABELS
from synthpipe.images.codec import IMAGE_COLUMN, ImageBatch, image_table, sorted_classes, table_to_batch
from synthpipe.images.families import (
    family,
    fit_image_model,
    load_image_model,
    save_image_model,
    trajectory_fingerprint,
)
from synthpipe.images.figures import nearest_neighbours, sample_grid
from synthpipe.images.folders import load_images
from synthpipe.images.model import image_batches
from synthpipe.images.quality import Refit, assess_images, render_summary
from synthpipe.io import (
    atomic_dir,
    atomic_path,
    file_hash,
    read_json,
    read_table,
    write_json,
    write_parquet,
    write_text,
)
from synthpipe.merge import merge
from synthpipe.schema import infer_kinds
from synthpipe.sources import write_raw
from synthpipe.training import Checkpoints, LoopOptions, deadline, epochs_run, planned_epochs

DATASET_FILE = "images.json"  # in data/prepared: classes, label dtype, size, channels
FAMILY_NAMES = {"gan": "image GAN", "diffusion": "image diffusion"}  # in the report's refit lines


def ingest(source: SourceConfig, label_column: str, cfg: ImageConfig, raw_path: Path, schema_path: Path,
           allow_drift: bool) -> dict:
    df = load_images(source, label_column, cfg)
    write_raw(df, raw_path, schema_path, allow_drift)
    return {"images": len(df), "classes": int(df[label_column].nunique()), "size": cfg.size}


def preprocess(raw_path: Path, out_dir: Path, label_column: str, cfg: PreprocessConfig, seed: int) -> dict:
    """Split train / holdout, stratified on the label (every class keeps its share on both sides)."""
    df = read_table(raw_path)
    counts = df[label_column].value_counts()
    if cfg.stratify and (counts < 2).any():
        raise InputError(f"{raw_path}: class(es) {list(counts[counts < 2].index)} have a single image, so the "
                         "split cannot be stratified; set preprocess.stratify: false or add images")
    try:
        train, holdout = train_test_split(df, test_size=cfg.holdout_fraction, random_state=seed,
                                          stratify=df[label_column] if cfg.stratify else None)
    except ValueError as exc:
        raise InputError(f"preprocess.holdout_fraction={cfg.holdout_fraction}: cannot split {len(df)} images: "
                         f"{exc}") from None
    train, holdout = train.sort_index().reset_index(drop=True), holdout.sort_index().reset_index(drop=True)
    classes = sorted_classes(df[label_column])
    dataset = {"label_column": label_column, "label_dtype": str(df[label_column].dtype), "classes": classes,
               "size": int(df["height"].iloc[0]),
               "train_per_class": [int((train[label_column] == c).sum()) for c in classes]}
    with atomic_dir(out_dir) as tmp:
        write_parquet(train, tmp / "train.parquet")
        write_parquet(holdout, tmp / "holdout.parquet")
        write_json(dataset, tmp / DATASET_FILE)
    return {"train_images": len(train), "holdout_images": len(holdout), "classes": len(classes)}


def load_split(prepared_dir: Path, name: str, channels: int, device: torch.device) -> tuple[ImageBatch, dict]:
    dataset = read_json(prepared_dir / DATASET_FILE)
    path = prepared_dir / f"{name}.parquet"
    batch = table_to_batch(read_table(path), dataset["label_column"], channels, dataset["classes"], str(path))
    return ImageBatch(batch.images.to(device), batch.targets.to(device), batch.classes), dataset


def train(prepared_dir: Path, model_dir: Path, log_path: Path, cfg: ImageConfig, seed: int,
          checkpoint_dir: Path | None = None) -> dict:
    """With `checkpoint_dir` a checkpoint is kept there every image.train.checkpoint_every epochs, and a killed
    run resumes from it."""
    device = resolve_device(cfg.train.device)
    batch, dataset = load_split(prepared_dir, "train", cfg.channels, device)
    checkpoints = None
    if checkpoint_dir is not None:
        checkpoints = Checkpoints(Path(checkpoint_dir), family(cfg.train),
                                  trajectory_fingerprint(batch.images, batch.targets, cfg.train, seed))
    started = time.perf_counter()
    planned = planned_epochs(cfg.train, image_batches(cfg.train, len(batch.targets))[1])
    with tqdm(total=planned, desc="train", unit="epoch", disable=None) as bar:
        def show(record: dict) -> None:
            bar.set_postfix(loss=f"{record['loss']:.3f}", img_s=f"{record['rows_per_s']:.0f}")
            bar.update()

        options = LoopOptions(on_epoch=show, checkpoints=checkpoints, stop_at=deadline(cfg.train.time_budget))
        model = fit_image_model(batch.images, batch.targets, len(batch.classes), cfg.train, seed, options)
    seconds = time.perf_counter() - started
    epochs = epochs_run(model.history)
    extra = {"model": cfg.train.model, "epochs_run": epochs, "train": cfg.train.model_dump(), "seed": seed,
             "images": len(batch.targets), "device": str(device), "seconds": seconds, "dataset": dataset}
    with atomic_dir(model_dir) as tmp:
        save_image_model(model, tmp, extra)
    with atomic_path(log_path) as tmp:
        pd.DataFrame(model.history).to_csv(tmp, index=False)
    return {"epochs": epochs, "seconds": seconds, "device": str(device),
            "images_per_s": float(np.mean([r["rows_per_s"] for r in model.history if "event" not in r]))}


def refitter(cfg: ImageTrainConfig, sampling: ImageGenerateConfig, classes: int) -> Refit:
    """The run's generator settings fitted again on a share of the train images alone, for the augmentation
    curve: as many epochs over the share as the run had over every image (image.train as a user with only that
    share would run it), sampled as the run's generate stage samples."""
    def refit(images: torch.Tensor, targets: torch.Tensor, labels: torch.Tensor,
              seed: int) -> tuple[torch.Tensor, dict]:
        started, record = time.perf_counter(), {"seed": seed, "rows": len(targets)}
        try:
            model = fit_image_model(images, targets, classes, cfg, seed, LoopOptions(stop_at=deadline(cfg.time_budget)))
        except REFIT_FAILURES as exc:  # e.g. diverged on a small share: nothing to add at this size
            return images[:0], record | {"failed": str(exc)}
        pixels = model.sample(labels.cpu().numpy(), seed, sampling)
        record |= {"family": FAMILY_NAMES[cfg.model], "epochs": epochs_run(model.history),
                   "seconds": round(time.perf_counter() - started, 2)}
        return torch.from_numpy(pixels).to(images.device), record
    return refit


def generate(model_dir: Path, out_path: Path, cfg: ImageConfig, seed: int) -> dict:
    model, config = load_image_model(model_dir, resolve_device(cfg.train.device))
    dataset = config["dataset"]
    targets = requested_labels(dataset, cfg)
    pixels = model.sample(targets, seed, cfg.generate)
    labels = pd.Series([dataset["classes"][t] for t in targets]).astype(dataset["label_dtype"])
    write_parquet(image_table(pixels.transpose(0, 2, 3, 1), labels, dataset["label_column"]), out_path)
    return {"images": len(targets), "classes": len(np.unique(targets))}


def requested_labels(dataset: dict, cfg: ImageConfig) -> np.ndarray:
    """Class indices to generate, interleaved (0, 1, 2, ..., 0, 1, 2, ...), so that any prefix is class-balanced."""
    classes = dataset["classes"]
    wanted = classes if cfg.generate.classes is None else cfg.generate.classes
    unknown = [c for c in wanted if c not in classes and str(c) not in map(str, classes)]
    if unknown:
        raise InputError(f"image.generate.classes: {unknown} are not classes of the data (classes: {classes})")
    index = [i for i, c in enumerate(classes) if c in wanted or str(c) in map(str, wanted)]
    counts = [cfg.generate.per_class or dataset["train_per_class"][i] for i in index]
    labels = np.concatenate([np.full(n, i) for i, n in zip(index, counts)])
    rank = np.concatenate([np.arange(n) for n in counts])
    return labels[np.argsort(rank, kind="stable")]


def validate(prepared_dir: Path, synthetic_path: Path, quality_path: Path, summary_path: Path, cfg: ImageConfig,
             seed: int, expectations_dir: Path, train_log: Path | None = None,
             merge: MergeConfig | None = None) -> dict:
    device = resolve_device(cfg.train.device)
    train_batch, dataset = load_split(prepared_dir, "train", cfg.channels, device)
    holdout_batch, _ = load_split(prepared_dir, "holdout", cfg.channels, device)
    synthetic_table = read_table(synthetic_path)
    synthetic = table_to_batch(synthetic_table, dataset["label_column"], cfg.channels, dataset["classes"],
                               str(synthetic_path))
    synthetic = ImageBatch(synthetic.images.to(device), synthetic.targets.to(device), synthetic.classes)
    expectations = table_expectations(read_table(prepared_dir / "train.parquet"), synthetic_table, expectations_dir,
                                      summary_path.parent / "data_docs")
    refit = refitter(cfg.train, cfg.generate, len(dataset["classes"])) if cfg.validate.augmentation_refit else None
    report = assess_images(train_batch, holdout_batch, synthetic, cfg.validate, seed, expectations,
                           TABLE_COLUMNS.max_failed_expectations, refit, merge)
    plots = summary_path.parent / "plots"
    report["inputs"] = {name: {"path": str(path), "sha256": file_hash(path)}
                        for name, path in (("train", prepared_dir / "train.parquet"), ("synthetic", synthetic_path))}
    report["figures"] = {"samples": str(plots / "samples.png"), "nearest": str(plots / "nearest.png"),
                         "augmentation": str(plots / "augmentation.png")}
    real = (train_batch.images.cpu().numpy(), train_batch.targets.cpu().numpy())
    fake = (synthetic.images.cpu().numpy(), synthetic.targets.cpu().numpy())
    with atomic_dir(plots) as tmp:
        sample_grid(real, fake, synthetic.classes, cfg.generate.grid_real_columns, cfg.generate.grid_columns,
                    tmp / "samples.png")
        report["fidelity"]["nearest_real_ratio"] = nearest_neighbours(real[0], fake, synthetic.classes,
                                                                      cfg.generate.nearest_per_class,
                                                                      tmp / "nearest.png")
        plot_augmentation(report["augmentation"]["points"], report["augmentation"]["metric"], LABELS,
                          tmp / "augmentation.png")
        if train_log is not None and train_log.exists():  # the table gate's plot of the shared loop's log
            plot_training_losses(pd.read_csv(train_log), tmp / "training_losses.png")
            report["figures"]["losses"] = str(plots / "training_losses.png")
    # Reports are written whatever the verdict: a failed gate must say why.
    write_json(report, quality_path)
    write_text(render_summary(report), summary_path)
    write_html_report(report, summary_path.parent)
    if not report["passed"]:
        raise GateFailed(report["reasons"])
    return {"passed": True}


# The table gate's default settings for the columns beside the pixels (label, height, width): they need no tuning.
TABLE_COLUMNS = ValidateConfig()


def table_expectations(real: pd.DataFrame, synthetic: pd.DataFrame, expectations_dir: Path,
                       docs_dir: Path) -> list[dict]:
    """The Great Expectations suite on the columns beside the pixels: known labels, the real image size, no nulls."""
    real, synthetic = real.drop(columns=IMAGE_COLUMN), synthetic.drop(columns=IMAGE_COLUMN)
    specs = expectation_specs(real, infer_kinds(real), rows=len(synthetic), cfg=TABLE_COLUMNS)
    return run_expectations(specs, synthetic, expectations_dir, docs_dir)


def run(stage: str, params: Params) -> dict:
    """Stage `stage` with its own params sections, on image.cpu_threads torch threads."""
    with cpu_threads(params.image.cpu_threads):
        return dispatch(stage, params)


def dispatch(stage: str, params: Params) -> dict:
    paths, image = params.paths, params.image
    if stage == "ingest":
        return ingest(params.data.source, params.data.target, image, paths.raw, paths.schema,
                      params.ingest.allow_schema_drift)
    if stage == "preprocess":
        return preprocess(paths.raw, paths.prepared, params.data.target, params.preprocess, params.seed)
    if stage == "train":
        return train(paths.prepared, paths.model, paths.train_log, image, params.seed, paths.checkpoints)
    if stage == "generate":
        return generate(paths.model, paths.synthetic, image, params.seed)
    if stage == "validate":
        return validate(paths.prepared, paths.synthetic, paths.quality, paths.summary, image, params.seed,
                        expectations_dir=Path("gx"), train_log=paths.train_log, merge=params.merge)
    # Curation judges a table's columns against its target; the image gate judges images by its own classifier.
    return merge(paths.prepared, paths.synthetic, paths.quality, paths.model, paths.merged,
                 params.merge.model_copy(update={"curation_factor": 1.0}), params.data.target, params.seed)


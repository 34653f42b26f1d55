"""The image model families (image.train.model) behind one interface: fit, checkpoint fingerprint, save, load.
A trained model of either family draws images with `model.sample(labels, seed)`."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from synthpipe.config import ImageTrainConfig
from synthpipe.errors import InputError
from synthpipe.images.diffusion import TrainedImageDiffusion, train_image_diffusion
from synthpipe.images.model import TrainedImageGan, train_image_gan
from synthpipe.io import atomic_path, file_hash, read_json, verify_manifest, write_json, write_manifest
from synthpipe.training import LoopOptions, fingerprint, state_digest, world_size

ImageModel = TrainedImageGan | TrainedImageDiffusion
FIT = {"gan": train_image_gan, "diffusion": train_image_diffusion}
BY_FORMAT = {TrainedImageGan.format: TrainedImageGan, TrainedImageDiffusion.format: TrainedImageDiffusion}
WEIGHTS_FILE = "weights.safetensors"
CONFIG_FILE = "config.json"
# Part of the fingerprint: raised when the tensors of an unfinished fit's checkpoint change meaning.
CHECKPOINT_FORMAT = 1


def family(cfg: ImageTrainConfig) -> str:
    """The name of the fit in checkpoints and progress lines."""
    return f"image_{cfg.model}"


def fit_image_model(images: torch.Tensor, targets: torch.Tensor, classes: int, cfg: ImageTrainConfig, seed: int,
                    options: LoopOptions | None = None) -> ImageModel:
    """Train image.train.model on uint8 `images` (N, C, S, S) already on their device."""
    return FIT[cfg.model](images, targets, classes, cfg, seed, options)


def trajectory_fingerprint(images: torch.Tensor, targets: torch.Tensor, cfg: ImageTrainConfig, seed: int) -> str:
    """What the weights after epoch k depend on; settings that only say when to save or give up are left out."""
    settings = cfg.model_dump(exclude={"checkpoint_every", "max_divergence_retries", "device", "time_budget"})
    data = state_digest({"images": images, "targets": targets})
    return fingerprint(family(cfg), settings, seed, data, images.device.type, world_size(), CHECKPOINT_FORMAT)


def save_image_model(model: ImageModel, directory: str | Path, extra: dict) -> None:
    """Weights as safetensors, architecture and `extra` as JSON, then manifest.json with every file's SHA-256.
    No pickle. `directory` is the caller's atomic temporary directory."""
    directory = Path(directory)
    with atomic_path(directory / WEIGHTS_FILE) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in model.tensors().items()}, str(tmp))
    run_id = file_hash(directory / WEIGHTS_FILE)[:16]  # names the exact weights: merged rows carry it
    write_json({"format": model.format, "run_id": run_id, **model.describe(), **extra}, directory / CONFIG_FILE)
    write_manifest(directory)  # last: it vouches for every file above


def load_image_model(directory: str | Path, device: torch.device) -> tuple[ImageModel, dict]:
    """Rebuild a saved model (what sampling needs of it) from its directory, on any device."""
    directory = Path(directory)
    verify_manifest(directory)
    config = read_json(directory / CONFIG_FILE)
    kind = BY_FORMAT.get(config.get("format"))
    if kind is None:
        raise InputError(f"{directory / CONFIG_FILE}: unknown model format {config.get('format')!r} "
                         f"(known: {', '.join(BY_FORMAT)})")
    tensors = load_file(str(directory / WEIGHTS_FILE), device="cpu")
    return kind.from_tensors(config, tensors).to(device), config

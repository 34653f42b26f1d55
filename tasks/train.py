"""Stage 3: train the GAN on the encoded train set; write safetensors weights, JSON config and a loss log."""

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from prefect import task
from prefect.cache_policies import NO_CACHE
from tqdm import tqdm

from synthpipe.config import Params, TrainConfig
from synthpipe.gan import resolve_device, save_gan, train_gan
from synthpipe.io import atomic_dir, atomic_path, read_table
from synthpipe.transform import TableTransformer


def train(prepared_dir: Path, model_dir: Path, log_path: Path, cfg: TrainConfig, seed: int) -> dict:
    transformer = TableTransformer.load(prepared_dir / "transformer.json")
    device = resolve_device(cfg.device)
    # The whole training set is one tensor on the device; batches are index draws into it.
    data = torch.from_numpy(read_table(prepared_dir / "encoded.parquet").to_numpy(np.float32, copy=True)).to(device)
    started = time.perf_counter()
    with tqdm(total=cfg.epochs, desc="train", unit="epoch", disable=None) as bar:
        def show(record: dict) -> None:
            bar.set_postfix(g=f"{record['generator_loss']:.3f}", c=f"{record['critic_loss']:.3f}",
                            rows_s=f"{record['rows_per_s']:.0f}")
            bar.update()

        model = train_gan(data, tuple(transformer.spans), cfg, seed, on_epoch=show)
    seconds = time.perf_counter() - started
    extra = {"train": cfg.model_dump(), "seed": seed, "rows": data.shape[0], "device": str(device), "seconds": seconds}
    with atomic_dir(model_dir) as tmp:
        save_gan(model, tmp, extra)
        transformer.save(tmp / "transformer.json")  # the model directory is self-contained
    with atomic_path(log_path) as tmp:
        pd.DataFrame(model.history).to_csv(tmp, index=False)
    return {"epochs": cfg.epochs, "seconds": seconds, "device": str(device)}


def run(params: Params) -> dict:
    paths = params.paths
    if params.data.modality == "image":
        from tasks import images  # torch and Pillow load only for image runs

        return images.train(paths.prepared, paths.model, paths.train_log, params.image, params.seed)
    return train(paths.prepared, paths.model, paths.train_log, params.train, params.seed)


# The tag lets a Prefect concurrency limit make training runs wait for each other (one GPU, one run).
TRAIN_TAG = "synthpipe-train"
train_task = task(run, name="train", tags=[TRAIN_TAG], cache_policy=NO_CACHE, persist_result=False)

"""Stage 3: fit the TabularSynthesizer on the real train split; write its model directory and a training log."""

from pathlib import Path

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE
from tqdm import tqdm

from synthpipe.config import Params, TrainConfig
from synthpipe.io import atomic_path, read_table
from synthpipe.synthesizer import TabularSynthesizer


def train(prepared_dir: Path, model_dir: Path, log_path: Path, cfg: TrainConfig, target: str | None, seed: int) -> dict:
    train_rows = read_table(prepared_dir / "train.parquet")
    synthesizer = TabularSynthesizer.from_config(cfg, seed)
    with tqdm(desc="train", unit="epoch", disable=None) as bar:
        def show(record: dict) -> None:
            bar.set_postfix(loss=f"{record['loss']:.3f}", rows_s=f"{record['rows_per_s']:.0f}")
            bar.update()

        synthesizer.fit(train_rows, target=target, on_epoch=show)
    synthesizer.save(model_dir)
    with atomic_path(log_path) as tmp:
        pd.DataFrame(synthesizer.history, columns=["epoch", "loss"] if not synthesizer.history else None).to_csv(tmp, index=False)
    info = synthesizer.info
    return {"model": info["model"], "epochs": info["epochs_run"], "seconds": round(info["seconds"], 1), "device": info["device"]}


def run(params: Params) -> dict:
    paths = params.paths
    if params.data.modality == "image":
        from tasks import images  # torch and Pillow load only for image runs

        return images.train(paths.prepared, paths.model, paths.train_log, params.image, params.seed)
    return train(paths.prepared, paths.model, paths.train_log, params.train, params.data.target, params.seed)


# The tag lets a Prefect concurrency limit make training runs wait for each other (one GPU, one run).
TRAIN_TAG = "synthpipe-train"
train_task = task(run, name="train", tags=[TRAIN_TAG], cache_policy=NO_CACHE, persist_result=False)

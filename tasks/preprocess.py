"""Stage 2: split the real rows into train and holdout (the model is fitted on train only)."""

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from synthpipe.config import Params, PreprocessConfig
from synthpipe.io import atomic_dir, read_table, write_parquet
from synthpipe.split import split_train_holdout


def preprocess(raw_path: Path, out_dir: Path, target: str | None, cfg: PreprocessConfig, seed: int) -> dict:
    df = read_table(raw_path)
    train, holdout = split_train_holdout(df, target, cfg.holdout_fraction, cfg.stratify, seed)
    with atomic_dir(out_dir) as tmp:
        write_parquet(train, tmp / "train.parquet")
        write_parquet(holdout, tmp / "holdout.parquet")
    return {"train_rows": len(train), "holdout_rows": len(holdout)}


def run(params: Params) -> dict:
    if params.data.modality == "image":
        from tasks import images  # torch and Pillow load only for image runs

        return images.preprocess(params.paths.raw, params.paths.prepared, params.data.target, params.preprocess,
                                 params.seed)
    return preprocess(params.paths.raw, params.paths.prepared, params.data.target, params.preprocess, params.seed)


preprocess_task = task(run, name="preprocess", cache_policy=NO_CACHE, persist_result=False)

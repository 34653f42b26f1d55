"""Stage 2: split train/holdout, fit the reversible transformer, write the encoded train set."""

from pathlib import Path

import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from synthpipe.config import Params, PreprocessConfig
from synthpipe.io import atomic_dir, read_table, write_parquet
from synthpipe.split import split_train_holdout
from synthpipe.transform import TableTransformer


def preprocess(raw_path: Path, out_dir: Path, target: str | None, cfg: PreprocessConfig, seed: int) -> dict:
    df = read_table(raw_path)
    train, holdout = split_train_holdout(df, target, cfg.holdout_fraction, cfg.stratify, seed)
    transformer = TableTransformer.fit(train)
    encoded = pd.DataFrame(transformer.encode(train).astype(np.float32), columns=transformer.output_names)
    with atomic_dir(out_dir) as tmp:
        write_parquet(train, tmp / "train.parquet")
        write_parquet(holdout, tmp / "holdout.parquet")
        write_parquet(encoded, tmp / "encoded.parquet")
        transformer.save(tmp / "transformer.json")
    return {"train_rows": len(train), "holdout_rows": len(holdout), "encoded_width": encoded.shape[1]}


def run(params: Params) -> dict:
    if params.data.modality == "image":
        from tasks import images  # torch and Pillow load only for image runs

        return images.preprocess(params.paths.raw, params.paths.prepared, params.data.target, params.preprocess,
                                 params.seed)
    return preprocess(params.paths.raw, params.paths.prepared, params.data.target, params.preprocess, params.seed)


preprocess_task = task(run, name="preprocess", cache_policy=NO_CACHE, persist_result=False)

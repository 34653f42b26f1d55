"""Stage 4: sample rows from the trained model and decode them to the original columns and dtypes."""

from pathlib import Path

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from synthpipe.config import GenerateConfig, Params
from synthpipe.gan import load_generator, resolve_device, sample_encoded
from synthpipe.io import write_parquet
from synthpipe.transform import TableTransformer


def generate(model_dir: Path, out_path: Path, cfg: GenerateConfig, seed: int, device: str = "auto") -> dict:
    generator, shape, config = load_generator(model_dir, resolve_device(device))
    transformer = TableTransformer.load(model_dir / "transformer.json")
    rows = cfg.rows or config["rows"]
    chunks = sample_encoded(generator, shape, rows, seed, cfg.chunk_rows)
    synthetic = pd.concat([transformer.decode(chunk) for chunk in chunks], ignore_index=True)
    write_parquet(synthetic, out_path)
    return {"rows": len(synthetic)}


def run(params: Params) -> dict:
    if params.data.modality == "image":
        from tasks import images  # torch and Pillow load only for image runs

        return images.generate(params.paths.model, params.paths.synthetic, params.image, params.seed)
    return generate(params.paths.model, params.paths.synthetic, params.generate, params.seed, params.train.device)


generate_task = task(run, name="generate", cache_policy=NO_CACHE, persist_result=False)

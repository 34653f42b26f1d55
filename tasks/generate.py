"""Stage 4: sample rows from the trained model, streaming them chunk by chunk into one Parquet file."""

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from synthpipe.config import GenerateConfig, Params
from synthpipe.io import write_parquet_chunks
from synthpipe.synthesizer import TabularSynthesizer


def generate(model_dir: Path, out_path: Path, cfg: GenerateConfig, seed: int, device: str = "auto") -> dict:
    synthesizer = TabularSynthesizer.load(model_dir, device=device)
    rows = cfg.rows or synthesizer.info["rows"]
    written = write_parquet_chunks(synthesizer.sample_chunks(rows, seed=seed, chunk_rows=cfg.chunk_rows), out_path)
    return {"rows": written}


def run(params: Params) -> dict:
    if params.data.modality == "image":
        from tasks import images  # torch and Pillow load only for image runs

        return images.generate(params.paths.model, params.paths.synthetic, params.image, params.seed)
    return generate(params.paths.model, params.paths.synthetic, params.generate, params.seed, params.train.device)


generate_task = task(run, name="generate", cache_policy=NO_CACHE, persist_result=False)

"""Stage 4: sample rows from the trained model, streaming them chunk by chunk into one Parquet file.

With `generate.shards` > 1 the rows are drawn in shards: shard i samples its share of the rows with a seed
spawned from (seed, i), into a Parquet file of its own in a temporary directory beside the output; the shards
are then copied, row group by row group and in shard order, into the one output file, which appears atomically.
The plan depends only on rows, shards and seed, so the file is the same however the shards are run:
`synthpipe stage generate` (what dvc.yaml runs) draws them one after another in its own process; the refresh
flow maps `generate_shard_task` over them on a Dask cluster (`sharded_generate`).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE

from synthpipe.config import GenerateConfig, Params
from synthpipe.io import concat_parquet, temp_dir_beside, write_parquet_chunks
from synthpipe.synthesizer import TabularSynthesizer


@dataclass(frozen=True)
class Shard:
    index: int
    rows: int
    seed: int


def shard_plan(rows: int, shards: int, seed: int) -> list[Shard]:
    """Near-equal row counts (the first `rows % shards` shards get one more) and independent spawned seeds."""
    shards = min(shards, rows)
    seeds = [int(child.generate_state(1)[0]) for child in np.random.SeedSequence(seed).spawn(shards)]
    return [Shard(i, rows // shards + (i < rows % shards), seeds[i]) for i in range(shards)]


def generate_shard(model_dir: Path, shard_dir: Path, shard: Shard, chunk_rows: int, device: str = "auto") -> Path:
    """Sample one shard's rows into shard_dir/part-<index>.parquet; returns that path."""
    synthesizer = TabularSynthesizer.load(model_dir, device=device)
    path = Path(shard_dir) / f"part-{shard.index:05d}.parquet"
    write_parquet_chunks(synthesizer.sample_chunks(shard.rows, seed=shard.seed, chunk_rows=chunk_rows), path)
    return path


ShardRunner = Callable[[Path, Path, list[Shard], int, str], list[Path]]


def run_in_process(model_dir: Path, shard_dir: Path, plan: list[Shard], chunk_rows: int, device: str) -> list[Path]:
    return [generate_shard(model_dir, shard_dir, shard, chunk_rows, device) for shard in plan]


def generate(model_dir: Path, out_path: Path, cfg: GenerateConfig, seed: int, device: str = "auto",
             run_shards: ShardRunner = run_in_process) -> dict:
    synthesizer = TabularSynthesizer.load(model_dir, device=device)
    rows = cfg.rows or synthesizer.info["rows"]
    if cfg.shards == 1:
        written = write_parquet_chunks(synthesizer.sample_chunks(rows, seed=seed, chunk_rows=cfg.chunk_rows), out_path)
        return {"rows": written}
    plan = shard_plan(rows, cfg.shards, seed)
    # Beside the output: remote workers that see the project directory can write their shards there too.
    shard_dir = temp_dir_beside(out_path)
    try:
        files = run_shards(Path(model_dir).resolve(), shard_dir, plan, cfg.chunk_rows, device)
        written = concat_parquet(files, out_path)
    finally:
        shutil.rmtree(shard_dir, ignore_errors=True)
    if written != rows:
        raise RuntimeError(f"generate: the shards hold {written} rows, {rows} were planned")
    return {"rows": written, "shards": len(plan)}


def run(params: Params) -> dict:
    if params.data.modality == "image":
        from tasks import images  # torch and Pillow load only for image runs

        return images.generate(params.paths.model, params.paths.synthetic, params.image, params.seed)
    return generate(params.paths.model, params.paths.synthetic, params.generate, params.seed, params.train.device)


generate_task = task(run, name="generate", cache_policy=NO_CACHE, persist_result=False)
generate_shard_task = task(generate_shard, name="generate-shard", cache_policy=NO_CACHE, persist_result=False)


def dask_runner(cfg: GenerateConfig, processes: bool = True):
    """The Dask task runner for the shards: the scheduler at `dask_address`, or a local cluster of `workers`."""
    from prefect_dask import DaskTaskRunner

    if cfg.dask_address:
        return DaskTaskRunner(address=cfg.dask_address)
    return DaskTaskRunner(cluster_kwargs={"n_workers": cfg.workers, "threads_per_worker": 1, "processes": processes})


def run_on_task_runner(model_dir: Path, shard_dir: Path, plan: list[Shard], chunk_rows: int, device: str) -> list[Path]:
    """One generate-shard task per shard on the running flow's task runner, results in shard order."""
    futures = generate_shard_task.map(unmapped(model_dir), unmapped(shard_dir), plan, unmapped(chunk_rows),
                                      unmapped(device))
    return futures.result()


@flow(name="generate")
def sharded_generate(params: Params) -> dict:
    """The generate stage as a flow whose task runner draws the shards (see `dask_runner`)."""
    return generate(params.paths.model, params.paths.synthetic, params.generate, params.seed, params.train.device,
                    run_shards=run_on_task_runner)


def generate_in_flow(params: Params, processes: bool = True) -> dict:
    """What the refresh flow runs for this stage: the task, or with several shards the flow on Dask."""
    if params.data.modality == "image" or params.generate.shards == 1:
        return generate_task(params)
    return sharded_generate.with_options(task_runner=dask_runner(params.generate, processes))(params)

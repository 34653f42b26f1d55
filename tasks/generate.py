"""Stage 4: sample synthetic data from the trained model into one Parquet file.

With `generate.shards` > 1 (tables) the refresh flow maps `generate_shard_task` over the shards on a Dask
cluster; `synthpipe stage generate` draws the same shards in its own process and writes the same file.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE

from synthpipe.config import GenerateConfig, Params
from synthpipe.stages import run_stage, sharded
from synthpipe.tabular.stages import Shard, generate, generate_shard, rows_to_draw


def run(params: Params) -> dict:
    return run_stage("generate", params)


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
                    run_shards=run_on_task_runner, rows=rows_to_draw(params))


def generate_in_flow(params: Params, processes: bool = True) -> dict:
    """What the refresh flow runs for this stage: the task, or with several shards the flow on Dask."""
    if not sharded(params):
        return generate_task(params)
    return sharded_generate.with_options(task_runner=dask_runner(params.generate, processes))(params)

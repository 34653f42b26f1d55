"""Stage 1: read the configured source into data/raw as Parquet (see the modality's stages module)."""

from prefect import task
from prefect.cache_policies import NO_CACHE

from synthpipe.config import Params
from synthpipe.stages import run_stage


def run(params: Params) -> dict:
    return run_stage("ingest", params)


# DVC decides what is up to date, so Prefect's own result cache stays off.
ingest_task = task(run, name="ingest", cache_policy=NO_CACHE, persist_result=False)

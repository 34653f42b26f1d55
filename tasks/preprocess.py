"""Stage 2: split the real rows into train and holdout (the model is fitted on train only)."""

from prefect import task
from prefect.cache_policies import NO_CACHE

from synthpipe.config import Params
from synthpipe.stages import run_stage


def run(params: Params) -> dict:
    return run_stage("preprocess", params)


# DVC decides what is up to date, so Prefect's own result cache stays off.
preprocess_task = task(run, name="preprocess", cache_policy=NO_CACHE, persist_result=False)

"""Stage 6: real train rows, unchanged, plus the synthetic rows the gate accepted."""

from prefect import task
from prefect.cache_policies import NO_CACHE

from synthpipe.config import Params
from synthpipe.stages import run_stage


def run(params: Params) -> dict:
    return run_stage("merge", params)


# DVC decides what is up to date, so Prefect's own result cache stays off.
merge_task = task(run, name="merge", cache_policy=NO_CACHE, persist_result=False)

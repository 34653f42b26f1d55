"""Stage 3: fit the modality's generator on the real train split (on the GPU when there is one)."""

from prefect import task
from prefect.cache_policies import NO_CACHE

from synthpipe.config import Params
from synthpipe.stages import run_stage


def run(params: Params) -> dict:
    return run_stage("train", params)


# The tag lets a Prefect concurrency limit make training runs wait for each other (one GPU, one run).
TRAIN_TAG = "synthpipe-train"
train_task = task(run, name="train", tags=[TRAIN_TAG], cache_policy=NO_CACHE, persist_result=False)

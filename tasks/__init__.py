"""The six pipeline stages as Prefect tasks. Each module wraps `synthpipe.stages.run_stage` for its stage, the same
call `synthpipe stage NAME` (what dvc.yaml runs) makes, so every way of running the pipeline runs the same code."""

"""Stage 6: real train rows, unchanged, plus accepted synthetic rows; the holdout beside them, untouched."""

import shutil
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from synthpipe.config import MergeConfig, Params
from synthpipe.errors import GateFailed
from synthpipe.io import atomic_dir, file_hash, read_json, read_table, write_json, write_parquet
from synthpipe.merge import merge_real_and_synthetic


def merge(prepared_dir: Path, synthetic_path: Path, quality_path: Path, model_dir: Path, out_dir: Path, cfg: MergeConfig) -> dict:
    quality = read_json(quality_path)
    if not quality.get("passed"):
        raise GateFailed(quality.get("reasons") or [f"{quality_path} does not record a passed gate"])
    run_id = read_json(model_dir / "config.json")["run_id"]
    real = read_table(prepared_dir / "train.parquet")
    merged, counts = merge_real_and_synthetic(real, read_table(synthetic_path), cfg.synthetic_ratio, run_id)
    inputs = {"train": prepared_dir / "train.parquet", "holdout": prepared_dir / "holdout.parquet",
              "synthetic": synthetic_path}
    with atomic_dir(out_dir) as tmp:
        write_parquet(merged, tmp / "train.parquet")
        shutil.copyfile(inputs["holdout"], tmp / "holdout.parquet")
        manifest = {
            "generator_run": run_id,
            "rows": counts,
            "inputs": {name: {"path": str(path), "sha256": file_hash(path)} for name, path in inputs.items()},
            "outputs": {name: {"path": str(out_dir / name), "sha256": file_hash(tmp / name)}
                        for name in ("train.parquet", "holdout.parquet")},
        }
        write_json(manifest, tmp / "manifest.json")
    return counts


def run(params: Params) -> dict:
    paths = params.paths
    return merge(paths.prepared, paths.synthetic, paths.quality, paths.model, paths.merged, params.merge)


merge_task = task(run, name="merge", cache_policy=NO_CACHE, persist_result=False)

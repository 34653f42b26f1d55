"""Stage 6: real train rows, unchanged, plus accepted synthetic rows; the holdout beside them, untouched."""

import shutil
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from synthpipe.config import MergeConfig, Params
from synthpipe.errors import GateFailed
from synthpipe.io import atomic_dir, file_hash, read_json, read_table, write_json, write_parquet
from synthpipe.merge import merge_real_and_synthetic


def merge(prepared_dir: Path, synthetic_path: Path, quality_path: Path, model_dir: Path, out_dir: Path, cfg: MergeConfig,
          target: str | None = None) -> dict:
    require_passed_gate(quality_path, synthetic_path)
    run_id = read_json(model_dir / "config.json")["run_id"]
    real = read_table(prepared_dir / "train.parquet")
    merged, counts, policy = merge_real_and_synthetic(real, read_table(synthetic_path), cfg, target, run_id)
    inputs = {"train": prepared_dir / "train.parquet", "holdout": prepared_dir / "holdout.parquet",
              "synthetic": synthetic_path}
    with atomic_dir(out_dir) as tmp:
        write_parquet(merged, tmp / "train.parquet")
        shutil.copyfile(inputs["holdout"], tmp / "holdout.parquet")
        manifest = {
            "generator_run": run_id,
            "rows": counts,
            "policy": policy,
            "inputs": {name: {"path": str(path), "sha256": file_hash(path)} for name, path in inputs.items()},
            "outputs": {name: {"path": str(out_dir / name), "sha256": file_hash(tmp / name)}
                        for name in ("train.parquet", "holdout.parquet")},
        }
        write_json(manifest, tmp / "manifest.json")
    return counts


def require_passed_gate(quality_path: Path, synthetic_path: Path) -> None:
    """Merge only synthetic data that passed the gate: the verdict must be a pass, and for this very file.

    Together with the all-or-nothing directory write below, this is the merge's transaction: the stage
    is the only writer of data/merged, so a failed gate (or synthetic data regenerated since the gate ran)
    leaves data/merged exactly as the last accepted merge left it, whether Prefect or DVC runs the stages.
    """
    quality = read_json(quality_path)
    if not quality.get("passed"):
        raise GateFailed(quality.get("reasons") or [f"{quality_path} does not record a passed gate"])
    judged = quality.get("inputs", {}).get("synthetic", {}).get("sha256")
    if judged != file_hash(synthetic_path):
        raise GateFailed([f"{synthetic_path} is not the synthetic data {quality_path} passed (its content hash "
                          "differs): run the validate stage on it first"])


def run(params: Params) -> dict:
    paths = params.paths
    return merge(paths.prepared, paths.synthetic, paths.quality, paths.model, paths.merged, params.merge,
                 params.data.target)


merge_task = task(run, name="merge", cache_policy=NO_CACHE, persist_result=False)

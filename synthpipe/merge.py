"""Merge: every real train row, unchanged, plus accepted synthetic rows, with provenance."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from synthpipe.config import MergeConfig
from synthpipe.errors import GateFailed, InputError
from synthpipe.gate.curation import consistent_first
from synthpipe.gate.privacy import copy_mask
from synthpipe.io import atomic_dir, file_hash, read_json, read_table, write_json, write_parquet

PROVENANCE_COLUMNS = ("is_synthetic", "generator_run")


def merge_real_and_synthetic(real: pd.DataFrame, synthetic: pd.DataFrame, cfg: MergeConfig, target: str | None,
                             run_id: str, seed: int = 0) -> tuple[pd.DataFrame, dict, dict]:
    """Every real row, unchanged, plus the synthetic rows the policy selects, none an exact copy of a real row.

    Returns the merged table, row counts, and the policy's record (what it asked for and any shortfall).
    """
    clash = [name for name in PROVENANCE_COLUMNS if name in real.columns]
    if clash:
        raise InputError(f"real data already has provenance column(s) {clash}; rename them before merging")
    if list(synthetic.columns) != list(real.columns):
        raise InputError(f"synthetic columns {list(synthetic.columns)} do not match real columns {list(real.columns)}")
    synthetic = _with_dtypes_of(real, synthetic)
    copies = copy_mask(synthetic, real)
    accepted, policy = select_synthetic(real, synthetic[~copies], cfg, target, seed=seed)
    merged = pd.concat(
        [real.assign(is_synthetic=False, generator_run=None), accepted.assign(is_synthetic=True, generator_run=run_id)],
        ignore_index=True,
    )
    merged["generator_run"] = merged["generator_run"].astype("string")
    counts = {"real": len(real), "synthetic": len(accepted), "synthetic_offered": len(synthetic),
              "exact_copies_dropped": int(copies.sum()), "total": len(merged)}
    return merged, counts, policy


def select_synthetic(real: pd.DataFrame, pool: pd.DataFrame, cfg: MergeConfig, target: str | None,
                     scale: float = 1.0, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """The synthetic rows the merge policy adds to `real`, taken from the top of `pool`.

    ratio: `synthetic_ratio` rows per real row. size: enough rows to reach `target_rows` in all (times
    `scale`, the share of the real rows in use, for the augmentation curve). balance: for every class of
    `target`, rows of that class until it has as many rows as the majority class; a class the pool holds too
    few rows of gets what there is, and the shortfall is recorded. With a target and `curation_factor` > 1 the
    pool is first put in curation's order (synthpipe.gate.curation, judged against `real`), else taken as drawn.
    """
    wanted = policy_demand(real, cfg, target, scale)
    curated = cfg.curation_factor > 1 and target is not None and target in pool.columns
    if curated:
        pool = consistent_first(real, pool, target, seed)
    record = {"policy": cfg.policy, "curated": curated}
    if cfg.policy == "ratio":
        return pool.head(wanted), record | {"ratio": cfg.synthetic_ratio}
    if cfg.policy == "size":
        return pool.head(wanted), record | {"target_rows": cfg.target_rows, "wanted": wanted}
    offered = pool[target].astype(object)
    picked, shortfall = [], {}
    for label, need in wanted.items():
        if need == 0:
            continue
        rows = pool[(offered == label).to_numpy()].head(need)
        picked.append(rows)
        if len(rows) < need:
            shortfall[str(label)] = int(need - len(rows))
    chosen = pd.concat(picked) if picked else pool.head(0)
    return chosen, record | {"target": target, "wanted": {str(k): v for k, v in wanted.items()},
                             "shortfall": shortfall}


def policy_demand(real: pd.DataFrame, cfg: MergeConfig, target: str | None, scale: float = 1.0) -> int | dict:
    """How many synthetic rows the policy asks for: a count (ratio, size), or rows per class (balance)."""
    if cfg.policy == "ratio":
        return int(round(cfg.synthetic_ratio * len(real)))
    if cfg.policy == "size":
        return max(0, int(round(cfg.target_rows * scale)) - len(real))
    if target is None or target not in real.columns:
        raise InputError(f"merge.policy 'balance' needs the target column, and the data has no column {target!r}")
    counts = real[target].astype(object).value_counts()
    return {label: int(counts.max() - count) for label, count in counts.items()}


def pool_rows(labels: pd.Series, cfg: MergeConfig, max_balance_factor: float, curate: bool) -> int:
    """Rows one draw needs for the policy to find its rows in it, given the real train rows' target `labels` (any
    column when there is no target): at least the train rows, the policy's count when it asks for more, and under
    balance enough for the rarest class (balance_pool_rows); times `curation_factor` when curation has a target
    to judge by, so that enough consistent rows are left once merge puts them first."""
    rows = len(labels)
    if cfg.policy == "balance":
        base = balance_pool_rows(labels, max_balance_factor)
    else:
        asked = cfg.synthetic_ratio * rows if cfg.policy == "ratio" else cfg.target_rows - rows
        base = max(rows, math.ceil(asked))
    return math.ceil(base * (cfg.curation_factor if curate else 1.0))


def balance_pool_rows(labels: pd.Series, max_factor: float) -> int:
    """Rows an unconditioned draw needs for `balance` to find each class's top-up in it. A class with share p of
    the rows that needs k more gets about p x rows of the draw: rows = (k + 3 sqrt(k)) / p leaves three binomial
    standard deviations to spare. At least as many rows as `labels`, at most `max_factor` times as many."""
    counts = labels.astype(object).value_counts()
    if counts.empty:
        return len(labels)
    need = (counts.max() - counts).to_numpy(float)
    wanted = float(np.max((need + 3 * np.sqrt(need)) * len(labels) / counts.to_numpy(float)))
    return int(min(max(len(labels), math.ceil(wanted)), max_factor * len(labels)))


def _with_dtypes_of(real: pd.DataFrame, synthetic: pd.DataFrame) -> pd.DataFrame:
    """Cast synthetic columns to the real dtypes, so concatenation never changes a real column's dtype."""
    for name in real.columns:
        if synthetic[name].dtype != real[name].dtype:
            try:
                synthetic = synthetic.assign(**{name: synthetic[name].astype(real[name].dtype)})
            except (TypeError, ValueError) as exc:
                raise InputError(f"synthetic column '{name}' cannot take the real dtype {real[name].dtype}: "
                                 f"{exc}") from None
    return synthetic


def merge(prepared_dir: Path, synthetic_path: Path, quality_path: Path, model_dir: Path, out_dir: Path,
          cfg: MergeConfig, target: str | None = None, seed: int = 0) -> dict:
    require_passed_gate(quality_path, synthetic_path)
    run_id = read_json(model_dir / "config.json")["run_id"]
    real = read_table(prepared_dir / "train.parquet")
    merged, counts, policy = merge_real_and_synthetic(real, read_table(synthetic_path), cfg, target, run_id, seed)
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

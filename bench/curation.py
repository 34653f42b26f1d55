"""Curation benchmark: what merge.curation_factor changes, one generator family at a time, with more seeds.

For each real table (bench/scarcity.py's eight), the real rows are split 80/20 as there. At 10% of the train rows
(--seeds seeded stratified subsets) the family is fitted on the subset alone (--budget seconds), draws
`curation_factor` times the rows the ratio policy adds, and merge's own selection (synthpipe.merge.select_synthetic)
picks them with and without curation; a gradient-boosting model trained on subset + picked rows is scored on the
real holdout against the subset alone. On all train rows, the detection AUC (the gate's classifier, real train
rows against the rows merge would add) is measured for both selections, from one fit.

    OMP_NUM_THREADS=1 python bench/curation.py --family copula [--tables fair wine] [--seeds 8] [--budget 15]

Prints one line per table and writes bench/results/curation-<family>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from scarcity import MODEL_ITERATIONS, SEED, TABLES, load  # noqa: E402

from synthpipe.config import MergeConfig, TrainConfig  # noqa: E402
from synthpipe.gate.evaluation import Scorer, detection, task_for  # noqa: E402
from synthpipe.gate.features import FeatureSpace  # noqa: E402
from synthpipe.gate.privacy import copy_mask  # noqa: E402
from synthpipe.gate.quality import refitter  # noqa: E402
from synthpipe.gate.scarcity import subsample  # noqa: E402
from synthpipe.io import write_json  # noqa: E402
from synthpipe.merge import select_synthetic  # noqa: E402
from synthpipe.schema import infer_kinds  # noqa: E402
from synthpipe.split import split_train_holdout  # noqa: E402

CURATED = MergeConfig()
AS_DRAWN = CURATED.model_copy(update={"curation_factor": 1.0})
DETECTION_FOLDS = 3


def run_table(name: str, family: str, seeds: int, budget: float) -> dict:
    df, target = load(name)
    kinds = infer_kinds(df)
    task = task_for(df[target], kinds[target])
    train, holdout = split_train_holdout(df, target, 0.2, stratify=task == "classification", seed=SEED)
    train, holdout = train.reset_index(drop=True), holdout.reset_index(drop=True)
    scorer = Scorer(holdout, target, task, FeatureSpace.fit(train, kinds, exclude=(target,)), MODEL_ITERATIONS)
    refit = refitter(TrainConfig(model=family, cpu_threads=1, device="cpu"), target, budget,
                     CURATED.curation_factor)
    gains = {"as_drawn": [], "curated": []}
    for i in range(seeds):
        subset = subsample(train, 0.1, target if task == "classification" else None, SEED + i)
        drawn, _ = refit(subset, len(subset), SEED + i)
        pool = drawn[~copy_mask(drawn, subset)] if len(drawn) else drawn
        real = scorer.score(subset, SEED + i)
        for arm, merge in (("as_drawn", AS_DRAWN), ("curated", CURATED)):
            added, _ = select_synthetic(subset, pool, merge, target, seed=SEED + i)
            gains[arm].append(scorer.score(pd.concat([subset, added[list(subset.columns)]], ignore_index=True),
                                           SEED + i) - real)
    drawn, _ = refit(train, len(train), SEED)
    pool = drawn[~copy_mask(drawn, train)]
    space = FeatureSpace.fit(train, kinds)
    auc = {}
    for arm, merge in (("as_drawn", AS_DRAWN), ("curated", CURATED)):
        added, _ = select_synthetic(train, pool, merge, target, seed=SEED)
        auc[arm] = detection(train, added, space, len(train), DETECTION_FOLDS, SEED, MODEL_ITERATIONS)["auc"]
    return {"gain_at_10": {arm: {"mean": float(np.mean(g)), "sem": float(np.std(g) / np.sqrt(len(g))),
                                 "per_seed": [float(x) for x in g]} for arm, g in gains.items()},
            "detection_auc": auc}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--family", default="copula")
    parser.add_argument("--tables", nargs="+", choices=TABLES, default=TABLES)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--budget", type=float, default=15.0, help="seconds per fit")
    args = parser.parse_args()
    out = ROOT / "bench" / "results" / f"curation-{args.family}.json"
    results = {"meta": {"date": time.strftime("%Y-%m-%d"), "family": args.family, "seeds": args.seeds,
                        "budget": args.budget, "curation_factor": CURATED.curation_factor}, "tables": {}}
    with threadpool_limits(1):
        for name in args.tables:
            r = results["tables"][name] = run_table(name, args.family, args.seeds, args.budget)
            g, a = r["gain_at_10"], r["detection_auc"]
            print(f"{name} {args.family}: gain at 10% as drawn {g['as_drawn']['mean']:+.3f} ± "
                  f"{g['as_drawn']['sem']:.3f}, curated {g['curated']['mean']:+.3f} ± {g['curated']['sem']:.3f}; "
                  f"detection AUC as drawn {a['as_drawn']:.3f}, curated {a['curated']:.3f}", flush=True)
            write_json(results, out)
    print(json.dumps(results["meta"]))


if __name__ == "__main__":
    main()

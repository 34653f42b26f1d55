"""Curation benchmark: what merge.curation_factor changes, one generator family at a time, with more seeds.

For each real table (bench/scarcity.py's eight), the real rows are split 80/20 as there. At 10% of the train rows
(--seeds seeded stratified subsets) the family is fitted on the subset alone (--budget seconds), draws
`curation_factor` times the rows the ratio policy adds, and merge's own selection (synthpipe.merge.select_synthetic)
picks them with and without curation; a gradient-boosting model trained on subset + picked rows is scored on the
real holdout against the subset alone. On all train rows, the detection AUC (the gate's classifier, real train
rows against the rows merge would add) is measured for both selections, from one fit.

    OMP_NUM_THREADS=1 python bench/curation.py --family copula [--tables fair wine] [--seeds 8] [--budget 15]

    python bench/curation.py --report   # re-render BENCHMARKS.md from every family's saved results

Prints one line per table, writes bench/results/curation-<family>.json and a section of BENCHMARKS.md.
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

from scarcity import MODEL_ITERATIONS, SEED, TABLES, split  # noqa: E402

from synthpipe.config import MergeConfig, TrainConfig  # noqa: E402
from synthpipe.gate.evaluation import detection  # noqa: E402
from synthpipe.gate.features import FeatureSpace  # noqa: E402
from synthpipe.gate.privacy import copy_mask  # noqa: E402
from synthpipe.gate.quality import refitter  # noqa: E402
from synthpipe.gate.scarcity import subsample  # noqa: E402
from synthpipe.io import atomic_path, write_json  # noqa: E402
from synthpipe.merge import select_synthetic  # noqa: E402

CURATED = MergeConfig()
AS_DRAWN = CURATED.model_copy(update={"curation_factor": 1.0})
DETECTION_FOLDS = 3
BENCHMARKS = ROOT / "BENCHMARKS.md"
START, END = "<!-- curation:start -->", "<!-- curation:end -->"


def run_table(name: str, family: str, seeds: int, budget: float) -> dict:
    table = split(name)
    target, task, train, scorer = table.target, table.task, table.train, table.scorer
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
    space = FeatureSpace.fit(train, table.kinds)
    auc = {}
    for arm, merge in (("as_drawn", AS_DRAWN), ("curated", CURATED)):
        added, _ = select_synthetic(train, pool, merge, target, seed=SEED)
        auc[arm] = detection(train, added, space, len(train), DETECTION_FOLDS, SEED, MODEL_ITERATIONS)["auc"]
    # The floor: the same procedure on real rows against other real rows (half the train rows each).
    auc["real_floor"] = detection(train.iloc[::2], train.iloc[1::2], space, len(train), DETECTION_FOLDS, SEED,
                                  MODEL_ITERATIONS)["auc"]
    return {"gain_at_10": {arm: {"mean": float(np.mean(g)), "sem": float(np.std(g) / np.sqrt(len(g))),
                                 "per_seed": [float(x) for x in g]} for arm, g in gains.items()},
            "detection_auc": auc}


def render() -> str:
    runs = [json.loads(path.read_text()) for path in sorted((ROOT / "bench" / "results").glob("curation-*.json"))]
    lines = [START, "| table | family | gain at 10%, as drawn | gain at 10%, curated | detection AUC, as drawn | "
             "detection AUC, curated | real vs real |", "|---|---|---|---|---|---|---|"]
    for run in runs:
        for name, t in run["tables"].items():
            g, a = t["gain_at_10"], t["detection_auc"]
            cells = [f"{g[arm]['mean']:+.3f} ± {g[arm]['sem']:.3f}" for arm in ("as_drawn", "curated")]
            cells += [f"{a[arm]:.3f}" for arm in ("as_drawn", "curated", "real_floor")]
            lines.append(f"| {name} | {run['meta']['family']} | " + " | ".join(cells) + " |")
    meta = ", ".join(f"{r['meta']['family']}: {r['meta']['date']}, {r['meta']['seeds']} seeds, "
                     f"{r['meta']['budget']:g} s a fit" for r in runs)
    lines += ["", f"`bench/curation.py` ({meta}; gain: mean ± standard error over the seeds; detection: one fit on "
              f"all train rows, {DETECTION_FOLDS} folds, the rows merge would add against the real train rows; "
              "real vs real: one half of the train rows against the other, the same procedure).", END]
    return "\n".join(lines)


def write_benchmarks() -> None:
    text = BENCHMARKS.read_text(encoding="utf-8")
    text = text[: text.index(START)] + render() + text[text.index(END) + len(END):]
    with atomic_path(BENCHMARKS) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--family", default="copula")
    parser.add_argument("--tables", nargs="+", choices=TABLES, default=TABLES)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--budget", type=float, default=15.0, help="seconds per fit")
    parser.add_argument("--report", action="store_true", help="only re-render BENCHMARKS.md from saved results")
    args = parser.parse_args()
    if args.report:
        write_benchmarks()
        return
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
    write_benchmarks()


if __name__ == "__main__":
    main()

"""The GAN and the VAE trained by optimiser steps: train.min_steps swept across tables (project environment).

    OMP_NUM_THREADS=1 .venv/bin/python bench/gan_steps.py penguins breast_cancer --min-steps 0 1000 3000 --seeds 0 1
    OMP_NUM_THREADS=1 .venv/bin/python bench/gan_steps.py --markdown

Tables, split and measures are bench/neural.py's (a seeded 80/20 split into real train and holdout rows): for each
family, min_steps and seed, with the default TrainConfig otherwise, auto's held-out score (the family fitted on 80%
of the train rows, scored on the rest) and a full fit on the train rows, which gives detection ROC AUC against the
holdout rows, mean column shape and pair trend against the train rows, TSTR on the holdout, the optimiser steps run
and fit seconds (kept in the JSON). Results go to bench/work/gan_steps/<table>.json, one entry per family,
min_steps and seed (saved after each); a cell already there is not run again. `--markdown` prints the table.
"""

import argparse
import json
import time

import numpy as np
from neural import CLASSIFIED, HERE, SEED, TARGETS, cpu, load
from threadpoolctl import threadpool_limits

from synthpipe.config import TrainConfig
from synthpipe.gate.evaluation import Scorer, detection, task_for
from synthpipe.gate.features import FeatureSpace
from synthpipe.gate.metrics import column_shapes
from synthpipe.schema import infer_kinds
from synthpipe.split import split_train_holdout
from synthpipe.tabular.scoring import pair_trends, score
from synthpipe.tabular.synthesizer import SCORING_ROWS, _sample, _validation_split, fit_family

OUT = HERE / "work" / "gan_steps"
FAMILIES = ("gan", "vae")


def measure(table: str, wheel: str | None, min_steps: list[int], seeds: list[int]) -> None:
    df, target = load(table, wheel), TARGETS[table]
    train, holdout = split_train_holdout(df, target, 0.2, stratify=table in CLASSIFIED, seed=SEED)
    kinds = infer_kinds(train)
    space = FeatureSpace.fit(train, kinds)
    scorer = Scorer(holdout, target, task_for(holdout[target], kinds[target]),
                    FeatureSpace.fit(train, kinds, exclude=(target,)), 50)
    with threadpool_limits(1):
        floor, trtr = detection(holdout, train, space, 5000, 3, SEED, 50)["auc"], scorer.score(train, SEED)
    path = OUT / f"{table}.json"
    result = json.loads(path.read_text()) if path.exists() else {
        "table": table, "train_rows": len(train), "holdout_rows": len(holdout), "cells": {}}
    result.update(floor=floor, trtr=trtr)
    fit_part, held_out = _validation_split(train, target, TrainConfig().validation_fraction, SEED)
    for family in FAMILIES:
        for steps in min_steps:
            for seed in seeds:
                key = f"{family} {steps} {seed}"
                if key in result["cells"]:
                    continue
                cfg = TrainConfig(min_steps=steps)
                started = time.perf_counter()
                candidate = fit_family(family, fit_part, target, cfg, seed, cpu())
                candidate_seconds = time.perf_counter() - started
                auto = score(held_out, _sample(candidate, max(len(held_out), SCORING_ROWS), {}, seed), target)
                started = time.perf_counter()
                model = fit_family(family, train, target, cfg, seed, cpu())
                fit_seconds = time.perf_counter() - started
                synthetic = _sample(model, len(train), {}, seed)
                with threadpool_limits(1):
                    found, tstr = detection(holdout, synthetic, space, 5000, 3, seed, 50), scorer.score(synthetic, seed)
                result["cells"][key] = {
                    "family": family, "min_steps": steps, "seed": seed, "auto_score": auto["score"],
                    "candidate_steps": sum(r["steps"] for r in candidate.history if "event" not in r),
                    "candidate_seconds": candidate_seconds, "detection": found["auc"],
                    "shapes": float(np.mean(list(column_shapes(train, synthetic, kinds).values()))),
                    "pairs": pair_trends(train, synthetic, kinds), "tstr": tstr,
                    "steps": sum(r["steps"] for r in model.history if "event" not in r), "fit_seconds": fit_seconds}
                print(table, key, json.dumps(result["cells"][key], default=float), flush=True)
                path.write_text(json.dumps(result, indent=1, default=float))


def markdown() -> str:
    """One row per table, family and min_steps: the mean over seeds (the seeds' spread in brackets). Fit seconds
    stay in the JSON: runs that shared the machine with other work are not comparable."""
    lines = ["| table (train rows) | family | min_steps | steps (candidate / full) | auto's held-out score | "
             "detection AUC (real floor) | column shape | pair trend | TSTR (TRTR) | seeds |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for path in sorted(OUT.glob("*.json")):
        r = json.loads(path.read_text())
        groups: dict[tuple, list[dict]] = {}
        for cell in r["cells"].values():
            groups.setdefault((cell["family"], cell["min_steps"]), []).append(cell)
        for (family, steps), cells in sorted(groups.items()):
            def mean(key: str, cells: list[dict] = cells) -> str:
                values = [c[key] for c in cells]
                spread = f" ({min(values):.3f}–{max(values):.3f})" if len(values) > 1 else ""
                return f"{np.mean(values):.3f}{spread}"
            first = cells[0]
            lines.append(f"| {r['table']} ({r['train_rows']}) | {family} | {steps} | "
                         f"{first['candidate_steps']:,} / {first['steps']:,} | {mean('auto_score')} | "
                         f"{mean('detection')} ({r['floor']:.3f}) | {mean('shapes')} | {mean('pairs')} | "
                         f"{mean('tstr')} ({r['trtr']:.3f}) | {len(cells)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tables", nargs="*", help=f"any of {list(TARGETS)}")
    parser.add_argument("--plotnine-wheel")
    parser.add_argument("--min-steps", nargs="+", type=int, default=[0, 1000, 3000])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for table in args.tables:
        measure(table, args.plotnine_wheel, args.min_steps, args.seeds)
    if args.markdown:
        print(markdown())


if __name__ == "__main__":
    main()

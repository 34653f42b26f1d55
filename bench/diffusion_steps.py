"""The diffusion model's sampling steps against quality, in the project's .venv.

    OMP_NUM_THREADS=1 .venv/bin/python bench/diffusion_steps.py [--tables penguins,breast_cancer,fair]
        [--steps 5,10,20] [--fits 2] [--draws 3]

Per table: a seeded, stratified 80/20 split into train and holdout rows; `--fits` diffusion models with the default
TrainConfig fitted on the train rows (seeds 0, 1, ...); from each, `--draws` seeded samples of as many rows as
train rows at every step count, scored against the holdout rows by auto's own score (synthpipe.tabular.scoring:
detection AUC, quality = mean of column shapes and pair trends, utility = TSTR) and timed (rows/s of one
100,000-row chunk, one thread). The same fitted weights serve every step count, so the differences between step
counts are the sampler's; the spread over fits and draws is the noise to read them against. The train rows
scored the same way give the floor.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch
from prepare import load

from synthpipe.config import TrainConfig
from synthpipe.split import split_train_holdout
from synthpipe.tabular.scoring import score
from synthpipe.tabular.synthesizer import _sample, fit_family

TARGETS = {"penguins": "species", "breast_cancer": "diagnosis", "fair": "affair"}
MEASURES = ("detection", "quality", "utility", "score")
SPEED_ROWS = 100_000


def measure(table: str, steps: list[int], fits: int, draws: int) -> pd.DataFrame:
    target = TARGETS[table]
    train, holdout = split_train_holdout(load(table), target, 0.2, stratify=True, seed=0)
    records = [{"steps": "real train rows", **{k: score(holdout, train, target)[k] for k in MEASURES}}]
    for fit in range(fits):
        model = fit_family("diffusion", train, target, TrainConfig(), fit, torch.device("cpu"))
        for count in steps:
            model.sampling_steps = count
            started = time.perf_counter()
            _sample(model, SPEED_ROWS, {}, seed=0)
            speed = SPEED_ROWS / (time.perf_counter() - started)
            for draw in range(draws):
                found = score(holdout, _sample(model, len(train), {}, seed=draw), target)
                records.append({"steps": count, "rows_per_s": speed, **{k: found[k] for k in MEASURES}})
    return pd.DataFrame(records)


def summary(table: str, records: pd.DataFrame) -> list[str]:
    lines = []
    for count, group in records.groupby("steps", sort=False):
        cells = [f"{group[k].mean():.3f} ± {group[k].std(ddof=1) if len(group) > 1 else 0:.3f}" for k in MEASURES]
        speed = f"{group['rows_per_s'].max():,.0f}" if "rows_per_s" in group and group["rows_per_s"].notna().any() \
            else "-"
        lines.append(f"| {table} | {count} | {' | '.join(cells)} | {speed} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", default=",".join(TARGETS))
    parser.add_argument("--steps", default="5,10,20")
    parser.add_argument("--fits", type=int, default=2)
    parser.add_argument("--draws", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| table | steps | detection AUC | quality | utility (TSTR) | score | rows/s |")
    print("|---|---|---|---|---|---|---|")
    for table in args.tables.split(","):
        records = measure(table, [int(s) for s in args.steps.split(",")], args.fits, args.draws)
        print("\n".join(summary(table, records)), flush=True)


if __name__ == "__main__":
    main()

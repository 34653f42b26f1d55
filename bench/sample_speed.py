"""Sampling throughput of each model family, in the project's .venv: rows/s when drawing 1,000,000 rows.

    OMP_NUM_THREADS=1 .venv/bin/python bench/sample_speed.py [--rows N] [--repeats R] [--families F,...]
        [--sampling-steps S] [--profile TABLE:FAMILY]

Tables: penguins and breast_cancer (shipped in palmerpenguins and scikit-learn), plus fair and diamonds when
`make bench` has written their splits to bench/work/data. The copula is the model `model="auto"` chose on all
four (BENCHMARKS.md); the GAN and VAE are fitted for a few epochs only and the diffusion model for a few hundred
optimiser steps (`--families diffusion`, `--sampling-steps` for its denoising steps) — their sampling cost does not
depend on how long they trained. Each figure is the best of `--repeats` runs (the machine is shared: the best is the
least disturbed). `--profile` prints the top of a cProfile of one run instead.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import numpy as np
import pandas as pd
import torch
from common import split_dir

from synthpipe.config import TrainConfig
from synthpipe.device import compute_dtype
from synthpipe.tabular.synthesizer import TabularSynthesizer

NEURAL_EPOCHS = 5
DIFFUSION_FIT_STEPS = 300


def tables() -> dict[str, tuple[pd.DataFrame, str]]:
    import palmerpenguins
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    cancer = data.frame.drop(columns="target").assign(
        diagnosis=np.asarray(data.target_names, dtype=object)[data.target])
    found = {"penguins": (palmerpenguins.load_penguins(), "species"), "breast_cancer": (cancer, "diagnosis")}
    for table, target in (("fair", "affair"), ("diamonds", "price")):
        path = split_dir(table) / "train.parquet"
        if path.exists():
            found[table] = (pd.read_parquet(path), target)
    return found


def fitted(df: pd.DataFrame, target: str, family: str, sampling_steps: int) -> TabularSynthesizer:
    epochs = NEURAL_EPOCHS if family != "copula" else 1
    return TabularSynthesizer(model=family, epochs=epochs, diffusion_steps=DIFFUSION_FIT_STEPS,
                              sampling_steps=sampling_steps, seed=0, device="cpu").fit(df, target=target)


def rows_per_s(synthesizer: TabularSynthesizer, rows: int, repeats: int) -> float:
    best = float("inf")
    for repeat in range(repeats):
        started = time.perf_counter()
        drawn = sum(len(chunk) for chunk in synthesizer.sample_chunks(rows, seed=repeat))
        best = min(best, time.perf_counter() - started)
        assert drawn == rows
    return rows / best


def matrix_rate() -> float:
    """This machine's speed now, in billions of multiply-adds a second: the diffusion sampler's largest product
    (8,192 rows through a 256 x 256 layer) in its compute format, best of 20. The shared machine runs the same
    code up to twice as fast at one hour as at another: rows/s are comparable only beside this figure."""
    dtype = compute_dtype(torch.device("cpu"))
    rows, weight = torch.randn(8192, 256).to(dtype), torch.randn(256, 256).to(dtype)
    best = float("inf")
    for _ in range(20):
        started = time.perf_counter()
        torch.nn.functional.linear(rows, weight)
        best = min(best, time.perf_counter() - started)
    return 8192 * 256 * 256 / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--families", default="copula,gan,vae")
    parser.add_argument("--sampling-steps", type=int, default=TrainConfig().sampling_steps)
    parser.add_argument("--profile", metavar="TABLE:FAMILY")
    args = parser.parse_args()
    found = tables()
    if args.profile:
        table, family = args.profile.split(":")
        synthesizer = fitted(*found[table], family, args.sampling_steps)
        cProfile.runctx("sum(len(c) for c in synthesizer.sample_chunks(args.rows))", globals(), locals(),
                        "/tmp/sample.prof")
        pstats.Stats("/tmp/sample.prof").sort_stats("tottime").print_stats(25)
        return
    print(f"Machine: {matrix_rate():.0f} G multiply-adds/s on {torch.get_num_threads()} thread(s), "
          f"{compute_dtype(torch.device('cpu'))} (the sampler's 256 x 256 product)\n")
    print("| table | family | rows/s |\n|---|---|---|")
    for table, (df, target) in found.items():
        for family in args.families.split(","):
            speed = rows_per_s(fitted(df, target, family, args.sampling_steps), args.rows, args.repeats)
            print(f"| {table} | {family} | {speed:,.0f} |", flush=True)


if __name__ == "__main__":
    main()

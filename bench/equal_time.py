"""synthpipe's GAN against CTGAN at equal wall time: CTGAN fits with the benchmark's epochs, then our GAN trains
for as many seconds as that fit took (its epochs unbounded), and both are scored as bench/score.py scores them.

    bench/.venv/bin/python bench/equal_time.py [--tables penguins fair ...]

One thread for each run (bench/run.py's THREADS). Writes bench/work/equal_time.json and prints a Markdown table.
"""

import argparse
import json
import sys

import pandas as pd
from common import TABLES, WORK, run_file, split_dir, synthetic_file
from run import PROJECT_PYTHON, run
from score import align, quality, utility


def score(table: str, name: str) -> dict:
    spec = TABLES[table]
    train = pd.read_parquet(split_dir(table) / "train.parquet")
    holdout = pd.read_parquet(split_dir(table) / "holdout.parquet")
    synthetic = align(pd.read_parquet(synthetic_file(table, name)), train)
    return {**json.loads(run_file(table, name).read_text()), **quality(train, synthetic),
            "tstr": utility(synthetic, train, holdout, spec["target"], spec["task"])}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tables", nargs="+", default=list(TABLES), choices=list(TABLES))
    args = parser.parse_args()
    run(sys.executable, "prepare.py")
    results = {}
    for table in args.tables:
        run(sys.executable, "fit_sdv.py", table, "ctgan")
        ctgan = score(table, "ctgan")
        run(PROJECT_PYTHON, "fit_synthpipe.py", "--equal-time", table, f"{ctgan['fit_s']:.2f}")
        results[table] = {"ctgan": ctgan, "synthpipe": score(table, "synthpipe-gan-equal-time")}
    (WORK / "equal_time.json").write_text(json.dumps(results, indent=2, default=str))
    print("| table | CTGAN epochs, fit s | our GAN epochs, fit s | quality: ours / CTGAN | column shapes | "
          "pair trends | TSTR: ours / CTGAN |")
    print("|---|---|---|---|---|---|---|")
    for table, r in results.items():
        ours, peer = r["synthpipe"], r["ctgan"]
        print(f"| {table} | {TABLES[table]['epochs']}, {peer['fit_s']:.1f} | {ours['epochs']}, {ours['fit_s']:.1f} | "
              f"{ours['quality']:.3f} / {peer['quality']:.3f} | {ours['shapes']:.3f} / {peer['shapes']:.3f} | "
              f"{ours['pairs']:.3f} / {peer['pairs']:.3f} | {ours['tstr']:.3f} / {peer['tstr']:.3f} |")


if __name__ == "__main__":
    main()

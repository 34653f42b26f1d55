"""One synthpipe run of the benchmark, in the project's .venv: fit, sample, time, measure memory.

    python bench/fit_synthpipe.py TABLE synthpipe|synthpipe-gan
    python bench/fit_synthpipe.py --preprocess        # transformer fit+encode seconds, incl. the 500k table
    python bench/fit_synthpipe.py --fit-time TABLE REPEAT   # the GAN's fit alone, timed
    python bench/fit_synthpipe.py --equal-time TABLE SECONDS   # the GAN for SECONDS of training (bench/equal_time.py)
"""

import json
import resource
import sys
import time

import pandas as pd
from common import LARGE_ROWS, LARGE_TABLE, SPEED_ROWS, TABLES, WORK, fit_time_file, run_file, split_dir, synthetic_file

from synthpipe import TabularSynthesizer
from synthpipe.tabular.transform import TableTransformer


def fit(table: str, run: str) -> tuple[TabularSynthesizer, pd.DataFrame, float]:
    spec = TABLES[table]
    train = pd.read_parquet(split_dir(table) / "train.parquet")
    if run == "synthpipe":
        synthesizer = TabularSynthesizer(model="auto", epochs=spec["epochs"], seed=0)
    else:  # the GAN against CTGAN at equal epochs: train.min_steps would raise a small table's epochs
        synthesizer = TabularSynthesizer(model="gan", epochs=spec["epochs"], min_steps=0, seed=0)
    started = time.perf_counter()
    synthesizer.fit(train, target=spec["target"])
    return synthesizer, train, time.perf_counter() - started


def equal_time(table: str, seconds: float) -> dict:
    """The GAN trained for as long as CTGAN took (epochs unbounded, stopped by the time budget), then sampled."""
    spec = TABLES[table]
    train = pd.read_parquet(split_dir(table) / "train.parquet")
    synthesizer = TabularSynthesizer(model="gan", epochs=1_000_000, max_steps=None, time_budget=seconds, seed=0)
    started = time.perf_counter()
    synthesizer.fit(train, target=spec["target"])
    fit_s = time.perf_counter() - started
    out = synthetic_file(table, "synthpipe-gan-equal-time")
    out.parent.mkdir(parents=True, exist_ok=True)
    synthesizer.sample(len(train), seed=1).to_parquet(out, index=False)
    return {"table": table, "run": "synthpipe-gan-equal-time", "budget_s": seconds, "fit_s": fit_s,
            "epochs": synthesizer.info["epochs_run"]}


def fit_and_sample(table: str, run: str) -> dict:
    synthesizer, train, fit_s = fit(table, run)
    synthetic_file(table, run).parent.mkdir(parents=True, exist_ok=True)
    synthesizer.sample(len(train), seed=1).to_parquet(synthetic_file(table, run), index=False)
    started = time.perf_counter()
    rows = sum(len(chunk) for chunk in synthesizer.sample_chunks(SPEED_ROWS, seed=2))
    sample_s = time.perf_counter() - started
    info = synthesizer.info
    history = synthesizer.history
    return {"table": table, "run": run, "model": info["model"], "epochs": info["epochs_run"], "fit_s": fit_s,
            "s_per_epoch": sum(r["seconds"] for r in history) / len(history) if history else None,
            "sample_rows_per_s": rows / sample_s,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "selection": info["selection"]}


def preprocess_times() -> dict:
    times = {}
    sources = {table: split_dir(table) / "train.parquet" for table in TABLES}
    sources[f"{LARGE_TABLE}_{LARGE_ROWS}"] = WORK / "data" / f"{LARGE_TABLE}_{LARGE_ROWS}.parquet"
    for name, path in sources.items():
        frame = pd.read_parquet(path)
        started = time.perf_counter()
        TableTransformer.fit(frame).encode(frame)
        times[name] = time.perf_counter() - started
        print(f"synthpipe preprocess {name}: {times[name]:.2f} s", flush=True)
    return times


def main() -> None:
    if sys.argv[1] == "--preprocess":
        result, out = ({"run": "synthpipe", "preprocess_s": preprocess_times()},
                       WORK / "runs" / "preprocess-synthpipe.json")
    elif sys.argv[1] == "--fit-time":
        table, repeat = sys.argv[2], int(sys.argv[3])
        result, out = {"table": table, "run": "synthpipe-gan", "fit_s": fit(table, "synthpipe-gan")[2]}, \
            fit_time_file(table, "synthpipe-gan", repeat)
    elif sys.argv[1] == "--equal-time":
        table = sys.argv[2]
        result, out = equal_time(table, float(sys.argv[3])), run_file(table, "synthpipe-gan-equal-time")
    else:
        result, out = fit_and_sample(sys.argv[1], sys.argv[2]), run_file(sys.argv[1], sys.argv[2])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps({k: v for k, v in result.items() if k != "selection"}, default=str))


if __name__ == "__main__":
    main()

"""Large-data figures, in the project's .venv: generating 1M and 10M rows, ingest + preprocess of a 10M-row Parquet.

    OMP_NUM_THREADS=1 .venv/bin/python bench/large.py [--rows 1000000,10000000] [--input-rows 10000000]

Every measured step runs in a fresh process of its own, so its peak resident memory (ru_maxrss) is its own;
it includes the ~0.4 GB that importing the stage (torch, pandas, Prefect) costs. Seconds exclude the imports.
The model is the auto-chosen family on penguins and breast_cancer (the copula, see BENCHMARKS.md), fitted once.
The 10M-row input is penguins resampled with replacement (written in 1M-row pieces). Ingest and preprocess run
twice: streaming (the stages' path for Parquet sources) and the in-memory path (read the whole table, split it
with split_train_holdout, write it), which is what both stages did before they streamed.
Work files go to bench/work/large (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

WORK = Path(__file__).resolve().parent / "work" / "large"


def child(job: dict) -> dict:
    """Run one step in this process; returns its seconds (imports excluded) and peak RSS (imports included)."""
    from synthpipe.config import GenerateConfig, PreprocessConfig, SourceConfig
    from synthpipe.io import atomic_dir, read_table, write_parquet
    from synthpipe.sources import write_raw
    from synthpipe.split import split_train_holdout
    from synthpipe.tabular.stages import generate, ingest, preprocess

    started = time.perf_counter()
    if job["step"] == "generate":
        result = generate(Path(job["model"]), Path(job["out"]),
                          GenerateConfig(rows=job["rows"], shards=job["shards"]), 0)
    elif job["step"] == "ingest":
        raw, schema = Path(job["raw"]), Path(job["raw"]).with_suffix(".schema.json")
        if job["streaming"]:
            result = ingest(SourceConfig(format="parquet", path=job["source"]), raw, schema, allow_drift=True)
        else:
            result = write_raw(read_table(job["source"]), raw, schema, allow_drift=True)["rows"]
    else:
        cfg = PreprocessConfig()
        if job["streaming"]:
            result = preprocess(Path(job["raw"]), Path(job["out"]), "species", cfg, 0)
        else:
            train, holdout = split_train_holdout(read_table(job["raw"]), "species", cfg.holdout_fraction, True, 0)
            with atomic_dir(job["out"]) as tmp:
                write_parquet(train, tmp / "train.parquet")
                write_parquet(holdout, tmp / "holdout.parquet")
            result = {"train_rows": len(train), "holdout_rows": len(holdout)}
    return {"seconds": time.perf_counter() - started,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "result": result}


def measure(job: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(job)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def fit_models() -> dict[str, Path]:
    import numpy as np
    import palmerpenguins
    from sklearn.datasets import load_breast_cancer

    from synthpipe.tabular.synthesizer import TabularSynthesizer

    data = load_breast_cancer(as_frame=True)
    cancer = data.frame.drop(columns="target").assign(
        diagnosis=np.asarray(data.target_names, dtype=object)[data.target])
    models = {}
    for table, df, target in (("penguins", palmerpenguins.load_penguins(), "species"),
                              ("breast_cancer", cancer, "diagnosis")):
        models[table] = WORK / "models" / table
        TabularSynthesizer(model="copula", seed=0).fit(df, target=target).save(models[table])
    return models


def write_input(rows: int) -> Path:
    """penguins resampled to `rows` rows, one Parquet file written 1M rows at a time."""
    import palmerpenguins
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = WORK / f"penguins_{rows}.parquet"
    if path.exists() and pq.ParquetFile(path).metadata.num_rows == rows:
        return path
    penguins = palmerpenguins.load_penguins()
    writer = None
    for start in range(0, rows, 1_000_000):
        piece = penguins.sample(n=min(1_000_000, rows - start), replace=True, random_state=start).reset_index(drop=True)
        table = pa.Table.from_pandas(piece, preserve_index=False)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    writer.close()
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--rows", default="1000000,10000000", help="rows to generate, comma-separated")
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--input-rows", type=int, default=10_000_000)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    WORK.mkdir(parents=True, exist_ok=True)
    print("| step | rows | seconds | rows/s | peak RSS MB |\n|---|---|---|---|---|")
    for table, model in fit_models().items():
        for rows in map(int, args.rows.split(",")):
            r = measure({"step": "generate", "model": str(model), "out": str(WORK / "synthetic.parquet"), "rows": rows,
                         "shards": args.shards})
            print(f"| generate {table} (copula, shards {args.shards}) | {rows:,} | {r['seconds']:.1f} | "
                  f"{rows / r['seconds']:,.0f} | {r['peak_rss_mb']:,.0f} |", flush=True)
    source = write_input(args.input_rows)
    for streaming in (True, False):
        name = "streaming" if streaming else "in memory"
        raw, prepared = WORK / "raw.parquet", WORK / "prepared"
        r = measure({"step": "ingest", "source": str(source), "raw": str(raw), "streaming": streaming})
        s = measure({"step": "preprocess", "raw": str(raw), "out": str(prepared), "streaming": streaming})
        for step, m in (("ingest", r), ("preprocess", s)):
            print(f"| {step} ({name}) | {args.input_rows:,} | {m['seconds']:.1f} | "
                  f"{args.input_rows / m['seconds']:,.0f} | {m['peak_rss_mb']:,.0f} |", flush=True)


if __name__ == "__main__":
    main()

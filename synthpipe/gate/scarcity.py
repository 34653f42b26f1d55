"""The scarcity curve: does synthetic data help when real data is scarce, and more than the classic fixes?

At each fraction f of the real train rows, seeded stratified subsets of f are drawn; below 100% the generator
is refitted on each subset alone (it never sees the other rows), and the merge policy picks what it would add
from that refit's rows. Every arm trains the same downstream model and is scored on the same real holdout:

- real: the subset alone
- synthetic: the subset + the generator's rows the merge policy adds
- smote: + as many SMOTE rows (SMOTE-NC for mixed columns, SMOTE all-numeric, SMOTEN all-categorical);
  regression: + as many noise-perturbed copies of real rows (SMOTE needs classes)
- oversampling: + as many copies of random real rows (RandomOverSampler for classes)
- class_weights: the subset alone, classes weighted inversely to their frequency (classification only)

Gains are paired (same subset, same model seed). Intervals are 95% percentile intervals of a two-level
bootstrap: seeds resampled with replacement, and holdout rows resampled, together.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split

from synthpipe.gate.evaluation import Scorer
from synthpipe.gate.metrics import as_numbers
from synthpipe.gate.privacy import copy_mask
from synthpipe.schema import infer_kinds

# Refit(subset, demand, seed) -> (generated rows, what was fitted). `demand` is the policy's count, or rows per class.
Refit = Callable[[pd.DataFrame, "int | dict", int], tuple[pd.DataFrame, dict]]
BASELINES = {"classification": ("smote", "oversampling", "class_weights"), "regression": ("noise", "oversampling")}
LABELS = {"real": "real only", "synthetic": "real + synthetic", "smote": "real + SMOTE",
          "noise": "real + noise-perturbed copies", "oversampling": "real + random oversampling",
          "class_weights": "real, class-weighted",
          "shift_rotate": "real + shifted / rotated copies"}  # images' baseline (synthpipe.images.quality)
SMOTE_NEIGHBOURS = 5  # imbalanced-learn's default k
NOISE_SCALE = 0.1  # regression baseline: Gaussian noise of this share of each numeric column's std
# The baselines' names in a sentence.
SHORT = {"smote": "SMOTE", "noise": "noise-perturbed copies", "oversampling": "random oversampling",
         "class_weights": "class weights", "shift_rotate": "shifted / rotated copies"}
RESAMPLES = 200  # bootstrap resamples of the holdout (and of the seeds) for every interval


def scarcity_curve(scorer: Scorer, train: pd.DataFrame, pool: pd.DataFrame, demand: Callable, select: Callable,
                   fractions: list[float], seeds: int, seed: int, refit: Refit | None = None,
                   minority: str | None = None, baselines: bool = True) -> list[dict]:
    """One point per fraction (ascending): every arm's holdout score and gain over real only, with intervals.

    `pool`: the run's synthetic rows (used at 100%, and below it only when `refit` is None: a leaky curve).
    `demand(subset, fraction)`: what the merge policy asks for; `select(subset, offered, fraction)`: the rows it
    adds from `offered`. `minority`: the rarest class, whose recall is reported per arm (classification).
    `baselines`: False leaves them out (a benchmark comparing generators on the same subsets needs them once).
    """
    rows = np.random.default_rng(seed).integers(len(scorer.y_test), size=(RESAMPLES, len(scorer.y_test)))
    points = []
    for fraction in sorted(fractions):
        runs = [_run(scorer, train, pool, demand, select, fraction, seed + i, refit, baselines)
                for i in range(seeds if fraction < 1 else 1)]
        points.append(_point(scorer, runs, fraction, rows, seed, minority))
    return points


def subsample(df: pd.DataFrame, fraction: float, stratify_on: str | None, seed: int) -> pd.DataFrame:
    """A seeded `fraction` of the rows, stratified on a label column when every class allows it."""
    if fraction >= 1:
        return df
    rows = max(2, int(round(fraction * len(df))))
    labels = df[stratify_on].astype(object).fillna("<null>") if stratify_on else None
    try:
        picked, _ = train_test_split(df, train_size=rows, stratify=labels, random_state=seed)
    except ValueError:  # a class too small to stratify on, or fewer rows than classes
        picked = df.sample(rows, random_state=seed)
    return picked.reset_index(drop=True)


def _run(scorer: Scorer, train, pool, demand, select, fraction: float, seed: int, refit: Refit | None,
         baselines: bool) -> dict:
    classes = scorer.task == "classification"
    subset = subsample(train, fraction, scorer.target if classes else None, seed)
    wanted = demand(subset, fraction)
    fitted = None
    if fraction < 1 and refit is not None:
        generated, fitted = refit(subset, wanted, seed)
        pool = generated[~copy_mask(generated, subset)] if len(generated) else generated  # merge drops copies
    added = select(subset, pool, fraction)
    predictions = {"real": scorer.predict(subset, seed),
                   "synthetic": scorer.predict(_concat(subset, added), seed)}
    additions = _per_class(subset, scorer.target, wanted) if classes else _total(wanted)
    notes = []
    for name in BASELINES[scorer.task] if baselines else ():
        if name == "class_weights":
            predictions[name] = scorer.predict(subset, seed, balanced=True)
            continue
        extra, note = baseline_rows(name, subset, scorer.target, additions, seed)
        predictions[name] = scorer.predict(_concat(subset, extra), seed)
        notes += [note] if note else []
    return {"predictions": predictions, "real_rows": len(subset), "synthetic_rows": len(added),
            "baseline_rows": additions if isinstance(additions, int) else sum(additions.values()),
            "refit": fitted, "notes": notes}


def _concat(subset: pd.DataFrame, added: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([subset, added[list(subset.columns)]], ignore_index=True) if len(added) else subset


def _total(wanted) -> int:
    return int(sum(wanted.values())) if isinstance(wanted, dict) else int(wanted)


def _per_class(subset: pd.DataFrame, target: str, wanted) -> dict:
    """Baseline rows to add per class: the policy's own per-class demand (balance), or its count spread over
    the classes in proportion to their rows (largest remainders), as a stratified generator would."""
    if isinstance(wanted, dict):
        return {label: int(need) for label, need in wanted.items() if need > 0}
    counts = subset[target].dropna().astype(object).value_counts()
    if counts.empty:
        return {}
    exact = counts / counts.sum() * int(wanted)
    share = np.floor(exact).astype(int)
    rest = int(wanted) - int(share.sum())
    share[(exact - share).sort_values(ascending=False).index[:rest]] += 1
    return {label: int(n) for label, n in share.items() if n > 0}


# ---------------------------------------------------------------------------------------------- baselines

def baseline_rows(name: str, subset: pd.DataFrame, target: str, additions,
                  seed: int) -> tuple[pd.DataFrame, str | None]:
    """Rows a classic oversampler adds to `subset`, and a note when it had to bend (fallbacks, imputation).
    `additions`: rows per class (classification) or a count (regression)."""
    if name == "smote":
        return smote_rows(subset, target, additions, seed)
    if name == "oversampling":
        return oversampled_rows(subset, target, additions, seed), None
    return noisy_copies(subset, additions, seed), None


def oversampled_rows(subset: pd.DataFrame, target: str, additions, seed: int) -> pd.DataFrame:
    """Copies of random real rows: RandomOverSampler per class, or uniform draws for a regression target."""
    if isinstance(additions, int):  # regression: no classes to balance
        return subset.sample(additions, replace=True, random_state=seed) if additions else subset.head(0)
    from imblearn.over_sampling import RandomOverSampler

    labelled = subset[subset[target].notna()]
    codes, levels = _codes(labelled[target])
    counts = pd.Series(labelled[target].astype(object).to_numpy()).value_counts()
    strategy = {levels.get_loc(label): int(counts[label] + n) for label, n in additions.items()
                if label in counts.index}
    if not strategy:
        return subset.head(0)
    index, _ = RandomOverSampler(sampling_strategy=strategy, random_state=seed).fit_resample(
        np.arange(len(labelled)).reshape(-1, 1), codes)
    return labelled.iloc[index[len(labelled):, 0]].reset_index(drop=True)


def noisy_copies(subset: pd.DataFrame, count: int, seed: int) -> pd.DataFrame:
    """Copies of random real rows with Gaussian noise (NOISE_SCALE x the column's std) on float columns."""
    rows = oversampled_rows(subset, "", count, seed).reset_index(drop=True)
    rng = np.random.default_rng(seed)
    for name in rows.columns:
        if pd.api.types.is_float_dtype(rows[name].dtype):
            spread = NOISE_SCALE * float(np.nan_to_num(subset[name].std()))
            rows[name] = rows[name] + rng.normal(0.0, spread, len(rows))
    return rows


def smote_rows(subset: pd.DataFrame, target: str, additions: dict, seed: int) -> tuple[pd.DataFrame, str | None]:
    """SMOTE-family rows per class: SMOTE-NC for mixed columns, SMOTE for all-numeric, SMOTEN for
    all-categorical. Nulls are imputed (median, most frequent) for SMOTE's input only, datetimes interpolated as
    nanoseconds; k shrinks to the smallest grown class (k_neighbors + 1 rows needed), and a class with a
    single row is copied instead. The note says which of these happened."""
    labelled = subset[subset[target].notna()].reset_index(drop=True)
    labels = labelled[target].astype(object).to_numpy()
    counts = pd.Series(labels).value_counts()
    grow = {label: n for label, n in additions.items() if label in counts.index and n > 0}
    notes = []
    single = {label: n for label, n in grow.items() if counts[label] < 2}
    if single:
        notes.append(f"classes with one row copied instead ({', '.join(map(str, single))})")
    smoothable = {label: n for label, n in grow.items() if label not in single}
    copies = oversampled_rows(labelled, target, single, seed) if single else labelled.head(0)
    if not smoothable:
        return copies, "; ".join(notes) or None
    k = min(SMOTE_NEIGHBOURS, min(int(counts[label]) for label in smoothable) - 1)
    if k < SMOTE_NEIGHBOURS:
        notes.append(f"k_neighbors lowered to {k} (smallest class grown has {k + 1} rows)")
    features = labelled.drop(columns=[target])
    encoded, categorical, imputed = _smote_input(features)
    if imputed:
        notes.append(f"nulls imputed for SMOTE only ({', '.join(imputed)})")
    sampler = _sampler(len(categorical), encoded.shape[1], categorical, k, seed)
    codes, levels = _codes(labelled[target])
    sampler.set_params(sampling_strategy={levels.get_loc(label): int(counts[label] + n)
                                          for label, n in smoothable.items()})
    if encoded.shape[1] == 0:  # nothing but the label: copies are all SMOTE could make
        return oversampled_rows(labelled, target, grow, seed), "no feature columns: copies instead"
    x, y = sampler.fit_resample(encoded, codes)
    new = _decoded(pd.DataFrame(x).iloc[len(encoded):].reset_index(drop=True), features)
    new[target] = pd.Series(levels[y[len(encoded):]], dtype=object)
    new = new[list(subset.columns)].astype(subset.dtypes.to_dict(), errors="ignore")
    return pd.concat([new, copies], ignore_index=True), "; ".join(notes) or None


def _codes(labels: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes of the labels (imbalanced-learn refuses object arrays of numbers) and the levels they index."""
    codes, levels = pd.factorize(labels.astype(object))
    return codes, levels


def _sampler(n_categorical: int, n_columns: int, categorical: list[str], k: int, seed: int):
    from imblearn.over_sampling import SMOTE, SMOTEN, SMOTENC

    if n_categorical == 0:
        return SMOTE(k_neighbors=k, random_state=seed)
    if n_categorical == n_columns:
        return SMOTEN(k_neighbors=k, random_state=seed)
    return SMOTENC(categorical_features=categorical, k_neighbors=k, random_state=seed)


def _smote_input(features: pd.DataFrame) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Numbers as floats (datetimes as nanoseconds), categories as text; nulls imputed; all-null columns dropped."""
    kinds = infer_kinds(features)
    columns, categorical, imputed = {}, [], []
    for name, kind in kinds.items():
        column = features[name]
        if column.isna().all():
            continue
        if kind in ("categorical", "boolean"):
            values = column.astype(object).where(column.notna(), None)
            filled = values.fillna(values.mode().iloc[0]).astype(str)
            categorical.append(name)
        else:
            numbers = as_numbers(column)
            filled = numbers.fillna(numbers.median())
        if column.isna().any():
            imputed.append(name)
        columns[name] = filled.to_numpy()
    return pd.DataFrame(columns), categorical, imputed


def _decoded(new: pd.DataFrame, like: pd.DataFrame) -> pd.DataFrame:
    """SMOTE's output in the real columns' types: levels mapped back from text, whole numbers rounded, datetimes
    rebuilt; a column SMOTE did not see (all null) stays null."""
    out = {}
    for name in like.columns:
        column = like[name]
        if name not in new.columns:
            out[name] = pd.Series([None] * len(new), dtype=column.dtype)
        elif pd.api.types.is_datetime64_any_dtype(column.dtype):
            out[name] = pd.to_datetime(new[name].astype(float).round().astype("int64"), utc=column.dt.tz is not None)
            if column.dt.tz is not None:
                out[name] = out[name].dt.tz_convert(column.dt.tz)
        elif pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
            values = new[name].astype(float)
            whole = pd.api.types.is_integer_dtype(column.dtype) or (column.dropna() % 1 == 0).all()
            out[name] = (values.round() if whole else values).astype(column.dtype, errors="ignore")
        else:
            levels = {str(v): v for v in column.dropna().unique()}
            out[name] = new[name].astype(str).map(levels).astype(column.dtype, errors="ignore")
    return pd.DataFrame(out)


# ---------------------------------------------------------------------------------------------- summaries

def _point(scorer: Scorer, runs: list[dict], fraction: float, rows: np.ndarray, seed: int,
           minority: str | None) -> dict:
    """Per arm: mean whole-holdout score and its interval; against real only: the paired gain and its interval."""
    rng = np.random.default_rng(seed + 1)
    picks = rng.integers(len(runs), size=(RESAMPLES, len(runs)))  # seeds resampled, one draw per holdout resample
    whole = np.arange(len(scorer.y_test))[None, :]
    scores = {name: np.array([scorer.resampled(r["predictions"][name], whole)[0] for r in runs])
              for name in runs[0]["predictions"]}
    resampled = {name: np.array([scorer.resampled(r["predictions"][name], rows) for r in runs])
                 for name in runs[0]["predictions"]}
    arms = {}
    for name in scores:
        arm = {"score": float(scores[name].mean()), **_interval("score", resampled[name], picks)}
        if name != "real":
            gain = scores[name] - scores["real"]
            arm |= {"gain": float(gain.mean()), "gain_std": float(gain.std()),
                    **_interval("gain", resampled[name] - resampled["real"], picks)}
        if scorer.task == "classification":
            arm |= _class_figures(scorer, [r["predictions"][name] for r in runs], minority)
        arms[name] = arm
    refits = [r["refit"] for r in runs if r["refit"] is not None]
    synthetic = arms["synthetic"]
    return {"fraction": fraction, "real_rows": runs[0]["real_rows"], "synthetic_rows": runs[0]["synthetic_rows"],
            "baseline_rows": runs[0]["baseline_rows"], "seeds": len(runs),
            "real_score": arms["real"]["score"], "augmented_score": synthetic["score"], "gain": synthetic["gain"],
            "gain_low": synthetic["gain_low"], "gain_high": synthetic["gain_high"], "arms": arms,
            "refits": refits, "leaky": fraction < 1 and not refits,
            "baseline_notes": sorted({note for r in runs for note in r["notes"]})}


def _interval(key: str, values: np.ndarray, picks: np.ndarray) -> dict:
    """95% percentile interval of the mean over resampled seeds, each drawn with its own holdout resample."""
    return percentile_interval(key, values[picks, np.arange(values.shape[1])[:, None]].mean(axis=1))


def percentile_interval(key: str, resampled: np.ndarray) -> dict:
    """{key_low, key_high}: the 95% percentile interval of a figure's resampled values."""
    low, high = np.nanpercentile(resampled, [2.5, 97.5])
    return {f"{key}_low": float(low), f"{key}_high": float(high)}


def _class_figures(scorer: Scorer, predictions: list[np.ndarray], minority: str | None) -> dict:
    """Macro F1 and the rarest class's recall on the whole holdout, averaged over the runs."""
    truth = scorer.y_test
    figures = {"macro_f1": float(np.mean([f1_score(truth, p, average="macro", zero_division=0) for p in predictions]))}
    if minority is not None and (truth == minority).any():
        members = truth == minority
        figures["minority_recall"] = float(np.mean([(p[members] == minority).mean() for p in predictions]))
    return figures


def scarcity_verdict(points: list[dict], metric: str, items: str) -> dict:
    """One sentence on the scarcest point, the best baseline there, and whether synthetic `items` (rows, images)
    beat it."""
    point = points[0]
    arms = point["arms"]
    baselines = {name: arm for name, arm in arms.items() if name not in ("real", "synthetic")}
    best = max(baselines, key=lambda name: baselines[name]["gain"])
    synthetic, other = arms["synthetic"], baselines[best]
    half = (synthetic["gain_high"] - synthetic["gain_low"]) / 2
    moved = "raised" if synthetic["gain"] >= 0 else "lowered"
    # "better", not "more": a loss smaller than the baseline's is better, not more
    comparison = "better than" if synthetic["gain"] > other["gain"] else "no better than"
    leaky = f" (a leaky curve: the generator saw all the real {items})" if point["leaky"] else ""
    sentence = (f"At {point['fraction']:.0%} of the real {items}, synthetic {items} {moved} "
                f"{metric.replace('_', ' ')} by {abs(synthetic['gain']):.3f} ± {half:.3f}, {comparison} the best "
                f"baseline, {SHORT[best]} ({other['gain']:+.3f}){leaky}.")
    return {"verdict": sentence, "scarce_fraction": point["fraction"], "scarce_gain": synthetic["gain"],
            "scarce_gain_low": synthetic["gain_low"], "scarce_gain_high": synthetic["gain_high"],
            "best_baseline": best, "best_baseline_gain": other["gain"],
            "beats_best_baseline": bool(synthetic["gain"] > other["gain"])}

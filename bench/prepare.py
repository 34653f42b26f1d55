"""Write the fixed 70/30 splits of the four real tables (bench env: they ship in its packages)."""

import numpy as np
import pandas as pd
from common import HOLDOUT_FRACTION, LARGE_ROWS, LARGE_TABLE, SPLIT_SEED, TABLES, WORK, split_dir
from sklearn.model_selection import train_test_split


def load(table: str) -> pd.DataFrame:
    if table == "penguins":
        import palmerpenguins

        return palmerpenguins.load_penguins()
    if table == "breast_cancer":
        from sklearn.datasets import load_breast_cancer

        data = load_breast_cancer(as_frame=True)
        frame = data.frame.drop(columns="target")
        frame["diagnosis"] = np.asarray(data.target_names, dtype=object)[data.target]  # labels, not 0/1
        return frame
    if table == "fair":
        import statsmodels.api as sm

        frame = sm.datasets.fair.load_pandas().data
        # The usual task: did the respondent have an affair? (the hours column would give the answer away)
        return frame.assign(affair=np.where(frame["affairs"] > 0, "yes", "no")).drop(columns="affairs")
    if table == "diamonds":
        from plotnine.data import diamonds

        # Ordered categoricals become plain labels: every model sees the same strings.
        return diamonds.assign(**{c: diamonds[c].astype(str) for c in ("cut", "color", "clarity")})
    raise ValueError(table)


def main() -> None:
    for table, spec in TABLES.items():
        frame = load(table)
        stratify = frame[spec["target"]] if spec["task"] == "classification" else None
        train, holdout = train_test_split(frame, test_size=HOLDOUT_FRACTION, random_state=SPLIT_SEED, stratify=stratify)
        out = split_dir(table)
        out.mkdir(parents=True, exist_ok=True)
        train.reset_index(drop=True).to_parquet(out / "train.parquet", index=False)
        holdout.reset_index(drop=True).to_parquet(out / "holdout.parquet", index=False)
        print(f"{table}: {len(train)} train / {len(holdout)} holdout rows, {frame.shape[1]} columns")
    train = pd.read_parquet(split_dir(LARGE_TABLE) / "train.parquet")
    large = train.sample(n=LARGE_ROWS, replace=True, random_state=SPLIT_SEED).reset_index(drop=True)
    large.to_parquet(WORK / "data" / f"{LARGE_TABLE}_{LARGE_ROWS}.parquet", index=False)


if __name__ == "__main__":
    main()

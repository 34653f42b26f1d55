"""Seconds per GAN training epoch on tables bundled with installed packages, in the project's .venv.

    python bench/gan_epoch.py [--epochs N] [--profile] [TABLE ...]     # tables: penguins, breast_cancer, digits

Times `train_gan` alone (the transformer is fitted before the clock starts) with the default TrainConfig,
one thread (set OMP_NUM_THREADS=1 as the benchmark does). --profile prints torch.profiler's busiest operators.
"""

import argparse
import time

import pandas as pd
import torch

from synthpipe.config import TrainConfig
from synthpipe.tabular.conditions import CondLayout
from synthpipe.tabular.gan import train_gan
from synthpipe.tabular.transform import TableTransformer


def load(table: str) -> pd.DataFrame:
    if table == "penguins":
        import palmerpenguins

        return palmerpenguins.load_penguins()
    from sklearn import datasets

    bunch = {"breast_cancer": datasets.load_breast_cancer, "digits": datasets.load_digits}[table](as_frame=True)
    return bunch.frame.assign(target=bunch.frame["target"].astype(str))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tables", nargs="*", default=["penguins", "breast_cancer", "digits"])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    cfg = TrainConfig(epochs=args.epochs)
    for table in args.tables:
        df = load(table)
        transformer = TableTransformer.fit(df, max_modes=cfg.max_modes, seed=0)
        data = torch.from_numpy(transformer.encode(df))
        spans, layout = tuple(transformer.spans), CondLayout.of(transformer)
        started = time.perf_counter()
        if args.profile:
            with torch.profiler.profile() as profiler:
                trained = train_gan(data, spans, layout, cfg, seed=0)
            print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))
        else:
            trained = train_gan(data, spans, layout, cfg, seed=0)
        seconds = time.perf_counter() - started
        epochs = [record["seconds"] for record in trained.history[1:]]  # the first one pays one-off start-up
        steps = max(1, len(df) // (min(cfg.batch_size, len(df)) // cfg.pac * cfg.pac))
        print(f"{table}: {len(df)} rows x {data.shape[1]} encoded columns, {steps} steps/epoch: "
              f"{sorted(epochs)[len(epochs) // 2]:.4f} s/epoch (median; {seconds:.1f} s for {args.epochs} epochs "
              f"with set-up); last loss {trained.history[-1]['loss']:.3f}", flush=True)


if __name__ == "__main__":
    main()

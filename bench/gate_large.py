"""How the quality gate scales: seconds per section on a large mixed-type table.

Real, synthetic and holdout rows are drawn from the penguins table with small numeric noise (so rows are not
exact copies), at the sizes given. Run: .venv/bin/python bench/gate_large.py [ROWS]
"""

import sys
import time

import numpy as np
import palmerpenguins

from synthpipe.config import ValidateConfig
from synthpipe.gate.quality import assess


def noisy_rows(rows: int, seed: int):
    base = palmerpenguins.load_penguins().sample(rows, replace=True, random_state=seed).reset_index(drop=True)
    rng = np.random.default_rng(seed)
    for name in ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"):
        base[name] = (base[name] + rng.normal(0, 0.05 * base[name].std(), rows)).round(1)
    return base


def main(rows: int) -> None:
    real, synthetic, holdout = noisy_rows(rows, 0), noisy_rows(rows, 1), noisy_rows(rows // 4, 2)
    started = time.perf_counter()
    report = assess(real, synthetic, ValidateConfig(), holdout=holdout, target="species", seed=0)
    total = time.perf_counter() - started
    print(f"{rows} real + {rows} synthetic + {rows // 4} holdout rows: {total:.1f} s "
          f"(sampled: {report['sampling']['sampled']}); per section: {report['seconds']}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)

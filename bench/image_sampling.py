"""The image diffusion model's sampling settings against the image gate's figures (not a timed test).

    PYTHONPATH=. OMP_NUM_THREADS=1 python bench/image_sampling.py PROJECT --params params-mnist.yaml \
        [--guidance 1 1.5 2] [--steps 10]

PROJECT is a scratch copy of a project whose train stage has run with `image.train.model: diffusion` (e.g. the
directory of a `synthpipe refresh --params params-mnist.yaml`). For each setting the generate and validate stages
run again there with `image.generate.guidance` / `sampling_steps` set, and the augmentation curve at 100% only (its
refits would train a generator per setting); each run's synthetic images and reports overwrite the previous ones.
Prints a markdown table: label agreement, CAS beside the real-trained classifier, coverage (mean and worst class),
FID beside the real floor, the 100% augmentation gain, and generate's wall seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml


def run_stage(project: Path, stage: str, params: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "synthpipe.cli", "stage", stage, "--params", str(params)], cwd=project,
                   check=stage == "generate", capture_output=True, env=os.environ)  # validate exits 3 on a failed gate
    return time.perf_counter() - started


def figures(project: Path) -> dict:
    report = json.loads((project / "reports/quality.json").read_text())
    fidelity, utility = report["fidelity"], report["utility"]
    return {"agreement": fidelity["label_agreement"], "cas": utility["cas"], "real": utility["real_accuracy"],
            "coverage": fidelity["coverage"], "worst": fidelity["worst_class_coverage"], "fid": fidelity["fid"],
            "floor": fidelity["fid_real_baseline"], "gain": report["augmentation"]["points"][-1]["gain"],
            "passed": report["passed"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("project", type=Path)
    parser.add_argument("--params", type=Path, required=True)
    parser.add_argument("--guidance", type=float, nargs="+", default=[1.0, 1.5, 2.0])
    parser.add_argument("--steps", type=int, nargs="+", default=[10])
    args = parser.parse_args()
    base = yaml.safe_load(args.params.read_text())
    print("| guidance | steps | label agreement | CAS (real) | coverage mean / worst | FID (floor) | gain at 100% "
          "| gate | generate s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for steps in args.steps:
        for guidance in args.guidance:
            params = json.loads(json.dumps(base))
            params["image"]["generate"] |= {"guidance": guidance, "sampling_steps": steps}
            params["image"]["validate"]["augmentation_fractions"] = [1.0]
            path = args.project / f"params-sampling-{guidance}-{steps}.yaml"
            path.write_text(yaml.safe_dump(params, sort_keys=False))
            seconds = run_stage(args.project, "generate", path.resolve())
            run_stage(args.project, "validate", path.resolve())
            f = figures(args.project)
            print(f"| {guidance:g} | {steps} | {f['agreement']:.3f} | {f['cas']:.3f} ({f['real']:.3f}) | "
                  f"{f['coverage']:.3f} / {f['worst']:.3f} | {f['fid']:.3f} ({f['floor']:.3f}) | {f['gain']:+.3f} | "
                  f"{'passed' if f['passed'] else 'failed'} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()

"""The CUDA paths, checked and timed in one run on a machine with a GPU, against the same machine's CPU.

Here, once (after `make bench`, which writes the diamonds split, and with the MNIST example's wheel installed):
    .venv/bin/python bench/gpu_check.py prepare        # .gpu/: diamonds, 5,000 MNIST digits at 32 px, wheels
On a machine with a CUDA GPU and PyTorch but not this project's environment (`.gpu` copied beside the code):
    bash bench/gpu_check.sh                              # writes gpu_check.json and gpu_check.log to $OUT
Here, the same code at a small size on the CPU (what a machine without a GPU can check of the script itself):
    .venv/bin/python bench/gpu_check.py run --device cpu --quick --out /tmp/gpu_check

What one run measures, on --device and then on the same machine's CPU:
- the tabular GAN and diffusion model on diamonds (the largest benchmark table), bfloat16 where native: seconds
  per epoch (per 100 optimiser steps), and SDV's CTGAN with enable_gpu at the same epochs (its training alone:
  its DataTransformer's fit and transform are timed apart and taken out);
- sampling: the diffusion model's rows/s; each GPU-trained model saved, loaded on the CPU and sampled there with
  the same seed, against the rows it samples on the GPU (the same rows up to floating-point differences);
- the 32 px image diffusion model (the MNIST preset) and the 64 px colour preset: training images/s, and a
  GPU-trained image model sampled on the CPU.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synthpipe.config import IMAGE_PRESETS, ImageConfig, ImageGenerateConfig, ImageTrainConfig  # noqa: E402
from synthpipe.images.families import (  # noqa: E402
    ImageModel,
    fit_image_model,
    load_image_model,
    save_image_model,
)
from synthpipe.images.model import image_batches  # noqa: E402
from synthpipe.tabular.synthesizer import TabularSynthesizer  # noqa: E402

PREPARED = ROOT / ".gpu"
TABLE, TARGET = "diamonds", "price"
CLASSES = 10  # MNIST's digits
# Wheels the check needs beyond PyTorch, pandas, scikit-learn and SciPy (pinned as this project's and the
# benchmark's environments have them); Python 3.12 on x86-64 Linux.
WHEELS = ["pydantic==2.14.3", "pydantic-core==2.50.4", "annotated-types==0.8.0", "typing-inspection==0.4.5",
          "typing-extensions==4.16.0", "ctgan==0.12.1", "rdt==2.0.0", "Faker==40.63.0"]
# (GPU, CPU) sizes of each measurement: the CPU side only needs enough steps for a steady rate.
FULL = {"gan_epochs": (10, 2), "diffusion_steps": (1000, 200), "ctgan_epochs": (10, 2), "sample_rows": 1_000_000,
        "image_steps": (500, 40), "image_64_steps": (300, 10), "compare_rows": 5000, "table_rows": None}
QUICK = {"gan_epochs": (2, 2), "diffusion_steps": (200, 200), "ctgan_epochs": (1, 1), "sample_rows": 20_000,
         "image_steps": (4, 4), "image_64_steps": (2, 2), "compare_rows": 500, "table_rows": 2000}


def prepare() -> None:
    """The inputs, as files: the GPU machine has neither the benchmark's data nor the MNIST wheel."""
    sys.path.insert(0, str(ROOT / "bench"))
    from common import split_dir

    from synthpipe.images.folders import mnist

    if PREPARED.exists():
        shutil.rmtree(PREPARED)
    (PREPARED / "wheels").mkdir(parents=True)
    shutil.copy(split_dir(TABLE) / "train.parquet", PREPARED / f"{TABLE}.parquet")
    pixels, labels = mnist(ImageConfig(size=32, channels=1))
    np.savez_compressed(PREPARED / "mnist32.npz", pixels=pixels, labels=labels)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.12", "--implementation", "cp", "--platform", "manylinux_2_28_x86_64",
                    "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64",
                    "-d", str(PREPARED / "wheels"), *WHEELS], check=True)
    size = sum(p.stat().st_size for p in PREPARED.rglob("*") if p.is_file())
    print(f"{PREPARED}: {size / 2**20:.1f} MiB")


def categorical_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]


def table_fit(family: str, df: pd.DataFrame, device: str, amount: int) -> tuple[TabularSynthesizer, dict]:
    """Fit one family on `device`; its training seconds per epoch (GAN) or per 100 optimiser steps (diffusion)."""
    sizes = {"epochs": amount, "min_steps": 0, "max_steps": None} if family == "gan" else {"diffusion_steps": amount}
    synthesizer = TabularSynthesizer(seed=0, model=family, device=device, **sizes).fit(df, target=TARGET)
    seconds = [record["seconds"] for record in synthesizer.history]
    steady = seconds[1:] or seconds  # the first epoch pays CUDA's start-up
    unit = "epoch" if family == "gan" else "100 steps"
    return synthesizer, {"device": device, "family": family, "amount": amount, "unit": unit,
                         "fit_seconds": synthesizer.info["seconds"], "training_seconds": float(sum(seconds)),
                         f"seconds_per_{unit.replace(' ', '_')}": float(np.median(steady))}


def ctgan_fit(df: pd.DataFrame, epochs: int, cuda: bool) -> dict:
    """SDV's CTGAN at `epochs`: its training seconds per epoch, its preprocessing taken out."""
    from ctgan import CTGAN
    from ctgan.data_transformer import DataTransformer

    spent = [0.0]

    def timed(method):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - started
        return wrapper

    originals = DataTransformer.fit, DataTransformer.transform
    DataTransformer.fit, DataTransformer.transform = timed(originals[0]), timed(originals[1])
    try:
        model = CTGAN(epochs=epochs, enable_gpu=cuda)
        started = time.perf_counter()
        model.fit(df, categorical_columns(df))
        total = time.perf_counter() - started
    finally:
        DataTransformer.fit, DataTransformer.transform = originals
    return {"device": "cuda" if cuda else "cpu", "epochs": epochs, "fit_seconds": total, "preprocess_seconds": spent[0],
            "seconds_per_epoch": (total - spent[0]) / epochs}


def sampling_rate(synthesizer: TabularSynthesizer, rows: int) -> float:
    synthesizer.sample(1000, seed=1)  # warm-up: kernels, allocator
    started = time.perf_counter()
    synthesizer.sample(rows, seed=2)
    return rows / (time.perf_counter() - started)


def same_rows_on_cpu(synthesizer: TabularSynthesizer, real: pd.DataFrame, rows: int) -> dict:
    """Save a model trained on the GPU, load it on the CPU, sample the same seed on both, compare the rows."""
    with tempfile.TemporaryDirectory() as tmp:
        synthesizer.save(Path(tmp) / "model")
        on_cpu = TabularSynthesizer.load(Path(tmp) / "model", device="cpu")
    here, there = synthesizer.sample(rows, seed=3), on_cpu.sample(rows, seed=3)
    assert list(there.columns) == list(real.columns), "the CPU-loaded model samples other columns"
    categorical = categorical_columns(real)
    unknown = {c: sorted(set(there[c].dropna()) - set(real[c].dropna()))[:5] for c in categorical}
    assert not any(unknown.values()), f"values the real table does not have: {unknown}"
    numbers = [c for c in real.columns if c not in categorical]
    spread = {c: float((here[c] - there[c]).abs().median() / real[c].std()) for c in numbers}
    equal = float(np.mean([(here[c] == there[c]).mean() for c in categorical]))
    return {"rows": rows, "categorical_cells_equal": equal, "numbers_median_difference_in_sd": max(spread.values()),
            "finite": bool(np.isfinite(there[numbers]).all().all())}


def image_rate(images: torch.Tensor, labels: torch.Tensor, preset: dict, device: str,
               steps: int) -> tuple[ImageModel, dict]:
    """Training images/s of the image diffusion model with `preset` on `device`, over about `steps` steps."""
    # Two epochs at least (the first pays the start-up), of fewer images when `steps` is small.
    count = min(images.shape[0], preset["batch_size"] * max(1, steps // 2))
    images, labels = images[:count], labels[:count]
    batch, per_epoch = image_batches(ImageTrainConfig(**preset), count)
    epochs = max(2, -(-steps // per_epoch))
    cfg = ImageTrainConfig(**{**preset, "epochs": epochs, "min_steps": 0, "device": device,
                              "checkpoint_every": epochs})
    on = torch.device(device)
    model = fit_image_model(images.to(on), labels.to(on), CLASSES, cfg, seed=0)
    seconds = [record["seconds"] for record in model.history][1:]
    return model, {"device": device, "size": images.shape[-1], "channels": images.shape[1], "batch": batch,
                   "steps": epochs * per_epoch, "images_per_second": batch * per_epoch / float(np.median(seconds))}


def image_on_cpu(model: ImageModel) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        save_image_model(model, tmp, {})
        loaded, _ = load_image_model(tmp, torch.device("cpu"))
    drawn = loaded.sample(np.arange(10), seed=0, settings=ImageGenerateConfig())
    return {"shape": list(drawn.shape), "dtype": str(drawn.dtype), "ink_mean": float(drawn.mean())}


def run(device: str, sizes: dict) -> dict:
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device")
    result = {"python": platform.python_version(), "torch": torch.__version__, "cpu_threads": torch.get_num_threads(),
              "device": torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu"}
    df = pd.read_parquet(PREPARED / f"{TABLE}.parquet")
    if sizes["table_rows"]:
        df = df.sample(sizes["table_rows"], random_state=0).reset_index(drop=True)
    result["table"] = {"name": TABLE, "rows": len(df), "target": TARGET}
    sides = [device, "cpu"] if device != "cpu" else ["cpu"]
    for family, key in (("gan", "gan_epochs"), ("diffusion", "diffusion_steps")):
        for i, side in enumerate(sides):
            print(f"{family} on {side} ...", flush=True)
            synthesizer, figures = table_fit(family, df, side, sizes[key][i])
            result.setdefault(family, []).append(figures)
            if side == device:
                if family == "diffusion":
                    figures["sample_rows_per_second"] = sampling_rate(synthesizer, sizes["sample_rows"])
                figures["sampled_on_cpu"] = same_rows_on_cpu(synthesizer, df, sizes["compare_rows"])
            print(json.dumps(figures), flush=True)
    try:
        import ctgan  # noqa: F401
    except ImportError:
        if device == "cuda":
            raise
        result["ctgan"] = "not installed in this environment"
    else:
        result["ctgan"] = [ctgan_fit(df, sizes["ctgan_epochs"][i], side == "cuda") for i, side in enumerate(sides)]
        print(json.dumps(result["ctgan"]), flush=True)
    prepared = np.load(PREPARED / "mnist32.npz")
    images = torch.from_numpy(prepared["pixels"]).permute(0, 3, 1, 2).contiguous()
    labels = torch.from_numpy(prepared["labels"])
    colour = images.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3).repeat(1, 3, 1, 1)  # 64 px, RGB
    for name, data, preset, key in (("image_32", images, IMAGE_PRESETS["diffusion"][32], "image_steps"),
                                    ("image_64_colour", colour, IMAGE_PRESETS["diffusion"][64], "image_64_steps")):
        for i, side in enumerate(sides):
            print(f"{name} on {side} ...", flush=True)
            model, figures = image_rate(data, labels, preset, side, sizes[key][i])
            if side == device and name == "image_32":
                figures["sampled_on_cpu"] = image_on_cpu(model)
            result.setdefault(name, []).append(figures)
            print(json.dumps(figures), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["prepare", "run"])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--quick", action="store_true", help="small sizes: check the script, not the machine")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    if args.action == "prepare":
        prepare()
        return
    if not PREPARED.is_dir():
        raise SystemExit(f"{PREPARED}: missing; run `python bench/gpu_check.py prepare` first")
    result = run(args.device, QUICK if args.quick else FULL)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out / 'gpu_check.json'}")


if __name__ == "__main__":
    main()

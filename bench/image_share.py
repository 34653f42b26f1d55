"""At a share of the train images, two ways to make synthetic images that might help a classifier more:
keeping only those a classifier trained on the share labels as their class, and stronger guidance.

    PYTHONPATH=. OMP_NUM_THREADS=1 python bench/image_share.py PROJECT [--params params-mnist.yaml] [--fraction 0.1]

PROJECT holds a prepared run (`synthpipe stage ingest` and `preprocess` with the params file). As the validate
stage's curve does: a seeded class-balanced share of the train images, the run's generator fitted on it alone,
one synthetic image per real one, and the gate's classifier trained for image.validate.classifier_steps on share
+ synthetic, scored on the real holdout against the share alone (gain with a 95% interval over bootstrap
resamples of the holdout). For each guidance, a pool of 3 images per real one is drawn; "plain" adds its first
images, "filtered" the first of each class that a classifier trained on the share alone labels as intended (what
a user with only the share could filter with). Label agreement is also given against a judge trained on every
train image.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from synthpipe.config import load_params
from synthpipe.gate.scarcity import percentile_interval
from synthpipe.images.classifier import predict, train_classifier
from synthpipe.images.families import fit_image_model
from synthpipe.images.metrics import balanced_subset
from synthpipe.images.quality import correct
from synthpipe.images.stages import load_split
from synthpipe.training import LoopOptions

POOL = 3  # synthetic images drawn per real image of the share, so that filtering can still keep one per real one


def gain(hits: np.ndarray, real: np.ndarray) -> str:
    difference = hits - real
    resampled = np.random.default_rng(0).integers(len(difference), size=(1000, len(difference)))
    interval = percentile_interval("gain", difference[resampled].mean(axis=1))
    return (f"accuracy {hits.mean():.3f}, gain {difference.mean():+.3f} "
            f"[{interval['gain_low']:+.3f}, {interval['gain_high']:+.3f}]")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("project", type=Path)
    parser.add_argument("--params", default="params-mnist.yaml")
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--guidance", type=float, nargs="+", default=[1.5, 3.0])
    args = parser.parse_args()
    params = load_params(args.project / args.params)
    cfg, seed, device = params.image, params.seed, torch.device("cpu")
    train, _ = load_split(args.project / "data" / "prepared", "train", cfg.channels, device)
    holdout, _ = load_split(args.project / "data" / "prepared", "holdout", cfg.channels, device)
    pick = balanced_subset(train.targets, args.fraction, seed)
    images, targets, classes = train.images[pick], train.targets[pick], len(train.classes)

    def fit(x: torch.Tensor, y: torch.Tensor, name: str):
        return train_classifier(x, y, classes, cfg.validate.classifier_steps, cfg.validate.classifier_batch, seed,
                                name)

    started = time.perf_counter()
    model = fit_image_model(images, targets, classes, cfg.train, seed, LoopOptions())
    print(f"{cfg.train.model} fitted on {len(targets)} images ({args.fraction:.0%}) in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    judge, share_classifier = fit(train.images, train.targets, "judge"), fit(images, targets, "share classifier")
    real = correct(fit(images, targets, "share alone"), holdout)
    print(f"share alone: accuracy {real.mean():.3f}", flush=True)
    per_class = len(targets) // classes
    labels = torch.arange(classes).repeat(POOL * per_class)  # interleaved: any prefix is class-balanced
    for guidance in args.guidance:
        started = time.perf_counter()
        pool = torch.from_numpy(model.sample(labels.numpy(), seed, cfg.generate.model_copy(
            update={"guidance": guidance})))
        judged, own = predict(judge, pool)[1], predict(share_classifier, pool)[1]
        kept = torch.cat([((labels == c) & (own == c)).nonzero().squeeze(1)[:per_class] for c in range(classes)])
        print(f"guidance {guidance}: {len(pool)} images in {time.perf_counter() - started:.0f} s; label agreement "
              f"with the judge {(judged == labels).float().mean():.3f}, with the share's classifier "
              f"{(own == labels).float().mean():.3f}; filtered keeps {len(kept)} (judge agreement "
              f"{(judged[kept] == labels[kept]).float().mean():.3f})", flush=True)
        for name, chosen in (("plain", torch.arange(per_class * classes)), ("filtered", kept)):
            hits = correct(fit(torch.cat([images, pool[chosen]]), torch.cat([targets, labels[chosen]]), name),
                           holdout)
            print(f"  {name}: {gain(hits, real)}", flush=True)


if __name__ == "__main__":
    main()

"""The image quality gate: a classifier trained on the real train split judges the synthetic images.

Figures: classifier-feature FID (synthetic vs real holdout, next to train vs holdout as the floor that sampling
alone gives), precision / recall / coverage per class, label agreement (does the real-trained classifier see the
class the generator was asked for?), CAS (a classifier trained only on synthetic images, scored on the real
holdout, next to the real-trained one) and the augmentation curve. The thresholded ones become check records,
the same as the table gate's (synthpipe.gate.checks), and the curve has the table curve's points.

The augmentation curve asks what a user with fewer labelled images would get: at each share of the real train
images, a classifier on the share alone, on the share + the synthetic images the merge policy adds to it (the
table curve's rule: `merge.synthetic_ratio` images per real one, or the `size` / `balance` demand, never more than
the run generated) and on the share + as many shifted / rotated copies of its own images (the standard
augmentation a practitioner tries first). Below 100% the synthetic images come from a generator fitted on the share
alone, with the run's image.train settings: a generator that saw every train image would lend the share what the
other images taught it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from synthpipe.config import ImageValidateConfig, MergeConfig
from synthpipe.gate.checks import check, checks_markdown, expectations_check, verdict
from synthpipe.gate.report import gain_cell, provenance
from synthpipe.gate.scarcity import RESAMPLES, percentile_interval, scarcity_verdict
from synthpipe.images.classifier import accuracy, predict, train_classifier
from synthpipe.images.codec import ImageBatch
from synthpipe.images.metrics import balanced_subset, frechet_distance, precision_recall_coverage
from synthpipe.merge import policy_demand

log = logging.getLogger(__name__)

# Refit(images, targets, labels, seed) -> (uint8 images of `labels` from a generator fitted on images / targets
# alone, or none if that fit failed; what was fitted).
Refit = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, int], tuple[torch.Tensor, dict]]
# The standard augmentation arm, as torchvision's RandomAffine(degrees=10, translate=(0.1, 0.1)): the usual
# setting for digits and small objects.
MAX_DEGREES = 10.0
MAX_SHIFT = 0.1  # of the image's side


def assess_images(train: ImageBatch, holdout: ImageBatch, synthetic: ImageBatch, cfg: ImageValidateConfig,
                  seed: int, expectations: list[dict] = (), max_failed_expectations: int = 0,
                  refit: Refit | None = None, merge: MergeConfig | None = None) -> dict:
    """Every image figure, the checks and the gate's verdict. Batches share one class list and live on one device;
    `expectations` are the results of the table expectations on the columns beside the pixels; `refit` fits the
    run's generator on a share of the train images for the augmentation curve (None: the curve is leaky); `merge`
    is the policy whose additions the curve measures (None: the default policy)."""
    classes = len(train.classes)

    def fit(images: torch.Tensor, targets: torch.Tensor, name: str):
        return train_classifier(images, targets, classes, cfg.classifier_steps, cfg.classifier_batch, seed, name)

    judge = fit(train.images, train.targets, "judge (real train images)")
    real_accuracy = accuracy(judge, holdout.images, holdout.targets)
    log.info("judge: holdout accuracy %.3f", real_accuracy)
    train_features, _ = predict(judge, train.images)
    holdout_features, _ = predict(judge, holdout.images)
    synthetic_features, synthetic_predicted = predict(judge, synthetic.images)
    fidelity = {"fid": frechet_distance(holdout_features, synthetic_features),
                "fid_real_baseline": frechet_distance(holdout_features, train_features),
                "label_agreement": (synthetic_predicted == synthetic.targets).float().mean().item()}
    per_class = per_class_figures(holdout, holdout_features, synthetic, synthetic_features, synthetic_predicted,
                                  cfg.neighbours)
    fidelity |= mean_of_classes(per_class)
    cas = accuracy(fit(synthetic.images, synthetic.targets, "CAS (synthetic images only)"), holdout.images,
                   holdout.targets)
    log.info("CAS %.3f vs real %.3f; FID %.3f (real floor %.3f)", cas, real_accuracy, fidelity["fid"],
             fidelity["fid_real_baseline"])
    utility = {"real_accuracy": real_accuracy, "cas": cas, "cas_ratio": cas / real_accuracy if real_accuracy else 0.0}
    curve = augmentation_curve(train, holdout, synthetic, cfg.augmentation_fractions, fit, seed, refit,
                               merge or MergeConfig())
    thresholds = cfg.model_dump(include={"min_label_agreement", "min_cas_ratio", "min_class_coverage", "max_fid_ratio",
                                         "min_augmentation_gain"})
    report = {"modality": "image", "fidelity": fidelity, "utility": utility, "classes": per_class,
              "augmentation": curve,
              "counts": {"train": len(train.targets), "holdout": len(holdout.targets),
                         "synthetic": len(synthetic.targets)},
              "expectations": {"evaluated": len(expectations), "failed": sum(not r["success"] for r in expectations),
                               "results": list(expectations)},
              "thresholds": thresholds | {"max_failed_expectations": max_failed_expectations}}
    report["checks"] = gate_checks(report, cfg)
    verdict(report)
    return report


def per_class_figures(holdout: ImageBatch, holdout_features: torch.Tensor, synthetic: ImageBatch,
                      synthetic_features: torch.Tensor, synthetic_predicted: torch.Tensor, k: int) -> dict:
    """Precision / recall / coverage within each generated class, against the same class's real holdout images.
    Equal numbers of real and synthetic points, so that neither manifold is denser by count alone."""
    figures = {}
    for index in synthetic.targets.unique().tolist():
        real = holdout_features[holdout.targets == index]
        fake = synthetic_features[synthetic.targets == index]
        fake = fake[: max(len(real), k + 1)]  # each synthetic image is an independent draw: a prefix is a random sample
        mine = synthetic.targets == index
        figures[str(holdout.classes[index])] = {
            **precision_recall_coverage(real, fake, k),
            "label_agreement": (synthetic_predicted[mine] == index).float().mean().item(),
            "synthetic": int(mine.sum()), "holdout": int(len(real))}
    return figures


def mean_of_classes(per_class: dict) -> dict:
    coverage = {label: f["coverage"] for label, f in per_class.items() if not math.isnan(f["coverage"])}
    worst = min(coverage, key=coverage.get) if coverage else None
    means = {name: sum(f[name] for f in per_class.values()) / len(per_class)
             for name in ("precision", "recall", "coverage")}
    return means | {"worst_class": worst, "worst_class_coverage": coverage.get(worst, float("nan"))}


def augmentation_curve(train: ImageBatch, holdout: ImageBatch, synthetic: ImageBatch, fractions: list[float],
                       fit, seed: int, refit: Refit | None, merge: MergeConfig) -> dict:
    """Holdout accuracy with a share of the real train images: alone, with the synthetic images the merge policy
    adds to the share, and with as many shifted / rotated copies of the share's own images (see the module doc).

    Each point is a table scarcity-curve point (synthpipe.gate.scarcity): arms with 95% intervals over bootstrap
    resamples of the holdout images (one seeded, class-balanced share per fraction), the refit that made its
    synthetic images, and `leaky` when below 100% they are the run's own."""
    rows = np.random.default_rng(seed).integers(len(holdout.targets), size=(RESAMPLES, len(holdout.targets)))
    points = []
    for fraction in sorted(fractions if 1.0 in fractions else [*fractions, 1.0]):
        pick = balanced_subset(train.targets, fraction, seed)
        images, targets = train.images[pick], train.targets[pick]
        chosen = merge_picks(targets, synthetic.targets, merge, fraction)
        labels, added, refits = synthetic.targets[chosen], synthetic.images[chosen], []
        if fraction < 1 and refit is not None:
            added, record = refit(images, targets, labels, seed)
            refits.append(record)
        labels = labels[:len(added)]  # none when the refit failed
        share = f"{fraction:.0%} real"
        hits = {"real": correct(fit(images, targets, share), holdout),
                "synthetic": correct(fit(torch.cat([images, added]), torch.cat([targets, labels]),
                                         f"{share} + synthetic"), holdout),
                "shift_rotate": correct(fit(torch.cat([images, shifted_rotated(images, targets, labels, seed)]),
                                            torch.cat([targets, labels]), f"{share} + shifted / rotated"), holdout)}
        log.info("augmentation at %.0f%% real: %.3f alone, %.3f with %d synthetic, %.3f with shifted / rotated "
                 "copies", 100 * fraction, hits["real"].mean(), hits["synthetic"].mean(), len(added),
                 hits["shift_rotate"].mean())
        points.append(curve_point(fraction, len(pick), len(added), hits, rows, refits,
                                  leaky=fraction < 1 and refit is None))
    full = points[-1]  # every real train image: the training set merge builds
    return {"metric": "accuracy", "policy": merge.policy, "points": points, "fraction": full["fraction"],
            "gain": full["gain"], "real_score": full["real_score"], "augmented_score": full["augmented_score"],
            **scarcity_verdict(points, "accuracy", "images")}


def merge_picks(targets: torch.Tensor, generated: torch.Tensor, merge: MergeConfig, fraction: float) -> torch.Tensor:
    """Positions of the run's synthetic images that the merge policy adds to real images of classes `targets`,
    a `fraction` of the train images. Merge takes synthetic rows in file order (generate interleaves the
    classes), a class's first ones under `balance`; never more than were generated."""
    share = pd.DataFrame({"label": targets.cpu().numpy()})
    wanted = policy_demand(share, merge, "label", scale=fraction)
    generated = generated.cpu()
    if isinstance(wanted, int):
        return torch.arange(min(wanted, len(generated)))
    keep = torch.zeros(len(generated), dtype=torch.bool)
    for label, count in wanted.items():
        keep[(generated == label).nonzero().squeeze(1)[:count]] = True
    return keep.nonzero().squeeze(1)


def shifted_rotated(images: torch.Tensor, targets: torch.Tensor, labels: torch.Tensor, seed: int) -> torch.Tensor:
    """For each of `labels`, a random image of that class from `images`, shifted by up to MAX_SHIFT of its side
    and turned by up to MAX_DEGREES, as uint8. Edges repeat the border pixels: a photo's background is not black."""
    rng = torch.Generator().manual_seed(seed)
    targets, wanted = targets.cpu(), labels.cpu()
    picks = torch.empty(len(wanted), dtype=torch.long)
    for label in wanted.unique():
        members, slots = (targets == label).nonzero().squeeze(1), (wanted == label).nonzero().squeeze(1)
        picks[slots] = members[torch.randint(len(members), (len(slots),), generator=rng)]
    angle = (torch.rand(len(wanted), generator=rng) * 2 - 1) * math.radians(MAX_DEGREES)
    shift = (torch.rand(len(wanted), 2, generator=rng) * 2 - 1) * 2 * MAX_SHIFT  # the grid's coordinates span 2
    cos, sin = angle.cos(), angle.sin()
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    chosen = images[picks.to(images.device)].float()
    grid = F.affine_grid(theta.to(images.device), list(chosen.shape), align_corners=False)
    moved = F.grid_sample(chosen, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return moved.round().clamp(0, 255).to(torch.uint8)


def curve_point(fraction: float, real_rows: int, synthetic_rows: int, hits: dict[str, np.ndarray],
                resampled: np.ndarray, refits: list[dict], leaky: bool) -> dict:
    """One point of the curve from each arm's per-image correctness ("real" first); gains are paired with it."""
    real = hits["real"][resampled].mean(axis=1)
    arms = {}
    for name, correct_images in hits.items():
        scores = correct_images[resampled].mean(axis=1)
        arms[name] = {"score": float(correct_images.mean()), **percentile_interval("score", scores)}
        if name != "real":
            arms[name] |= {"gain": float(correct_images.mean() - hits["real"].mean()),
                           **percentile_interval("gain", scores - real)}
    gain = {key: arms["synthetic"][key] for key in ("gain", "gain_low", "gain_high")}
    return {"fraction": fraction, "real_rows": real_rows, "synthetic_rows": synthetic_rows, "leaky": leaky,
            "refits": refits, "arms": arms, "real_score": arms["real"]["score"],
            "augmented_score": arms["synthetic"]["score"], **gain}


def correct(model, holdout: ImageBatch) -> np.ndarray:
    """1.0 where `model` classifies a holdout image right, else 0.0."""
    return (predict(model, holdout.images)[1] == holdout.targets).float().cpu().numpy()


def gate_checks(report: dict, cfg: ImageValidateConfig) -> list[dict]:
    """Every thresholded figure as a check record (synthpipe.gate.checks); the FID ratio is reported only unless
    max_fid_ratio is set."""
    f, u, full = report["fidelity"], report["utility"], report["augmentation"]["points"][-1]
    return [
        expectations_check(report["expectations"]["results"], report["thresholds"]["max_failed_expectations"]),
        check("label agreement", f["label_agreement"], ">=", cfg.min_label_agreement, lambda v, t:
              f"label agreement {v:.3f} < min_label_agreement {t}: the real-trained classifier often sees "
              "another class"),
        check("CAS ratio", u["cas_ratio"], ">=", cfg.min_cas_ratio, lambda v, t:
              f"CAS {u['cas']:.3f} is {v:.2f} of the real-trained accuracy {u['real_accuracy']:.3f} "
              f"< min_cas_ratio {t}"),
        check("worst class coverage", f["worst_class_coverage"], ">=", cfg.min_class_coverage, lambda v, t:
              f"class '{f['worst_class']}' coverage {v:.3f} < min_class_coverage {t}: its synthetic images miss "
              "most of its real variety (mode collapse)"),
        check("augmentation gain, 95% upper bound", full["gain_high"], ">=", cfg.min_augmentation_gain, lambda v, t:
              f"adding the synthetic images to every real train image changes holdout accuracy by "
              f"{full['gain']:+.3f} (95% interval up to {v:+.3f} < min_augmentation_gain {t}): worse beyond noise"),
        check("FID ratio", f["fid"] / max(f["fid_real_baseline"], 1e-12), "<=", cfg.max_fid_ratio, lambda v, t:
              f"FID {f['fid']:.3f} is {v:.1f}x the real train-vs-holdout FID {f['fid_real_baseline']:.3f} "
              f"> max_fid_ratio {t}"),
    ]


def render_summary(report: dict) -> str:
    """reports/summary.md for images: verdict, reasons, headline figures, checks, per-class table, augmentation."""
    f, u, a = report["fidelity"], report["utility"], report["augmentation"]
    lines = [f"# Quality gate: {'PASSED' if report['passed'] else 'FAILED'}", ""]
    lines += [f"- {reason}" for reason in report["reasons"]] + ([""] if report["reasons"] else [])
    lines += [f"{report['counts']['synthetic']} synthetic images judged against {report['counts']['holdout']} real "
              f"holdout images by a CNN trained on the {report['counts']['train']} real train images.", "",
              "| figure | value |", "|---|---|",
              f"| FID in classifier features, synthetic vs holdout | {f['fid']:.3f} |",
              f"| FID, real train vs holdout (floor) | {f['fid_real_baseline']:.3f} |",
              f"| precision / recall / coverage (mean of classes) | {f['precision']:.3f} / {f['recall']:.3f} / "
              f"{f['coverage']:.3f} |",
              f"| worst class coverage | {f['worst_class_coverage']:.3f} (class {f['worst_class']}) |",
              f"| label agreement | {f['label_agreement']:.3f} |",
              f"| accuracy, trained on real train | {u['real_accuracy']:.3f} |",
              f"| CAS: accuracy, trained on synthetic only | {u['cas']:.3f} ({u['cas_ratio']:.2f} of real) |", ""]
    lines += checks_markdown(report)
    lines += ["## Per class", "", "| class | precision | recall | coverage | label agreement | synthetic | holdout |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {label} | {c['precision']:.3f} | {c['recall']:.3f} | {c['coverage']:.3f} | "
              f"{c['label_agreement']:.3f} | {c['synthetic']} | {c['holdout']} |"
              for label, c in report["classes"].items()]
    lines += augmentation_section(a, report["counts"]["synthetic"])
    lines += ["![real (left of the red bar) and synthetic images, one row per class](plots/samples.png)", "",
              f"![synthetic images above their nearest real train image](plots/nearest.png) (closest pair: "
              f"{f.get('nearest_real_ratio', float('nan')):.2f} of the median real-to-real nearest distance; "
              "near 0 is a copy)", "",
              "![augmentation curve](plots/augmentation.png)", ""]
    if "losses" in report.get("figures", {}):
        lines += ["![training losses](plots/training_losses.png)", ""]
    return "\n".join(lines)


def augmentation_section(curve: dict, synthetic: int) -> list[str]:
    """The curve as a table (score, and gain over real only with its 95% interval, per arm) and its provenance."""
    lines = ["## Augmentation: holdout accuracy", "", f"**{curve['verdict']}**", "",
             "| real train images | real only | real + synthetic | real + shifted / rotated copies |",
             "|---|---|---|---|"]
    lines += [f"| {p['fraction']:.0%} ({p['real_rows']}) | {p['arms']['real']['score']:.3f} | "
              f"{gain_cell(p['arms']['synthetic'])} | {gain_cell(p['arms']['shift_rotate'])} |"
              for p in curve["points"]]
    # One share and one fit per point: a user reading the interval must know what it leaves out.
    return lines + ["", "Gains over real only, with 95% intervals over holdout resamples; each point is one seeded "
                    "share and one fit of each model, so the spread that training itself adds is not in them. "
                    + provenance(curve, "images"), ""]

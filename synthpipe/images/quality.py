"""The image quality gate: a classifier trained on the real train split judges the synthetic images.

Figures: classifier-feature FID (synthetic vs real holdout, next to train vs holdout as the floor that sampling
alone gives), precision / recall / coverage per class, label agreement (does the real-trained classifier see the
class the generator was asked for?), CAS (a classifier trained only on synthetic images, scored on the real
holdout, next to the real-trained one) and the augmentation curve.
"""

from __future__ import annotations

import math

import torch

from synthpipe.config import ImageValidateConfig
from synthpipe.images.classifier import accuracy, predict, train_classifier
from synthpipe.images.codec import ImageBatch
from synthpipe.images.metrics import balanced_subset, frechet_distance, precision_recall_coverage


def assess_images(train: ImageBatch, holdout: ImageBatch, synthetic: ImageBatch, cfg: ImageValidateConfig,
                  seed: int) -> dict:
    """Every image figure and the gate's verdict. Batches share one class list and live on one device."""
    classes = len(train.classes)

    def fit(images: torch.Tensor, targets: torch.Tensor):
        return train_classifier(images, targets, classes, cfg.classifier_steps, cfg.classifier_batch, seed)

    judge = fit(train.images, train.targets)
    real_accuracy = accuracy(judge, holdout.images, holdout.targets)
    train_features, _ = predict(judge, train.images)
    holdout_features, _ = predict(judge, holdout.images)
    synthetic_features, synthetic_predicted = predict(judge, synthetic.images)
    fidelity = {"fid": frechet_distance(holdout_features, synthetic_features),
                "fid_real_baseline": frechet_distance(holdout_features, train_features),
                "label_agreement": (synthetic_predicted == synthetic.targets).float().mean().item()}
    per_class = per_class_figures(holdout, holdout_features, synthetic, synthetic_features, synthetic_predicted, cfg.neighbours)
    fidelity |= mean_of_classes(per_class)
    cas = accuracy(fit(synthetic.images, synthetic.targets), holdout.images, holdout.targets)
    utility = {"real_accuracy": real_accuracy, "cas": cas, "cas_ratio": cas / real_accuracy if real_accuracy else 0.0}
    curve = augmentation_curve(train, holdout, synthetic, cfg.augmentation_fractions, fit, seed)
    report = {"modality": "image", "passed": True, "reasons": [], "fidelity": fidelity, "utility": utility,
              "classes": per_class, "augmentation": curve,
              "counts": {"train": len(train.targets), "holdout": len(holdout.targets),
                         "synthetic": len(synthetic.targets)},
              "thresholds": cfg.model_dump(include={"min_label_agreement", "min_cas_ratio", "min_class_coverage",
                                                    "max_fid_ratio"})}
    report["reasons"] = gate_reasons(report, cfg)
    report["passed"] = not report["reasons"]
    return report


def per_class_figures(holdout: ImageBatch, holdout_features: torch.Tensor, synthetic: ImageBatch,
                      synthetic_features: torch.Tensor, synthetic_predicted: torch.Tensor, k: int) -> dict:
    """Precision / recall / coverage within each generated class, against the same class's real holdout images.
    Equal numbers of real and synthetic points, so that neither manifold is denser by count alone."""
    figures = {}
    for index in synthetic.targets.unique().tolist():
        real = holdout_features[holdout.targets == index]
        fake = synthetic_features[synthetic.targets == index]
        fake = fake[: max(len(real), k + 1)]  # every synthetic image is an independent draw: a prefix is a random sample
        mine = synthetic.targets == index
        figures[str(holdout.classes[index])] = {
            **precision_recall_coverage(real, fake, k),
            "label_agreement": (synthetic_predicted[mine] == index).float().mean().item(),
            "synthetic": int(mine.sum()), "holdout": int(len(real))}
    return figures


def mean_of_classes(per_class: dict) -> dict:
    coverage = {label: f["coverage"] for label, f in per_class.items() if not math.isnan(f["coverage"])}
    worst = min(coverage, key=coverage.get) if coverage else None
    return {name: sum(f[name] for f in per_class.values()) / len(per_class) for name in ("precision", "recall", "coverage")} | {
        "worst_class": worst, "worst_class_coverage": coverage.get(worst, float("nan"))}


def augmentation_curve(train: ImageBatch, holdout: ImageBatch, synthetic: ImageBatch, fractions: list[float],
                       fit, seed: int) -> list[dict]:
    """Holdout accuracy with a share of the real train images, alone and together with every synthetic image.
    The generator saw the whole train split: this measures what its images add to a smaller labelled set."""
    curve = []
    for fraction in sorted(fractions):
        pick = balanced_subset(train.targets, fraction, seed)
        real_images, real_targets = train.images[pick], train.targets[pick]
        alone = accuracy(fit(real_images, real_targets), holdout.images, holdout.targets)
        mixed = accuracy(fit(torch.cat([real_images, synthetic.images]), torch.cat([real_targets, synthetic.targets])),
                         holdout.images, holdout.targets)
        curve.append({"real_fraction": fraction, "real_images": len(pick), "accuracy_real": alone,
                      "accuracy_real_plus_synthetic": mixed, "gain": mixed - alone})
    return curve


def gate_reasons(report: dict, cfg: ImageValidateConfig) -> list[str]:
    fidelity, utility, reasons = report["fidelity"], report["utility"], []
    if fidelity["label_agreement"] < cfg.min_label_agreement:
        reasons.append(f"label agreement {fidelity['label_agreement']:.3f} < min_label_agreement "
                       f"{cfg.min_label_agreement}: the real-trained classifier often sees another class")
    if utility["cas_ratio"] < cfg.min_cas_ratio:
        reasons.append(f"CAS {utility['cas']:.3f} is {utility['cas_ratio']:.2f} of the real-trained accuracy "
                       f"{utility['real_accuracy']:.3f} < min_cas_ratio {cfg.min_cas_ratio}")
    coverage = fidelity["worst_class_coverage"]
    if not coverage >= cfg.min_class_coverage:  # also catches NaN: a class too small to measure
        reasons.append(f"class '{fidelity['worst_class']}' coverage {coverage:.3f} < min_class_coverage "
                       f"{cfg.min_class_coverage}: its synthetic images miss most of its real variety (mode collapse)")
    if cfg.max_fid_ratio is not None:
        ratio = fidelity["fid"] / max(fidelity["fid_real_baseline"], 1e-12)
        if ratio > cfg.max_fid_ratio:
            reasons.append(f"FID {fidelity['fid']:.3f} is {ratio:.1f}x the real train-vs-holdout FID "
                           f"{fidelity['fid_real_baseline']:.3f} > max_fid_ratio {cfg.max_fid_ratio}")
    return reasons


def render_summary(report: dict) -> str:
    """reports/summary.md for images: verdict, reasons, headline figures, per-class table, augmentation curve."""
    f, u = report["fidelity"], report["utility"]
    lines = [f"# Quality gate: {'PASSED' if report['passed'] else 'FAILED'}", ""]
    lines += [f"- {reason}" for reason in report["reasons"]] + ([""] if report["reasons"] else [])
    lines += [f"{report['counts']['synthetic']} synthetic images judged against {report['counts']['holdout']} real "
              f"holdout images by a CNN trained on the {report['counts']['train']} real train images.", "",
              "| figure | value |", "|---|---|",
              f"| FID in classifier features, synthetic vs holdout | {f['fid']:.3f} |",
              f"| FID, real train vs holdout (floor) | {f['fid_real_baseline']:.3f} |",
              f"| precision / recall / coverage (mean of classes) | {f['precision']:.3f} / {f['recall']:.3f} / {f['coverage']:.3f} |",
              f"| worst class coverage | {f['worst_class_coverage']:.3f} (class {f['worst_class']}) |",
              f"| label agreement | {f['label_agreement']:.3f} |",
              f"| accuracy, trained on real train | {u['real_accuracy']:.3f} |",
              f"| CAS: accuracy, trained on synthetic only | {u['cas']:.3f} ({u['cas_ratio']:.2f} of real) |", "",
              "## Per class", "", "| class | precision | recall | coverage | label agreement | synthetic | holdout |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {label} | {c['precision']:.3f} | {c['recall']:.3f} | {c['coverage']:.3f} | {c['label_agreement']:.3f} "
              f"| {c['synthetic']} | {c['holdout']} |" for label, c in report["classes"].items()]
    lines += ["", "## Augmentation: holdout accuracy", "", "| real train images | real only | real + synthetic | gain |",
              "|---|---|---|---|"]
    lines += [f"| {p['real_fraction']:.0%} ({p['real_images']}) | {p['accuracy_real']:.3f} | "
              f"{p['accuracy_real_plus_synthetic']:.3f} | {p['gain']:+.3f} |" for p in report["augmentation"]]
    lines += ["", "The generator was trained on the whole real train split; the curve shows what its images add when "
              "fewer real labels are used for the classifier.", "",
              "![samples, one row per class](plots/samples.png)", "", "![augmentation curve](plots/augmentation.png)", ""]
    return "\n".join(lines)

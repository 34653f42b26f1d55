"""Images on real handwritten digits: ingest of both layouts, the conditional GAN, the quality figures, the stages."""

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from synthpipe.config import (
    ImageConfig,
    ImageGenerateConfig,
    ImageTrainConfig,
    ImageValidateConfig,
    MergeConfig,
    SourceConfig,
)
from synthpipe.errors import GateFailed, InputError
from synthpipe.gate.checks import artifact_tables
from synthpipe.images.classifier import accuracy, predict, train_classifier
from synthpipe.images.codec import ImageBatch, table_to_batch
from synthpipe.images.diffusion import ImageDiffusionShape, UNet
from synthpipe.images.diffusion import sample_images as sample_diffusion
from synthpipe.images.families import fit_image_model, load_image_model, save_image_model
from synthpipe.images.figures import nearest_neighbours, sample_grid
from synthpipe.images.folders import load_images
from synthpipe.images.metrics import frechet_distance, precision_recall_coverage
from synthpipe.images.model import Generator, ImageGanShape, sample_images
from synthpipe.images.quality import assess_images, merge_picks


@pytest.fixture(autouse=True)
def one_thread():
    # Small convolutions on a shared 2-core machine: one thread is many times faster than two that wait on each other.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits():
    """The 1,797 real 8x8 digits as uint8 (N, 8, 8) with their labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return np.round(bunch.images * (255 / 16)).astype(np.uint8), bunch.target


def digit_folder(root, digits, size, per_class):
    """Real digits, upscaled to size x size, as root/<digit>/<n>.png."""
    images, labels = digits
    for label in range(10):
        (root / str(label)).mkdir(parents=True)
        for n, index in enumerate(np.flatnonzero(labels == label)[:per_class]):
            scan = Image.fromarray(images[index]).resize((size, size), Image.Resampling.BICUBIC)
            scan.save(root / str(label) / f"{n}.png")
    return root


def real_batch(digits, rows=slice(None)) -> ImageBatch:
    images, labels = digits
    return ImageBatch(torch.from_numpy(images[rows]).unsqueeze(1), torch.from_numpy(labels[rows]).long(),
                      list(range(10)))


@pytest.mark.parametrize("size", [28, 32])
def test_ingest_class_folders_resizes_and_labels_by_folder(tmp_path, digits, size):
    root = digit_folder(tmp_path / "digits", digits, size, per_class=6)
    (root / "notes.txt").write_text("not an image")  # files beside the class folders are ignored
    table = load_images(SourceConfig(format="folder", path=str(root)), "label", ImageConfig(size=16))
    assert len(table) == 60 and list(table.columns) == ["image", "label", "height", "width"]
    assert table["label"].value_counts().to_dict() == {str(d): 6 for d in range(10)}
    assert (table["height"] == 16).all() and (table["width"] == 16).all()
    first = Image.open(io.BytesIO(table["image"].iloc[0]))
    assert first.format == "PNG" and first.size == (16, 16) and first.mode == "L"
    # Downscaled, the first 0 still matches the real scan upscaled to 16 (same digit, not noise).
    expected = np.asarray(Image.fromarray(digits[0][0]).resize((16, 16), Image.Resampling.BICUBIC), dtype=float)
    assert np.abs(np.asarray(first, dtype=float) - expected).mean() < 12


def test_ingest_folder_at_its_own_size_is_lossless_and_can_be_rgb(tmp_path, digits):
    root = digit_folder(tmp_path / "digits", digits, 32, per_class=2)
    table = load_images(SourceConfig(format="folder", path=str(root)), "label", ImageConfig(size=32))
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(table["image"].iloc[0]))),
                          np.asarray(Image.open(root / "0" / "0.png")))
    rgb = load_images(SourceConfig(format="folder", path=str(root)), "label", ImageConfig(size=32, channels=3))
    batch = table_to_batch(rgb, "label", 3, [str(d) for d in range(10)], "rgb")
    assert batch.images.shape == (20, 3, 32, 32) and batch.targets.tolist()[:4] == [0, 0, 1, 1]


def test_ingest_parquet_table_of_png_bytes(tmp_path, digits):
    root = digit_folder(tmp_path / "digits", digits, 28, per_class=3)
    rows = [{"png": (root / d / f"{n}.png").read_bytes(), "digit": int(d)} for d in "0123456789" for n in range(3)]
    pd.DataFrame(rows).to_parquet(tmp_path / "digits.parquet")
    source = SourceConfig(format="parquet", path=str(tmp_path / "digits.parquet"))
    table = load_images(source, "digit", ImageConfig(size=8, column="png"))
    assert len(table) == 30 and table["digit"].tolist()[:4] == [0, 0, 0, 1] and (table["height"] == 8).all()
    with pytest.raises(InputError, match=r"digits\.parquet: column\(s\) \['image'\] not found"):
        load_images(source, "digit", ImageConfig(size=8))
    pd.DataFrame({"png": [b"not a png"], "digit": [1]}).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(InputError, match=r"bad\.parquet column 'png' row 0: not a readable image"):
        load_images(SourceConfig(format="parquet", path=str(tmp_path / "bad.parquet")), "digit",
                    ImageConfig(size=8, column="png"))


@pytest.mark.parametrize("size,channels", [(8, 1), (16, 3), (32, 1)])
def test_conditional_generator_output_shape_and_range(size, channels):
    generator = Generator(ImageGanShape(size=size, channels=channels, classes=10, noise_dim=16, width=8)).eval()
    labels = np.array([3, 1, 4, 1, 5])
    images = sample_images(generator, labels, noise_dim=16, seed=0)
    assert images.shape == (5, channels, size, size) and images.dtype == np.uint8
    # The label changes the image; the same seed and label give the same image, in any chunking.
    assert not np.array_equal(images[1], sample_images(generator, np.array([3, 2, 4, 1, 5]), 16, seed=0)[1])
    assert np.array_equal(images, sample_images(generator, labels, noise_dim=16, seed=0, chunk=2))


@pytest.mark.parametrize("size,channels", [(8, 1), (16, 3), (32, 1), (64, 3)])
def test_diffusion_network_output_shape_range_and_determinism(size, channels):
    shape = ImageDiffusionShape(size=size, channels=channels, classes=10, width=8)
    torch.manual_seed(0)
    network = UNet(shape).eval()
    for p in network.parameters():  # past the identity start, so the label reaches the output
        p.data.add_(torch.randn_like(p) * 0.1)
    labels = np.array([3, 1, 4, 1, 5])
    images = sample_diffusion(network, labels, shape, steps=3, guidance=2.0, seed=0)
    assert images.shape == (5, channels, size, size) and images.dtype == np.uint8
    assert not np.array_equal(images[1], sample_diffusion(network, np.array([3, 2, 4, 1, 5]), shape, 3, 2.0, 0)[1])
    assert np.array_equal(images, sample_diffusion(network, labels, shape, 3, 2.0, seed=0, chunk=2))
    assert not np.array_equal(images, sample_diffusion(network, labels, shape, 3, 1.0, seed=0))  # guidance acts


@pytest.mark.parametrize("model", ["gan", "diffusion"])
def test_same_seed_same_images_on_cpu_and_after_loading(tmp_path, digits, model):
    batch = real_batch(digits, slice(0, 256))
    cfg = ImageTrainConfig(model=model, epochs=2, batch_size=64, noise_dim=16, width=8)
    runs = [fit_image_model(batch.images, batch.targets, 10, cfg, seed=s) for s in (5, 5, 6)]
    labels = np.arange(10).repeat(3)
    sampling = ImageGenerateConfig(sampling_steps=4)
    a, b, c = (run.sample(labels, 1, sampling) for run in runs)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert [r["epoch"] for r in runs[0].history] == [1, 2]
    assert all(np.isfinite(r["loss"]) for r in runs[0].history)
    save_image_model(runs[0], tmp_path, {"seed": 5})
    loaded, config = load_image_model(tmp_path, torch.device("cpu"))
    assert loaded.shape == runs[0].shape and len(config["run_id"]) == 16 and config["format"] == runs[0].format
    assert np.array_equal(loaded.sample(labels, 1, sampling), a)
    weights = tmp_path / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + bytes([weights.read_bytes()[-1] ^ 1]))  # one bit flipped
    with pytest.raises(InputError, match="weights.safetensors: was modified after the model was saved"):
        load_image_model(tmp_path, torch.device("cpu"))


@pytest.mark.parametrize("model,settings", [("gan", {"epochs": 8, "noise_dim": 32, "width": 16}),
                                            ("diffusion", {"epochs": 8, "min_steps": 0, "width": 16})])
def test_a_trained_model_draws_the_requested_digit(digits, model, settings):
    """A short training run on the real digits: a classifier trained on real digits mostly sees the asked-for class."""
    train, holdout = real_batch(digits, slice(0, 1400)), real_batch(digits, slice(1400, None))
    cfg = ImageConfig(size=8, train={"model": model, **settings}).train  # the 8 px preset's rest
    fitted = fit_image_model(train.images, train.targets, 10, cfg, seed=0)
    judge = train_classifier(train.images, train.targets, 10, steps=150, batch=128, seed=0)
    assert accuracy(judge, holdout.images, holdout.targets) > 0.9
    labels = np.arange(10).repeat(20)
    images = torch.from_numpy(fitted.sample(labels, 3, ImageGenerateConfig()))
    agreement = (predict(judge, images)[1].numpy() == labels).mean()
    assert agreement > 0.6, agreement  # chance is 0.1


def test_feature_metrics_on_real_digits(digits):
    train, holdout = real_batch(digits, slice(0, 1400)), real_batch(digits, slice(1400, None))
    judge = train_classifier(train.images, train.targets, 10, steps=150, batch=128, seed=0)
    train_f, holdout_f = predict(judge, train.images)[0], predict(judge, holdout.images)[0]
    sevens_f = predict(judge, train.images[train.targets == 7])[0]
    # Real vs real is close; a set of only sevens is far from the mixed holdout.
    assert frechet_distance(holdout_f, train_f) < frechet_distance(holdout_f, sevens_f) / 5
    real_sevens = holdout_f[holdout.targets == 7]
    fair = precision_recall_coverage(real_sevens, sevens_f[:60], k=5)
    assert fair["precision"] > 0.7 and fair["recall"] > 0.7 and fair["coverage"] > 0.7
    # Mode collapse: one seven repeated covers little of the real sevens' variety.
    collapsed = precision_recall_coverage(real_sevens, sevens_f[:1].repeat(60, 1), k=5)
    assert collapsed["coverage"] < 0.2 and collapsed["recall"] < 0.2


def test_figures_draw_square_pixels_real_beside_synthetic_and_show_copies(tmp_path, digits):
    images, labels = digits
    real, fake = (images[:500, None], labels[:500]), (images[500:700, None], labels[500:700])
    sample_grid(real, fake, list(range(10)), real_columns=3, columns=5, path=tmp_path / "grid.png")
    grid = np.asarray(Image.open(tmp_path / "grid.png"))
    # 8x8 images at 7x7 screen pixels each: label, 3 real, separator, 5 synthetic; a header and one row per class.
    assert grid.shape[:2] == (16 + 10 * (56 + 2), 48 + 3 * 58 + 12 + 5 * 58)
    first = grid[16:16 + 56, 48:48 + 56, 0]
    assert (first == np.kron(images[np.flatnonzero(labels[:500] == 0)[0]], np.ones((7, 7)))).all()
    assert tuple(grid[100, 48 + 3 * 58 + 5]) == (200, 30, 30)  # the red bar between real and synthetic
    copies = nearest_neighbours(real[0], (real[0][:40], real[1][:40]), list(range(10)), 2, tmp_path / "near.png")
    fresh = nearest_neighbours(real[0], fake, list(range(10)), 2, tmp_path / "near.png")
    assert copies == 0.0 and 0.5 < fresh < 2.0, fresh
    assert Image.open(tmp_path / "near.png").size == (48 + 2 * (56 + 6), 16 + 10 * (2 * 56 + 8))


def test_shifted_rotated_copies_keep_each_class_and_move_its_images(digits):
    from synthpipe.images.quality import shifted_rotated

    flat = torch.tensor([0, 255], dtype=torch.uint8).repeat_interleave(64).view(2, 1, 8, 8)  # one black, one white
    labels = torch.tensor([1, 0, 1, 1, 0])
    copies = shifted_rotated(flat, torch.tensor([0, 1]), labels, seed=0)
    assert copies.dtype == torch.uint8 and copies.shape == (5, 1, 8, 8)
    assert (copies.flatten(1) == 255 * labels[:, None]).all()  # from the asked class; edges repeat the border
    batch = real_batch(digits, slice(0, 200))
    images, targets = batch.images, batch.targets
    moved = shifted_rotated(images, targets, targets, seed=1)
    assert torch.equal(moved, shifted_rotated(images, targets, targets, seed=1))  # seeded
    distinct = {bytes(image.numpy()) for image in moved}
    assert len(distinct) == len(moved)  # every copy moved its own way
    brightness = moved.float().mean(dim=(1, 2, 3)) / images.float().mean(dim=(1, 2, 3)).mean()
    assert 0.6 < brightness.mean() < 1.4  # moved and turned, not cropped away


def test_the_curve_adds_to_each_share_what_the_merge_policy_would():
    generated = torch.tensor([0, 1, 2] * 4)  # interleaved, as generate writes them
    share = torch.tensor([0] * 6 + [1] * 2 + [2] * 2)
    assert merge_picks(share, generated, MergeConfig(synthetic_ratio=0.5), 0.1).tolist() == [0, 1, 2, 3, 4]
    assert len(merge_picks(share, generated, MergeConfig(synthetic_ratio=5.0), 0.1)) == 12  # no more than made
    size = MergeConfig(policy="size", target_rows=100)
    assert merge_picks(share, generated, size, 0.15).tolist() == [0, 1, 2, 3, 4]  # 100 x 0.15 - 10 real images
    balanced = merge_picks(share, generated, MergeConfig(policy="balance"), 0.1)
    assert generated[balanced].tolist() == [1, 2] * 4  # up to class 0's six images: four more of 1 and of 2


def test_gate_passes_real_images_and_fails_mislabelled_ones(digits):
    """Real train digits as 'synthetic' pass; the same images with shifted labels fail on label agreement and CAS."""
    train, holdout = real_batch(digits, slice(0, 1000)), real_batch(digits, slice(1400, None))
    others = real_batch(digits, slice(1000, 1400))
    cfg = ImageValidateConfig(classifier_steps=80, classifier_batch=64, augmentation_fractions=[0.25])
    report = assess_images(train, holdout, others, cfg, seed=0)
    assert report["passed"] and report["reasons"] == [], report["reasons"]
    assert report["utility"]["real_accuracy"] > 0.9 and report["utility"]["cas_ratio"] > 0.85
    assert report["fidelity"]["label_agreement"] > 0.9 and report["fidelity"]["worst_class_coverage"] > 0.4
    # The table gate's check records: every threshold judged, the FID ratio reported with no limit.
    checks = {c["check"]: c for c in report["checks"]}
    assert list(checks) == ["expectations failed", "label agreement", "CAS ratio", "worst class coverage",
                            "augmentation gain, 95% upper bound", "FID ratio"]
    gain = checks["augmentation gain, 95% upper bound"]
    full_point = report["augmentation"]["points"][-1]
    assert gain["value"] == full_point["gain_high"] > full_point["gain"]
    assert gain["limit"] == ">= 0.0" and gain["passed"] is True  # more real digits do not lower accuracy
    assert all(set(c) == {"check", "value", "limit", "passed", "reason"} for c in checks.values())
    assert checks["label agreement"] == {"check": "label agreement", "value": report["fidelity"]["label_agreement"],
                                         "limit": ">= 0.8", "passed": True, "reason": None}
    assert checks["CAS ratio"]["value"] == report["utility"]["cas_ratio"] and checks["CAS ratio"]["limit"] == ">= 0.7"
    assert checks["expectations failed"]["value"] == 0 and checks["expectations failed"]["passed"] is True
    fid = checks["FID ratio"]
    assert fid["passed"] is None and fid["limit"] is None
    assert fid["value"] == pytest.approx(report["fidelity"]["fid"] / report["fidelity"]["fid_real_baseline"])
    # The table curve's record: the asked-for share, then all real images (the set merge builds).
    curve = report["augmentation"]
    assert curve["metric"] == "accuracy" and [p["fraction"] for p in curve["points"]] == [0.25, 1.0]
    point, full = curve["points"]
    assert point["real_rows"] == pytest.approx(250, abs=5) and full["real_rows"] == 1000
    # The default merge policy (one synthetic image per real one) at each share, never more than were generated.
    assert point["synthetic_rows"] == point["real_rows"] and full["synthetic_rows"] == 400
    assert point["leaky"] and not full["leaky"] and curve["policy"] == "ratio"
    assert point["real_score"] > 0.8 and point["augmented_score"] > 0.8 and full["real_score"] > 0.9
    assert point["gain"] == pytest.approx(point["augmented_score"] - point["real_score"])
    assert point["gain_low"] < point["gain"] < point["gain_high"] and point["gain_high"] - point["gain_low"] < 0.2
    assert point["arms"]["synthetic"]["gain"] == point["gain"] and point["refits"] == []  # no refit: leaky
    assert list(point["arms"]) == ["real", "synthetic", "shift_rotate"]
    baseline = point["arms"]["shift_rotate"]
    assert baseline["gain"] == pytest.approx(baseline["score"] - point["real_score"]) and baseline["score"] > 0.8
    assert (curve["scarce_fraction"], curve["scarce_gain"], curve["best_baseline"]) == (0.25, point["gain"],
                                                                                        "shift_rotate")
    assert curve["verdict"].startswith("At 25% of the real images, synthetic images ")
    assert curve["verdict"].endswith(f"shifted / rotated copies ({baseline['gain']:+.3f}) (a leaky curve: the "
                                     "generator saw all the real images).")
    assert (curve["gain"], curve["real_score"]) == (full["gain"], full["real_score"])
    # One Prefect artifact table for both modalities.
    tables = artifact_tables(report)
    assert [row["result"] for row in tables["quality-figures"][0]] == ["pass"] * 5 + ["reported"]
    assert [(row["fraction"], row["arm"]) for row in tables["augmentation-curve"][0]] == [
        (f, arm) for f in (0.25, 1.0) for arm in ("real", "synthetic", "shift_rotate")]
    assert set(report["classes"]) == {str(d) for d in range(10)}
    wrong = ImageBatch(others.images, (others.targets + 1) % 10, others.classes)
    failed = assess_images(train, holdout, wrong, cfg, seed=0)
    assert not failed["passed"] and failed["fidelity"]["label_agreement"] < 0.1
    verdicts = {c["check"]: c["passed"] for c in failed["checks"]}
    assert verdicts == {"expectations failed": True, "label agreement": False, "CAS ratio": False,
                        "worst class coverage": verdicts["worst class coverage"],
                        "augmentation gain, 95% upper bound": False, "FID ratio": None}  # wrong labels lower accuracy
    assert failed["reasons"] == [c["reason"] for c in failed["checks"] if c["passed"] is False]
    assert failed["reasons"][0].startswith(f"label agreement {failed['fidelity']['label_agreement']:.3f} < "
                                           "min_label_agreement 0.8")
    assert failed["reasons"][1].startswith(f"CAS {failed['utility']['cas']:.3f} is ")


def test_refresh_on_an_image_folder_is_recorded_by_dvc_and_a_failed_gate_blocks_merge(tmp_path, monkeypatch, digits,
                                                                                      prefect_harness):
    """The six stages on 28x28 digit scans in class folders, as a flow run that DVC records: every image output
    is a declared DVC output, so afterwards `dvc repro` has nothing to do."""
    import yaml

    from flows.refresh import refresh
    from synthpipe.config import load_params
    from synthpipe.gate.summary import format_summary
    from synthpipe.images import stages as images
    from synthpipe.io import file_hash, read_json
    from synthpipe.stages import run_stage
    from tests.conftest import REPO, make_project
    from tests.test_dvc import dvc, stages_run

    folder = digit_folder(tmp_path / "digits", digits, 28, per_class=80)
    root = make_project(tmp_path / "project")
    params = yaml.safe_load((REPO / "params-digits.yaml").read_text())
    params["data"]["source"] = {"format": "folder", "path": str(folder)}
    params["image"]["train"] |= {"epochs": 12, "min_steps": 0, "width": 16}
    params["image"]["generate"]["per_class"] = 30
    params["image"]["validate"] |= {"classifier_steps": 60, "augmentation_fractions": [0.5, 1.0],
                                    "min_label_agreement": 0.3, "min_cas_ratio": 0.3, "min_class_coverage": 0.05,
                                    "min_augmentation_gain": None}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    monkeypatch.chdir(root)

    summary = refresh()
    quality = read_json("reports/quality.json")
    assert quality["modality"] == "image" and quality["passed"], quality["reasons"]
    assert quality["fidelity"]["label_agreement"] > 0.3
    assert quality["inputs"]["synthetic"]["sha256"] == file_hash("data/synthetic/digits.parquet")
    assert quality["counts"] == {"train": 640, "holdout": 160, "synthetic": 300}
    assert Image.open("reports/plots/samples.png").size[1] == 16 + 10 * (56 + 2)  # a header, one row per class
    assert Image.open("reports/plots/nearest.png").size[1] == 16 + 10 * (2 * 56 + 8)
    assert Path("reports/plots/augmentation.png").exists() and Path("models/digits/weights.safetensors").exists()
    assert Image.open("reports/plots/training_losses.png").size[0] > 300
    assert "![training losses](plots/training_losses.png)" in Path("reports/summary.md").read_text()
    merged = pd.read_parquet("data/merged/train.parquet")
    real = pd.read_parquet("data/prepared/train.parquet")
    assert merged["is_synthetic"].sum() == 300 and summary["merge"]["synthetic"] == 300
    pd.testing.assert_frame_equal(merged[~merged["is_synthetic"]].drop(columns=["is_synthetic", "generator_run"]), real)
    assert re.search(r"gate       PASSED: 4/4 checks passed; expectations failed 0, label agreement [\d.]+, "
                     r"CAS ratio [\d.]+, worst class coverage [\d.]+, FID ratio [\d.]+ ", format_summary(summary))
    assert re.search(r"accuracy   holdout accuracy: real 0\.\d{3}, real \+ synthetic 0\.\d{3} \([+-]0\.\d{3}\)",
                     format_summary(summary))
    assert summary["validate"]["checks"] == [{key: c[key] for key in ("check", "value", "limit", "passed")}
                                             for c in quality["checks"]]
    # Below 100% the curve's synthetic images come from the run's settings fitted on that share alone.
    scarce = quality["augmentation"]["points"][0]
    assert not scarce["leaky"] and [(r["family"], r["rows"], r["epochs"]) for r in scarce["refits"]] == [
        ("image diffusion", 320, 12)]
    assert "50%: 1 refit on the subset alone (image diffusion 12 epochs" in Path("reports/summary.md").read_text()
    assert stages_run(dvc("repro")) == [] and "label_agreement" in dvc("metrics", "show", "--json").stdout
    assert quality["expectations"]["failed"] == 0 and Path("reports/data_docs/index.html").exists()

    # A stricter gate fails: the reports say why, and merge refuses.
    strict = load_params(overrides=["image.validate.min_label_agreement=1.0"])
    with pytest.raises(GateFailed, match="label agreement"):
        images.validate(strict.paths.prepared, strict.paths.synthetic, strict.paths.quality, strict.paths.summary,
                        strict.image, strict.seed, expectations_dir=Path("gx"))
    assert "# Quality gate: FAILED" in Path("reports/summary.md").read_text()
    with pytest.raises(GateFailed):
        run_stage("merge", strict)


def test_image_settings_are_validated_with_the_key_named(tmp_path):
    from synthpipe.config import load_params
    from synthpipe.errors import ConfigError
    from tests.conftest import REPO

    digits_params = load_params(REPO / "params-digits.yaml")
    assert digits_params.data.modality == "image" and digits_params.image.size == 8
    path = tmp_path / "params.yaml"
    path.write_text("data: {modality: image, target: label, source: {format: folder, path: imgs}}\nimage: {size: 28}\n")
    with pytest.raises(ConfigError, match=r"image: Value error, size must be one of 8, 16, 32, 64, 128 \(got 28\)"):
        load_params(path)
    path.write_text("data: {source: {format: folder, path: imgs}}\n")
    with pytest.raises(ConfigError,
                       match=r"data: Value error, source.format 'folder' reads images: set data.modality: image"):
        load_params(path)
    path.write_text("data: {modality: image, target: label, source: {format: csv, path: x.csv}}\n")
    with pytest.raises(ConfigError, match=r"images come from 'example', 'folder' or 'parquet' sources, not 'csv'"):
        load_params(path)


def test_image_size_picks_the_model_defaults_and_keys_set_in_the_params_win(tmp_path):
    from synthpipe.config import DEFAULT_IMAGE_MODEL, IMAGE_PRESETS, load_params
    from tests.conftest import REPO

    for model, presets in IMAGE_PRESETS.items():
        for size, preset in presets.items():
            assert ImageConfig(size=size, train={"model": model}).train.model_dump(include=set(preset)) == preset
    for size, preset in IMAGE_PRESETS[DEFAULT_IMAGE_MODEL].items():
        assert ImageConfig(size=size).train.model_dump(include=set(preset)) == preset
    assert ImageTrainConfig().width == IMAGE_PRESETS[DEFAULT_IMAGE_MODEL][32]["width"]  # no size known: the default's
    mine = ImageConfig(size=32, train={"model": "gan", "width": 24, "epochs": 5}).train
    assert (mine.width, mine.epochs, mine.batch_size, mine.gradient_penalty_every) == (24, 5, 64, 4)
    digits_train = load_params(REPO / "params-digits.yaml").image.train
    assert (digits_train.model, digits_train.width, digits_train.epochs) == ("diffusion", 32, 60)
    mnist = load_params(REPO / "params-mnist.yaml")
    assert (mnist.data.source.example, mnist.image.size, mnist.image.train.width) == ("mnist", 32, 32)


def test_image_stages_run_on_their_cpu_threads_and_give_the_previous_count_back(monkeypatch):
    from synthpipe.config import load_params
    from synthpipe.images import stages as images
    from tests.conftest import REPO

    seen = []
    monkeypatch.setattr(images, "ingest", lambda *args: seen.append(torch.get_num_threads()) or {})
    torch.set_num_threads(2)
    images.run("ingest", load_params(REPO / "params-digits.yaml", ["image.cpu_threads=1"]))
    assert seen == [1] and torch.get_num_threads() == 2

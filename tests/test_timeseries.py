"""Time series (data.modality: timeseries): checks, entity hold-out, fresh ids, seeds, resume, the flow, `synthpipe
refresh --ci` and `dvc repro` / `dvc exp run`."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file

from synthpipe.config import parse_params
from synthpipe.errors import InputError
from synthpipe.io import read_json
from synthpipe.stages import run_stage
from tests.conftest import make_project, run_cli
from tests.test_dvc_deps import dvc

# Small and fast: a short GRU run, windows of 8 steps; the gate keeps its default thresholds except the
# discriminative score, which 60 epochs on 8 entities do not bring down to the default, and the privacy ratio,
# whose baseline (2 held-out random walks) is too noisy here to hold at the default.
SETTINGS = {
    "data": {"name": "shops", "source": {"format": "csv", "path": "shops.csv", "example": None}, "target": None,
             "modality": "timeseries"},
    "timeseries": {"entity": "shop", "time": "day", "context": ["region"], "window": 8, "stride": 4,
                   "train": {"epochs": 60, "batch_size": 32, "hidden": 16, "cpu_threads": 1, "checkpoint_every": 5},
                   "validate": {"max_discriminative_score": 0.5, "min_privacy_ratio": 0.2,
                                "classifier_iterations": 20}},
}


def shops(entities: int = 10, seed: int = 0) -> pd.DataFrame:
    """A long table: shops of two regions, irregular integer days, sales with nulls, an open/closed state."""
    rng = np.random.default_rng(seed)
    lengths = 20 + 4 * (np.arange(entities) % 3)
    owner = np.repeat(np.arange(entities), lengths)
    first = np.repeat(np.cumsum(lengths) - lengths, lengths)
    day = pd.Series(rng.integers(1, 3, len(owner))).groupby(owner).cumsum().to_numpy()
    sales = pd.Series(rng.normal(0, 1, len(owner))).groupby(owner).cumsum().to_numpy() + 5 * (owner % 2)
    names = np.array([f"s{i}" for i in range(entities)], dtype=object)
    names[1] = "syn-0"  # a real id that looks like a synthetic one: generated ids must skip it
    return pd.DataFrame({
        "shop": names[owner], "day": day, "region": np.where(owner % 2, "north", "south"),
        "sales": np.where(rng.random(len(owner)) < 0.1, np.nan, sales),
        "state": np.where(np.arange(len(owner)) - first < 3, "closed", "open"),
    })


@pytest.fixture
def shop_project(tmp_path, monkeypatch):
    root = make_project(tmp_path / "project", SETTINGS)
    shops().to_csv(root / "shops.csv", index=False)
    monkeypatch.chdir(root)
    return root


def params(**timeseries):
    return parse_params({**SETTINGS, "timeseries": {**SETTINGS["timeseries"], **timeseries}})


@pytest.mark.parametrize(("change", "column", "entity", "problem"), [
    (lambda df: pd.concat([df, df.iloc[[3]]]), "day", "s0", "same time twice"),
    (lambda df: df.assign(day=df["day"].astype(str) + "d"), "day", None, "cannot be ordered"),
    (lambda df: df.assign(region=np.where(df.index == 30, "east", df["region"])), "region", "syn-0", "changes"),
    (lambda df: df[~((df["shop"] == "s2") & (df["day"] > 6))], "shop", "s2", "too short"),
])
def test_bad_input_names_column_and_entity_and_writes_nothing(shop_project, change, column, entity, problem):
    change(shops()).to_csv("shops.csv", index=False)
    with pytest.raises(InputError) as error:
        run_stage("ingest", params())
    message = str(error.value)
    assert f"'{column}'" in message and problem in message and (entity is None or repr(entity) in message)
    assert error.value.exit_code == 2 and not Path("data/raw").exists()


def test_cli_exit_code_2_on_duplicate_times(shop_project):
    pd.concat([shops(), shops().iloc[[40]]]).to_csv("shops.csv", index=False)
    finished = run_cli("stage", "ingest", cwd=shop_project)
    assert finished.returncode == 2, finished.stderr
    assert "column 'day': entity 'syn-0' has the same time twice" in finished.stderr
    assert not Path("data/raw").exists()


def test_entities_held_out_fresh_ids_and_seeds_reproduce(shop_project, tmp_path):
    p = params()
    for stage in ("ingest", "preprocess", "train", "generate"):
        run_stage(stage, p)
    train, holdout = pd.read_parquet("data/prepared/train.parquet"), pd.read_parquet("data/prepared/holdout.parquet")
    held = set(holdout["shop"])
    assert len(held) == 2 and not held & set(train["shop"])  # 20% of 10 shops, whole
    windows = load_file("data/prepared/windows.safetensors")
    # Windows of the 8 train shops only; 8 steps and the one before; sales + null flag, open/closed, the gap in
    # days + a flag for its most common value (a point mass).
    assert set(np.unique(windows["entity"]).tolist()) == set(range(8)) and windows["steps"].shape[1:] == (9, 6)

    synthetic = pd.read_parquet("data/synthetic/shops.parquet")
    assert list(synthetic.columns) == list(train.columns) and (synthetic.dtypes == train.dtypes).all()
    ids = synthetic["shop"].unique().tolist()
    assert len(ids) == 8 and ids[:2] == ["syn-1", "syn-2"] and not set(ids) & set(shops()["shop"])
    assert (synthetic.groupby("shop")["day"].diff().dropna() >= 1).all()  # times strictly increase
    assert (synthetic.groupby("shop")["region"].nunique() == 1).all()  # context stays static

    # Same seed, same weights and the same rows, from a fresh fit.
    first = {path: Path(path).read_bytes() for path in ("models/shops/weights.safetensors",
                                                        "data/synthetic/shops.parquet")}
    for stage in ("train", "generate"):
        run_stage(stage, p)
    assert {path: Path(path).read_bytes() for path in first} == first

    for stage in ("validate", "merge"):
        run_stage(stage, p)
    merged = pd.read_parquet("data/merged/train.parquet")
    assert not held & set(merged["shop"])
    real = merged[~merged["is_synthetic"]].drop(columns=["is_synthetic", "generator_run"])
    pd.testing.assert_frame_equal(real, train)
    assert set(merged.loc[merged["is_synthetic"], "shop"]) == set(ids)
    assert merged["generator_run"].dropna().unique().tolist() == [read_json("models/shops/config.json")["run_id"]]


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_interrupted_fit_resumes_from_its_checkpoint(shop_project, tmp_path, schedule):
    import torch

    from synthpipe.device import resolve_device
    from synthpipe.timeseries.codec import Codec
    from synthpipe.timeseries.model import Windows, fit_series
    from synthpipe.training import Checkpoints

    p = params()
    for stage in ("ingest", "preprocess"):
        run_stage(stage, p)
    arrays = {k: torch.from_numpy(v) for k, v in load_file("data/prepared/windows.safetensors").items()}
    data = Windows(arrays["steps"], arrays["valid"], arrays["timing"], arrays["entity"].long(), arrays["condition"])
    codec = Codec.from_dict(read_json("data/prepared/series.json")["steps"])
    cfg, device = p.timeseries.train.model_copy(update={"schedule": schedule}), resolve_device("cpu")
    whole, _ = fit_series(data, codec, cfg, 7, device)

    class Killed(Exception):
        pass

    def kill_at_epoch_12(record: dict) -> None:
        if record["epoch"] == 12:
            raise Killed

    checkpoints = Checkpoints(tmp_path / "ckpt", "gru", "same-config-and-data")
    with pytest.raises(Killed):
        fit_series(data, codec, cfg, 7, device, checkpoints, kill_at_epoch_12)
    assert read_json(checkpoints.path / "state.json")["epoch"] == 10
    resumed, history = fit_series(data, codec, cfg, 7, device, checkpoints)
    assert [r["epoch"] for r in history] == list(range(1, 61)) and not checkpoints.path.exists()
    for key, value in whole.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


def test_refresh_flow_runs_the_six_stages_and_merges(shop_project, prefect_harness):
    from flows.refresh import refresh

    Path("params-shops.yaml").write_text(Path("params.yaml").read_text())
    summary = refresh(params_file="params-shops.yaml")
    assert summary["validate"]["passed"] is True
    assert summary["merge"]["real"] == len(pd.read_parquet("data/prepared/train.parquet"))
    assert summary["merge"]["synthetic_entities"] == 8
    quality = read_json("reports/quality.json")
    assert {c["check"] for c in quality["checks"]} >= {"ACF distance", "discriminative score", "predictive ratio",
                                                       "privacy ratio", "expectations failed"}
    assert quality["expectations"]["evaluated"] > 0 and 0 <= quality["fidelity"]["discriminative_score"] <= 0.5
    assert all(Path(f"reports/plots/{name}.png").exists() for name in ("sequences", "acf", "marginals"))


def test_single_series_holds_out_its_last_part(shop_project):
    one = shops().query("shop == 's0'").drop(columns=["shop", "region"])
    one.to_csv("shops.csv", index=False)
    p = params(entity=None, context=[])
    run_stage("ingest", p)
    summary = run_stage("preprocess", p)
    train, holdout = pd.read_parquet("data/prepared/train.parquet"), pd.read_parquet("data/prepared/holdout.parquet")
    assert (len(train), len(holdout)) == (16, 4) and summary["windows"] == 3  # 20% of 20 steps; windows at 0, 4, 8
    assert train["day"].max() < holdout["day"].min()


def test_decoded_numbers_keep_the_precision_the_real_values_were_recorded_with():
    from synthpipe.timeseries.codec import Codec

    rng = np.random.default_rng(0)
    real = pd.DataFrame({"temp": np.round(rng.normal(55, 6, 200), 1),  # a reading to 0.1 degrees
                         "price": rng.lognormal(3, 1, 200),  # full float precision
                         "visits": rng.integers(0, 9, 200)})
    codec = Codec.fit(real)
    assert [c.decimals for c in codec.columns] == [1, None, None]
    noisy = codec.encode(real) + rng.normal(0, 0.05, (200, codec.input_width)).astype(np.float32)
    drawn = codec.decode(noisy)
    assert np.allclose(drawn["temp"], np.round(drawn["temp"], 1), rtol=0, atol=1e-9)  # on the 0.1 grid, in float64
    assert not np.allclose(drawn["price"], np.round(drawn["price"], 6), rtol=0, atol=1e-12)
    assert (drawn["visits"] == np.round(drawn["visits"])).all() and drawn["visits"].dtype == real["visits"].dtype
    assert Codec.from_dict(codec.to_dict()).columns[0].decimals == 1  # saved with the model as JSON


def test_privacy_compares_window_paths_so_a_trend_is_no_copy_and_a_shifted_copy_is():
    from synthpipe.timeseries.quality import nearest_distances, window_privacy

    def windows(steps: int, seed: int, width: int = 12) -> np.ndarray:
        """A trending random walk (a scaled feature) and a rare 0/1 state, cut into windows every 4 steps."""
        rng = np.random.default_rng(seed)
        walk = 0.004 * np.arange(steps) + np.cumsum(rng.normal(0, 0.02, steps))
        features = np.stack([walk, (rng.random(steps) < 0.05).astype(float)], axis=1)
        return np.stack([features[i:i + width] for i in range(0, steps - width + 1, 4)])

    numbers = np.array([True, False])
    series = windows(500, seed=0)
    train, holdout = series[:97], series[100:]  # a single series: its last fifth held out, where the trend took it
    honest = windows(400, seed=10)  # the same dynamics, never seen: no copy
    by_level = np.median(nearest_distances(train, honest)) / np.median(nearest_distances(train, holdout))
    assert by_level < 0.5  # compared by level, the held-out windows' new level made honest windows look copied
    assert window_privacy(train, honest, holdout, numbers)["ratio"] > 0.8
    shifted_copies = train + np.array([0.5, 0.0])  # train windows moved up: copies all the same
    assert window_privacy(train, shifted_copies, holdout, numbers)["ratio"] < 0.01
    noisy_copies = train + np.random.default_rng(2).normal(0, 0.002, train.shape) * numbers
    assert window_privacy(train, noisy_copies, holdout, numbers)["ratio"] < 0.3


@pytest.fixture
def api_url(prefect_harness):
    """The session's Prefect test server, for `synthpipe refresh` subprocesses: they pay no server start-up."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


def stages_run(dvc_output: str) -> list[str]:
    return [line.split("'")[1] for line in dvc_output.splitlines() if line.startswith("Running stage")]


def test_refresh_ci_exit_codes_then_dvc_agrees_and_an_experiment_retrains(shop_project, api_url):
    """`synthpipe refresh --ci` as a CI job runs it (bad input, failed gate, passed), then DVC on what it recorded:
    `dvc repro` has nothing to do and `dvc exp run` retrains through dvc.yaml's stage commands."""
    def refresh(*overrides: str) -> tuple[int, dict]:
        sets = [arg for override in overrides for arg in ("--set", override)]
        finished = run_cli("refresh", "--ci", *sets, cwd=shop_project, env={"PREFECT_API_URL": api_url})
        return finished.returncode, json.loads(finished.stdout)

    outputs = ("data", "models", "reports", "gx", "dvc.lock")
    pd.concat([shops(), shops().iloc[[40]]]).to_csv("shops.csv", index=False)
    code, report = refresh()
    assert (code, report["status"]) == (2, "bad_input") and "entity 'syn-0' has the same time twice" in report["error"]
    assert not [name for name in outputs if Path(name).exists()]

    shops().to_csv("shops.csv", index=False)
    code, report = refresh("timeseries.validate.max_acf_distance=0")  # no two sets of sequences meet it
    assert (code, report["status"]) == (3, "gate_failed") and "merge" not in report["summary"]
    assert len(report["reasons"]) == 1 and "mean autocorrelation difference" in report["reasons"][0]
    assert not Path("data/merged").exists() and read_json("reports/quality.json")["passed"] is False
    assert report["summary"]["validate"]["path"].endswith("reports/report.html")
    assert not Path("dvc.lock").exists()  # a run with --set is not recorded in DVC

    # With the project's own params.yaml the run is recorded in DVC: each stage wrote every output dvc.yaml declares.
    code, report = refresh()
    assert (code, report["status"]) == (0, "merged") and report["summary"]["validate"]["passed"] is True
    assert report["summary"]["merge"]["synthetic_entities"] == 8 and Path("data/merged/train.parquet").exists()
    assert "Data and pipelines are up to date." in dvc("repro", cwd=shop_project)

    # An experiment starts from a commit; only the stages a training parameter reaches run.
    first = read_json("models/shops/config.json")
    for command in (["config", "user.name", "synthpipe tests"], ["config", "user.email", "tests@synthpipe.invalid"],
                    ["add", "-A"], ["commit", "-qm", "baseline"]):
        subprocess.run(["git", *command], cwd=shop_project, check=True)
    ran = stages_run(dvc("exp", "run", "-S", "timeseries.train.epochs=100", cwd=shop_project))
    assert ran == ["train", "generate", "validate", "merge"]
    second = read_json("models/shops/config.json")
    assert (first["epochs_run"], second["epochs_run"]) == (60, 100) and second["run_id"] != first["run_id"]
    changed = json.loads(dvc("metrics", "diff", "--json", cwd=shop_project))["reports/quality.json"]
    assert changed["fidelity.acf_distance"]["new"] != changed["fidelity.acf_distance"]["old"]
    assert "passed" not in changed  # both runs passed the gate

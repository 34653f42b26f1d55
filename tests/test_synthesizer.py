"""The public TabularSynthesizer API on real data: round trips, exact conditions, balance, seeds, odd columns."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from synthpipe import TabularSynthesizer
from synthpipe.config import TrainConfig
from synthpipe.errors import ConfigError, InputError
from synthpipe.io import write_manifest
from synthpipe.tabular.synthesizer import selection_splits

FAST = {"epochs": 3, "min_steps": 0, "batch_size": 100, "generator_dims": [32, 32], "critic_dims": [32, 32],
        "noise_dim": 16, "vae_dims": [32, 32], "latent_dim": 16, "diffusion_steps": 200, "diffusion_batch_size": 100,
        "diffusion_dims": [32, 32], "sampling_steps": 5}


@pytest.fixture(scope="module", params=["gan", "vae", "copula", "diffusion"])
def fitted(request, penguins):
    return TabularSynthesizer(model=request.param, seed=5, **FAST).fit(penguins, target="species")


def test_round_trip_fit_save_load_sample(fitted, penguins, tmp_path):
    fitted.save(tmp_path / "model")
    files = sorted(p.name for p in (tmp_path / "model").iterdir())
    assert files == ["config.json", "manifest.json", "transformer.json", "weights.safetensors"]
    loaded = TabularSynthesizer.load(tmp_path / "model")
    assert loaded.model == fitted.model and loaded.info["target"] == "species"
    rows = loaded.sample(300, seed=1)
    pd.testing.assert_frame_equal(rows, fitted.sample(300, seed=1))  # the loaded model is the same model
    assert len(rows) == 300 and list(rows.columns) == list(penguins.columns)
    assert (rows.dtypes == penguins.dtypes).all()
    assert set(rows["island"].dropna()) <= set(penguins["island"])
    assert rows["body_mass_g"].dropna().between(penguins["body_mass_g"].min(), penguins["body_mass_g"].max()).all()


def test_conditions_are_exact(fitted):
    rows = fitted.sample(257, conditions={"species": "Chinstrap", "island": "Dream"}, chunk_rows=100)
    assert len(rows) == 257 and (rows["species"] == "Chinstrap").all() and (rows["island"] == "Dream").all()
    assert fitted.sample(5, conditions={"sex": None})["sex"].isna().all()  # null is a state like any other


def test_balance_gives_equal_classes(fitted):
    counts = fitted.sample(300, balance="target")["species"].value_counts()
    assert sorted(counts.to_dict().items()) == [("Adelie", 100), ("Chinstrap", 100), ("Gentoo", 100)]


def test_same_seed_same_rows_other_seed_differs(fitted, penguins):
    again = TabularSynthesizer(model=fitted.model, seed=5, **FAST).fit(penguins, target="species")
    pd.testing.assert_frame_equal(again.sample(200, seed=3), fitted.sample(200, seed=3))
    assert not fitted.sample(200, seed=3).equals(fitted.sample(200, seed=4))


def test_bad_requests_name_the_problem(fitted):
    with pytest.raises(InputError, match="column 'island' has no value 'Atlantis'|value 'Atlantis' was not seen"):
        fitted.sample(10, conditions={"island": "Atlantis"})
    with pytest.raises(InputError, match="column 'body_mass_g' is continuous; only categorical"):
        fitted.sample(10, conditions={"body_mass_g": 4000.0})
    with pytest.raises(InputError, match="positive whole number"):
        fitted.sample(0)


def test_unknown_option_is_a_config_error():
    with pytest.raises(ConfigError, match="epochs"):
        TabularSynthesizer(model="gan", epochs=0)
    with pytest.raises(ConfigError, match="model"):
        TabularSynthesizer(model="ddpm")


def test_auto_selects_by_held_out_score_and_records_why(penguins, tmp_path):
    synthesizer = TabularSynthesizer(model="auto", seed=1, **FAST).fit(penguins, target="species")
    selection = synthesizer.info["selection"]
    assert set(selection["scores"]) == {"copula", "gan", "vae", "diffusion"}
    best = max(selection["scores"], key=lambda f: selection["scores"][f]["score"])
    assert synthesizer.model == selection["chosen"] == best
    assert selection["held_out_rows"] == 69 and "utility" in selection["scores"]["gan"]
    assert selection["splits"] == 3  # 69 held-out rows are too few for one split to rank the families
    for s in selection["scores"].values():
        assert 0.3 < s["detection"] < 1 and 0 <= s["realism"] <= 1
        assert len(s["split_scores"]) == 3 and s["score"] == pytest.approx(np.mean(s["split_scores"]))
    assert selection["reason"].startswith(f"{best} had the best held-out score")
    assert "mean of 3 seeded splits" in selection["reason"]
    synthesizer.save(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["selection"]["chosen"] == best


def test_auto_scores_a_small_table_on_several_splits_and_a_large_one_on_one(penguins):
    cfg = TrainConfig()
    numbered = penguins.assign(row=np.arange(len(penguins)))  # the splits renumber their rows
    splits = selection_splits(numbered, "species", cfg, seed=1)
    assert len(splits) == cfg.selection_splits == 3
    held_out = [frozenset(part["row"]) for _, part in splits]
    assert len(set(held_out)) == 3  # different rows held out each time
    for (fit_part, part), rows in zip(splits, held_out):
        assert not rows & set(fit_part["row"]) and len(fit_part) + len(part) == len(penguins)
    assert len(selection_splits(penguins, "species", cfg.model_copy(update={"selection_splits_below": 69}), 1)) == 1
    assert len(selection_splits(penguins, "species", cfg.model_copy(update={"selection_splits": 1}), 1)) == 1


@pytest.fixture(scope="module")
def awkward():
    """Nulls in every kind, datetimes with a timezone, a 5000-level categorical and a boolean."""
    rng = np.random.default_rng(0)
    n = 6000
    frame = pd.DataFrame({
        "amount": np.where(rng.random(n) < 0.1, np.nan, rng.lognormal(3, 1, n).round(2)),
        "count": pd.array(np.where(rng.random(n) < 0.05, None, rng.integers(0, 20, n)), dtype="Int64"),
        "when": pd.Series(pd.to_datetime("2023-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D"))
        .dt.tz_localize("Asia/Tokyo"),
        "customer": pd.Series([f"c{i}" for i in rng.zipf(1.3, n) % 5000], dtype="str"),
        "flag": rng.random(n) < 0.2,
        "kind": pd.Series(rng.choice(["x", "y", None], n, p=[0.6, 0.3, 0.1]), dtype="str"),
    })
    frame.loc[rng.random(n) < 0.05, "when"] = pd.NaT
    return frame


@pytest.mark.parametrize("model", ["gan", "vae", "copula"])
def test_nulls_datetimes_and_high_cardinality(awkward, model, tmp_path):
    # 1,033 customers would make an identifier column (drawn fresh): kept, they test the category path.
    synthesizer = TabularSynthesizer(model=model, seed=2, max_categories=50, identifiers="keep", **FAST).fit(awkward)
    synthesizer.save(tmp_path / "m")
    encoded_width = sum(span.width for span in synthesizer._fitted().transformer.spans)
    assert encoded_width < 100  # 5000 customers cost 50 slots + "other", not 5000 columns
    rows = TabularSynthesizer.load(tmp_path / "m").sample(3000)
    assert (rows.dtypes == awkward.dtypes).all()
    assert str(rows["when"].dt.tz) == "Asia/Tokyo" and (rows["when"].dropna().dt.hour == 0).all()
    for column in ("amount", "count", "when", "kind"):
        assert 0 < rows[column].isna().mean() < 0.35, column
    assert set(rows["customer"]) <= set(awkward["customer"])
    kept = synthesizer._fitted().transformer.codec("customer")
    assert rows["customer"].nunique() > len(kept.kept)  # rare customers come back through "other"
    rare = awkward["customer"].value_counts().index[-1]
    assert (synthesizer.sample(20, conditions={"customer": rare})["customer"] == rare).all()


def test_loading_needs_no_pickle_and_maps_to_cpu(penguins, tmp_path, monkeypatch):
    TabularSynthesizer(model="gan", seed=1, **FAST).fit(penguins).save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    config["device"] = "cuda:0"  # as written by a GPU training run: weights are stored from the CPU either way
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    write_manifest(tmp_path / "m")
    assert not (tmp_path / "m" / "weights.safetensors").read_bytes().startswith(b"\x80")  # no pickle header

    def refuse(*args, **kwargs):
        raise AssertionError("torch.load (pickle) must not be used")

    monkeypatch.setattr(torch, "load", refuse)
    loaded = TabularSynthesizer.load(tmp_path / "m", device="cpu")
    generator = loaded._fitted().modules["generator"]
    assert {p.device.type for p in generator.parameters()} == {"cpu"}
    assert len(loaded.sample(50)) == 50



def test_auto_skips_a_family_the_data_is_too_small_for(penguins):
    tiny = penguins.dropna().iloc[:12]  # 9 rows left after holding out: fewer than the GAN's pac of 10
    synthesizer = TabularSynthesizer(model="auto", seed=1, **FAST).fit(tiny)
    scores = synthesizer.info["selection"]["scores"]
    assert scores["gan"]["score"] is None and "fewer than train.pac=10" in scores["gan"]["skipped"]
    assert synthesizer.model in ("copula", "vae", "diffusion") and len(synthesizer.sample(7)) == 7


def test_copula_models_each_target_class_apart(penguins, tmp_path):
    synthesizer = TabularSynthesizer(model="copula", seed=0).fit(penguins, target="species")
    copula = synthesizer._fitted().copula
    assert copula.class_column == "species" and len(copula.classes) == 3  # every species has >= 10 rows
    synthesizer.save(tmp_path / "m")
    rows = TabularSynthesizer.load(tmp_path / "m").sample(3000, seed=0)
    # Gentoo are the heavy penguins in the real data and must stay so: per-class marginals keep that.
    real = penguins.groupby("species")["body_mass_g"].mean()
    fake = rows.groupby("species")["body_mass_g"].mean()
    assert (fake - real).abs().max() < 150 and fake.idxmax() == "Gentoo"
    shares = rows["species"].value_counts(normalize=True) - penguins["species"].value_counts(normalize=True)
    assert shares.abs().max() < 0.04


@pytest.mark.parametrize("model", ["copula", "vae", "diffusion"])
def test_a_whole_number_label_is_conditioned_and_balanced_exactly(penguins, model):
    """A 0/1 target stored as integers is a label: exact conditions and balance work, its dtype stays int64."""
    table = penguins.dropna().assign(heavy=lambda df: (df["body_mass_g"] > 4500).astype("int64"))
    synthesizer = TabularSynthesizer(model=model, seed=0, **FAST).fit(table, target="heavy")
    balanced = synthesizer.sample(400, balance="target")
    assert balanced["heavy"].dtype == np.int64 and balanced["heavy"].value_counts().to_dict() == {0: 200, 1: 200}
    assert (synthesizer.sample(50, conditions={"heavy": 1})["heavy"] == 1).all()
    if model == "copula":  # one copula per class: the heavy class keeps its heavier bodies
        rows = synthesizer.sample(2000, seed=1)
        assert rows.groupby("heavy")["body_mass_g"].mean().diff().iloc[-1] > 1000


def test_cpu_threads_apply_while_fitting_only(penguins):
    before = torch.get_num_threads()
    seen = []
    synthesizer = TabularSynthesizer(model="vae", seed=0, cpu_threads=1, **FAST)
    synthesizer.fit(penguins, on_epoch=lambda record: seen.append(torch.get_num_threads()))
    assert seen == [1] * 3 and torch.get_num_threads() == before and synthesizer.info["seconds"] > 0


@pytest.mark.parametrize("model", ["gan", "vae", "copula", "diffusion"])
def test_an_all_numeric_table_without_nulls_fits_and_samples(model):
    """scikit-learn's diabetes: ten numbers and a numeric target, no category and no null to model."""
    from sklearn.datasets import load_diabetes

    table = load_diabetes(as_frame=True).frame
    synthesizer = TabularSynthesizer(model=model, seed=0, **FAST).fit(table, target="target")
    rows = synthesizer.sample(50, seed=0)
    assert list(rows.columns) == list(table.columns) and rows.notna().all().all()
    assert rows["bmi"].between(table["bmi"].min(), table["bmi"].max()).all()


def test_the_diffusion_sampler_computes_what_the_trained_denoiser_does(penguins):
    """Sampling runs the denoiser through SamplingNet (weights cast once, the time layer once per step, into the
    first layer's bias): its output must be the denoiser's own under the training's mixed precision."""
    from synthpipe.device import compute_dtype, mixed_precision
    from synthpipe.tabular.diffusion import SamplingNet

    model = TabularSynthesizer(model="diffusion", seed=5, **FAST).fit(penguins, target="species")._model
    denoiser, shape = model.denoiser, model.shape
    device = torch.device("cpu")
    rng = torch.Generator().manual_seed(0)
    numbers = torch.randn(333, len(shape.numbers), generator=rng)
    cats = torch.stack([torch.randint(w + 1, (333,), generator=rng) for w in shape.widths], dim=1)  # + mask token
    net = SamplingNet(denoiser.eval(), compute_dtype(device))
    for t in (1.0, 0.55, 0.05):
        with torch.no_grad(), mixed_precision(device):
            expected = denoiser(numbers, cats, torch.full((333,), t)).float()
        # Up to bfloat16 rounding (one unit in the last place of outputs of up to ~4): the sampler adds the time
        # to the first layer's bias before the product, not to its output, so the last bits can round differently.
        torch.testing.assert_close(net(numbers, cats, net.time_shift(t)), expected, rtol=1 / 64, atol=1 / 32)


def test_diffusion_draws_a_few_valued_number_as_a_category_of_its_values(penguins):
    """The year (three values, some null) is one categorical variable of the diffusion: its rows take only the
    seen years, nulls included, in about the real shares."""
    table = penguins.assign(year=penguins["year"].astype("Int64").mask(np.arange(len(penguins)) % 10 == 0))
    model = TabularSynthesizer(model="diffusion", seed=5, **FAST).fit(table, target="species")
    assert "year" in model._model.shape.categories and "year" not in model._model.shape.numbers
    rows = model.sample(3000, seed=0)
    assert rows["year"].dtype == table["year"].dtype
    assert set(rows["year"].dropna()) <= {2007, 2008, 2009}
    shares = rows["year"].value_counts(normalize=True, dropna=False)
    real = table["year"].value_counts(normalize=True, dropna=False)
    assert (shares - real).abs().max() < 0.1, (shares, real)


def test_auto_utility_ranks_rows_whose_target_is_noise_below_rows_that_keep_it():
    from sklearn.datasets import load_diabetes

    from synthpipe.schema import infer_kinds
    from synthpipe.tabular.scoring import R2_FLOOR, utility

    diabetes = load_diabetes(as_frame=True, scaled=False).frame
    fit_part, held_out = diabetes.iloc[:300], diabetes.iloc[300:].reset_index(drop=True)
    kinds = infer_kinds(held_out)
    rng = np.random.default_rng(0)
    # Rows with real columns whose target is drawn from far too wide a spread: worse than predicting the mean.
    noise = fit_part.assign(target=rng.normal(fit_part["target"].mean(), 3 * fit_part["target"].std(), 300))
    shuffled = fit_part.assign(target=rng.permutation(fit_part["target"].to_numpy()))
    kept, broken, scrambled = (utility(rows, held_out, "target", kinds) for rows in (fit_part, noise, shuffled))
    assert 0.2 < kept < 0.6  # diabetes progression is only partly predictable
    # Below 0 the scores still rank: clipped at 0, both broken candidates would tie.
    assert R2_FLOOR <= broken < scrambled < 0 < kept

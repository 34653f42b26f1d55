import json

import numpy as np
import pandas as pd
import pytest

from synthpipe.errors import InputError
from synthpipe.tabular.transform import TableTransformer

RNG = np.random.default_rng(0)


@pytest.fixture
def mixed() -> pd.DataFrame:
    """One column of every kind, most of them with nulls."""
    rng = np.random.default_rng(0)
    n = 200
    frame = pd.DataFrame({
        "measure": rng.normal(10, 3, n).round(2),
        "raw_float": rng.normal(0, 1, n),
        "count": rng.integers(0, 50, n),
        "maybe_count": pd.array(np.where(rng.random(n) < 0.2, None, rng.integers(0, 9, n)), dtype="Int64"),
        "label": pd.Series(rng.choice(["a", "b", "c"], n), dtype="str"),
        "level": pd.Categorical(rng.choice(["low", "high"], n), categories=["low", "mid", "high"]),
        "flag": rng.random(n) < 0.3,
        "when": pd.date_range("2024-03-01", periods=n, freq="37min", tz="America/New_York"),
        "day": pd.Series(pd.date_range("2020-01-01", periods=n, freq="D")).astype("datetime64[s]"),
    })
    frame.loc[[3, 50, 120], "measure"] = np.nan
    frame.loc[[7, 8], "label"] = None
    frame.loc[[11], "when"] = pd.NaT
    return frame


def test_round_trip_restores_every_kind_with_nulls(mixed):
    transformer = TableTransformer.fit(mixed)
    decoded = transformer.decode(transformer.encode(mixed), RNG)
    # raw_float has no decimal pattern to restore: equal to the float32 precision of the encoded matrix
    # (what the models consume); everything else exactly.
    pd.testing.assert_frame_equal(decoded.drop(columns="raw_float"), mixed.drop(columns="raw_float"))
    np.testing.assert_allclose(decoded["raw_float"], mixed["raw_float"], rtol=1e-5, atol=1e-6)
    assert decoded["when"].isna().sum() == 1 and decoded["label"].isna().sum() == 2


def test_round_trip_survives_json(mixed):
    transformer = TableTransformer.fit(mixed)
    restored = TableTransformer.from_dict(json.loads(json.dumps(transformer.to_dict())))
    matrix = transformer.encode(mixed)
    pd.testing.assert_frame_equal(restored.decode(matrix, RNG), transformer.decode(matrix, RNG))
    assert restored.output_names == transformer.output_names


def test_encoding_layout_matches_spans(mixed):
    transformer = TableTransformer.fit(mixed)
    matrix = transformer.encode(mixed)
    assert matrix.shape == (len(mixed), sum(span.width for span in transformer.spans))
    assert matrix.shape[1] == len(transformer.output_names)
    # categorical blocks are one-hot: label has 3 categories + a null slot
    start = transformer.output_names.index("label#0")
    block = matrix[:, start : start + 4]
    assert set(np.unique(block)) == {0.0, 1.0} and (block.sum(axis=1) == 1).all()
    assert block[7, 3] == 1.0  # row 7 is null -> the null slot


def test_decoding_respects_range_rounding_and_dtype(mixed):
    transformer = TableTransformer.fit(mixed)
    noisy = transformer.encode(mixed) + np.random.default_rng(1).normal(0, 3,
                                                                        (len(mixed), len(transformer.output_names)))
    decoded = transformer.decode(noisy, RNG)
    assert decoded["count"].dtype == np.int64
    assert decoded["count"].between(mixed["count"].min(), mixed["count"].max()).all()
    assert np.allclose(decoded["measure"].dropna(), decoded["measure"].dropna().round(2))
    assert (decoded["day"].dt.normalize() == decoded["day"]).all()  # whole days stay whole days
    assert str(decoded["when"].dtype) == str(mixed["when"].dtype)
    assert set(decoded["level"].cat.categories) == {"low", "mid", "high"}


def test_unseen_category_is_a_clear_error(mixed):
    transformer = TableTransformer.fit(mixed)
    other = mixed.assign(label=mixed["label"].fillna("a").replace({"a": "zzz"}))
    with pytest.raises(InputError, match="column 'label': value 'zzz' was not seen"):
        transformer.encode(other)


def test_all_null_column_is_rejected_by_name():
    with pytest.raises(InputError, match="column 'empty': every value is null"):
        TableTransformer.fit(pd.DataFrame({"empty": [np.nan, np.nan], "x": [1.0, 2.0]}))


def test_bimodal_column_gets_a_mode_per_peak_and_round_trips():
    rng = np.random.default_rng(2)
    values = np.concatenate([rng.normal(-50, 1, 3000), rng.normal(80, 5, 1000)]).round(3)
    frame = pd.DataFrame({"x": values, "y": rng.normal(0, 1, 4000).round(3)})
    transformer = TableTransformer.fit(frame, mode_fit_rows=1000)
    modes = transformer.codec("x").modes
    means = np.array(modes["means"]) * transformer.codec("x").std + transformer.codec("x").mean
    assert len(means) >= 2 and np.abs(means - (-50)).min() < 2 and np.abs(means - 80).min() < 5
    assert sum(modes["weights"]) == pytest.approx(1.0)
    decoded = transformer.decode(transformer.encode(frame), RNG)
    np.testing.assert_allclose(decoded["x"], frame["x"], atol=1e-3)


def test_high_cardinality_keeps_top_levels_and_draws_rare_ones_by_frequency():
    rng = np.random.default_rng(3)
    common = rng.choice(["a", "b", "c"], 20_000)
    rare = np.array([f"id{i:05d}" for i in range(20_000)])  # 20k levels seen once each
    frame = pd.DataFrame({"code": np.concatenate([common, rare])})
    transformer = TableTransformer.fit(frame, max_categories=10)
    codec = transformer.codec("code")
    assert codec.width == 11 and transformer.encode(frame).shape == (40_000, 11)  # 10 levels + "other"
    other = np.zeros((50_000, 11), dtype=np.float32)
    other[:, 10] = 1.0
    drawn = transformer.decode(other, np.random.default_rng(0))["code"]
    kept = {codec.categories[i] for i in codec.kept}
    assert {"a", "b", "c"} <= kept and not set(drawn) & kept
    assert drawn.nunique() > 10_000 and set(drawn) <= set(frame["code"])  # only real levels, spread widely


def test_datetimes_keep_dtype_timezone_and_resolution():
    stamps = pd.Series(pd.to_datetime("2024-01-01") + pd.to_timedelta(np.arange(500) * 1_234_567, unit="ms"))
    frame = pd.DataFrame({"t": stamps.dt.tz_localize("Europe/Paris"),
                          "day": pd.Series(pd.date_range("1990-01-01", periods=500,
                                                         freq="7D")).astype("datetime64[s]")})
    transformer = TableTransformer.fit(frame)
    decoded = transformer.decode(transformer.encode(frame), RNG)
    assert decoded.dtypes.tolist() == frame.dtypes.tolist()  # unit and timezone too
    pd.testing.assert_series_equal(decoded["day"], frame["day"])  # whole days: exact
    # Milliseconds over a week exceed float32's precision: on the millisecond grid, within a few of the truth.
    assert (decoded["t"].dt.microsecond % 1000 == 0).all()
    assert (decoded["t"] - frame["t"]).abs().max() < pd.Timedelta("20ms")


def test_a_column_of_few_values_gets_one_mode_per_value():
    """Ten components start at quantiles, so five values start with two each; twins start empty and die out."""
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"grade": rng.integers(1, 6, 300).astype(float), "noise": rng.normal(0, 1, 300)})
    transformer = TableTransformer.fit(frame, max_modes=10)
    codec = transformer.codec("grade")
    means = np.array(codec.modes["means"]) * codec.std + codec.mean
    np.testing.assert_allclose(means, [1, 2, 3, 4, 5], atol=1e-3)
    np.testing.assert_allclose(transformer.decode(transformer.encode(frame), RNG)["grade"], frame["grade"], atol=1e-3)


def test_a_few_valued_number_is_restored_to_its_frequent_values_only():
    """Ratings 1-5 (and one rating of 2.5, seen once) come back as ratings 1-5 from any model output; a measurement
    with a value per row is not few-valued and keeps its rounding."""
    rng = np.random.default_rng(3)
    rating = rng.integers(1, 6, 2000).astype(float)
    rating[0] = 2.5
    frame = pd.DataFrame({"rating": rating, "measure": rng.normal(0, 1, 2000).round(3)})
    transformer = TableTransformer.fit(frame)
    assert transformer.codec("rating").levels == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert transformer.codec("measure").levels is None
    noisy = transformer.encode(frame) + rng.normal(0, 1, (len(frame), len(transformer.output_names)))
    decoded = transformer.decode(noisy, RNG)
    assert set(decoded["rating"]) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert decoded["measure"].nunique() > 1000
    assert TableTransformer.from_dict(json.loads(json.dumps(transformer.to_dict()))).codec("rating").levels == \
        [1.0, 2.0, 3.0, 4.0, 5.0]

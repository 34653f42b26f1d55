import json

import numpy as np
import pandas as pd
import pytest

from synthpipe.errors import InputError
from synthpipe.transform import TableTransformer


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
    decoded = transformer.decode(transformer.encode(mixed))
    # raw_float has no decimal pattern to restore: equal to float precision, everything else exactly.
    pd.testing.assert_frame_equal(decoded.drop(columns="raw_float"), mixed.drop(columns="raw_float"))
    np.testing.assert_allclose(decoded["raw_float"], mixed["raw_float"], rtol=1e-12)
    assert decoded["when"].isna().sum() == 1 and decoded["label"].isna().sum() == 2


def test_round_trip_survives_json(mixed):
    transformer = TableTransformer.fit(mixed)
    restored = TableTransformer.from_dict(json.loads(json.dumps(transformer.to_dict())))
    matrix = transformer.encode(mixed)
    pd.testing.assert_frame_equal(restored.decode(matrix), transformer.decode(matrix))
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
    noisy = transformer.encode(mixed) + np.random.default_rng(1).normal(0, 3, (len(mixed), len(transformer.output_names)))
    decoded = transformer.decode(noisy)
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

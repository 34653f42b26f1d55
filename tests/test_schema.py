import pandas as pd

from synthpipe.schema import infer_kinds, schema_drift, snapshot


def test_kinds_are_inferred_from_dtypes(penguins):
    frame = penguins.assign(
        when=pd.Timestamp("2024-01-01"), flag=penguins["year"] > 2008,
        maybe=pd.Series([True, None] * (len(penguins) // 2), dtype=object),
    )
    assert infer_kinds(frame) == {
        "species": "categorical", "island": "categorical", "bill_length_mm": "continuous",
        "bill_depth_mm": "continuous", "flipper_length_mm": "continuous", "body_mass_g": "continuous",
        "sex": "categorical", "year": "discrete", "when": "datetime", "flag": "boolean", "maybe": "boolean",
    }


def test_snapshot_hash_follows_content(penguins):
    first = snapshot(penguins)
    assert first["rows"] == 344 and len(first["columns"]) == 8
    assert snapshot(penguins.copy())["content_hash"] == first["content_hash"]
    changed = penguins.copy()
    changed.loc[0, "body_mass_g"] += 1
    assert snapshot(changed)["content_hash"] != first["content_hash"]


def test_drift_names_added_removed_and_retyped_columns(penguins):
    before = snapshot(penguins)
    after = snapshot(penguins.drop(columns="sex").assign(year=penguins["year"].astype(float), colour="x"))
    assert schema_drift(before, after) == [
        "column 'colour' was added (str)",
        "column 'sex' was removed",
        "column 'year' changed type int64 -> float64",
    ]
    assert schema_drift(before, snapshot(penguins.head(10))) == []

"""Bad input through the real `synthpipe` command: exit 2, a message naming the file, column or key and what is
wrong, and not one output file changed or left behind. Legal but unusual tables fit and sample.

Table-level cases go through `synthpipe fit --data FILE` (it checks the table before loading torch, so they are
quick); source, target and params cases through `synthpipe stage ingest` in a temporary project.
"""

import json
import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from synthpipe.io import file_hash
from tests.conftest import make_project, run_cli


def files_state(root) -> dict[str, str]:
    """Every file under `root` (git's own files aside) and its hash."""
    return {str(path.relative_to(root)): file_hash(path) for path in sorted(root.rglob("*"))
            if path.is_file() and ".git" not in path.relative_to(root).parts}


def temp_leftovers(root) -> list[str]:
    """Files or folders named like the atomic helpers' temporaries (synthpipe.io: .<target>.<pid>.<random>.tmp/.old)."""
    return [str(path) for path in root.rglob(".*") if path.suffix in (".tmp", ".old")]


def assert_fails_cleanly(root, args, *fragments, cwd=None):
    """Run `synthpipe args` in `cwd` (default `root`): exit 2, every fragment in stderr, nothing under `root`
    changed."""
    before = files_state(root)
    result = run_cli(*args, cwd=cwd or root)
    assert result.returncode == 2, result.stderr
    message = result.stderr.strip().splitlines()[-1] if "\n  - " not in result.stderr else result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, f"{fragment!r} not in {message!r}"
    assert "Traceback" not in result.stderr
    assert files_state(root) == before and temp_leftovers(root) == []
    return result


def table(rows: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(0, 1, rows).round(3), "n": rng.integers(0, 9, rows),
                         "label": rng.choice(["a", "b"], rows)})


def fit(root, data: str, *extra: str):
    return ("fit", "--data", data, "--out", "model", "--model", "copula", *extra)


# ---------------------------------------------------------------- table files, through `synthpipe fit --data`

def write_bytes(content: bytes):
    return lambda path: path.write_bytes(content)


def write_frame(frame: pd.DataFrame):
    def write(path):
        if path.suffix == ".csv":
            frame.to_csv(path, index=False)
        elif path.suffix == ".jsonl":
            frame.to_json(path, orient="records", lines=True)
        else:
            frame.to_parquet(path, index=False)
    return write


def truncated_parquet(path):
    table().to_parquet(path, index=False)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def duplicate_parquet_columns(path):
    pq.write_table(pa.Table.from_arrays([pa.array(range(20)), pa.array(range(20))], names=["a", "a"]), path)


def with_column(name, values):
    return write_frame(table(len(values)).assign(**{name: values}))


TABLE_CASES = {
    "empty file": ("data.csv", write_bytes(b""), ["data.csv: the file is empty (0 bytes)"]),
    "header only": ("data.csv", write_bytes(b"x,n,label\n"),
                    ["data.csv: has a header but no rows", "at least 10 rows"]),
    "corrupt parquet": ("data.parquet", write_bytes(b"PAR1 this is not parquet at all PAR1"),
                        ["data.parquet: cannot be read as parquet"]),
    "truncated parquet": ("data.parquet", truncated_parquet, ["data.parquet: cannot be read as parquet"]),
    "wrong extension": ("data.xlsx", write_frame(table()), ["data.xlsx: unsupported file type '.xlsx'"]),
    "one row": ("data.csv", write_frame(table(1)), ["data.csv: has 1 row(s); at least 10 rows are needed"]),
    "all-null column": ("data.parquet", with_column("empty", [None] * 40),
                        ["data.parquet: column 'empty' is empty (every value is null)"]),
    "inf in a numeric column": ("data.parquet", with_column("price", [np.inf, -np.inf] + [1.5] * 38),
                                ["data.parquet: column 'price' has 2 infinite value(s)", "Replace them"]),
    "inf written as text in CSV": ("data.csv", with_column("price", ["inf"] + ["2.5"] * 39),
                                   ["data.csv: column 'price' has 1 infinite value(s)"]),
    "mixed types in one column": ("data.jsonl", with_column("code", [1, "one"] * 20),
                                  ["data.jsonl: column 'code' mixes value types (int, str)"]),
    "nested values": ("data.jsonl", with_column("tags", [[1, 2]] * 40),
                      ["data.jsonl: column 'tags' holds nested values (list)"]),
    "duplicate CSV header": ("data.csv", write_bytes(b"a,a,b\n" + b"1,2,3\n" * 20),
                             ["data.csv: column name(s) ['a'] appear more than once"]),
    "duplicate Parquet columns": ("data.parquet", duplicate_parquet_columns,
                                  ["data.parquet: column name(s) ['a'] appear more than once"]),
    "non-UTF-8 text": ("data.csv", write_bytes(b"name,n\n" + "café,1\n".encode("latin-1") * 20),
                       ["data.csv: not UTF-8 text (line 2, byte 4 is 0xe9). Save the file as UTF-8."]),
}


@pytest.mark.parametrize("case", TABLE_CASES)
def test_bad_table_file_exits_2_and_writes_nothing(tmp_path, case):
    name, write, fragments = TABLE_CASES[case]
    write(tmp_path / name)
    assert_fails_cleanly(tmp_path, fit(tmp_path, name), *fragments)
    assert not (tmp_path / "model").exists()


def test_fit_target_missing_or_single_class(tmp_path):
    table().to_parquet(tmp_path / "data.parquet", index=False)
    assert_fails_cleanly(tmp_path, fit(tmp_path, "data.parquet", "--target", "species"),
                         "--target: column 'species' is not in data.parquet (columns: ['x', 'n', 'label'])")
    table().assign(label="a").to_parquet(tmp_path / "one.parquet", index=False)
    assert_fails_cleanly(tmp_path, fit(tmp_path, "one.parquet", "--target", "label"),
                         "--target: column 'label' in one.parquet has a single value ('a')")


# ---------------------------------------------------------------- model directories, through `synthpipe sample`

@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    from synthpipe.tabular.synthesizer import TabularSynthesizer

    root = tmp_path_factory.mktemp("model")
    table(60).to_parquet(root / "data.parquet", index=False)
    result = run_cli(*fit(root, "data.parquet"), cwd=root)
    assert result.returncode == 0, result.stderr
    assert len(TabularSynthesizer.load(root / "model").sample(5)) == 5  # undamaged, it loads
    manifest = json.loads((root / "model" / "manifest.json").read_text())
    assert sorted(manifest["files"]) == ["config.json", "transformer.json", "weights.safetensors"]
    return root / "model"


def flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


DAMAGE = {
    "flipped byte in the weights": ("weights.safetensors", flip_a_byte,
                                    "model/weights.safetensors: was modified after the model was saved"),
    "truncated transformer": ("transformer.json", lambda p: p.write_bytes(p.read_bytes()[:100]),
                              "model/transformer.json: has 100 bytes, the manifest recorded"),
    "deleted config": ("config.json", lambda p: p.unlink(), "model/config.json: is missing"),
    "deleted manifest": ("manifest.json", lambda p: p.unlink(),
                         "model/manifest.json: missing, so the model files cannot be checked"),
}


@pytest.mark.parametrize("case", DAMAGE)
def test_damaged_model_is_refused(saved_model, tmp_path, case):
    name, damage, fragment = DAMAGE[case]
    model = tmp_path / "model"
    shutil.copytree(saved_model, model)
    damage(model / name)
    assert_fails_cleanly(tmp_path, ("sample", "--model", "model", "--rows", "5", "--out", "s.parquet"), fragment,
                         "Save the model again")
    assert not (tmp_path / "s.parquet").exists()


def test_a_failed_fit_keeps_the_previous_model(saved_model, tmp_path):
    shutil.copytree(saved_model, tmp_path / "model")
    table().assign(x=np.inf).to_parquet(tmp_path / "bad.parquet", index=False)
    assert_fails_cleanly(tmp_path, fit(tmp_path, "bad.parquet"), "bad.parquet: column 'x' has 40 infinite value(s)")


# ---------------------------------------------------------------- sources, targets and params, through stages

@pytest.fixture
def csv_project(tmp_path):
    """A project whose source is data/in.csv (40 rows, target 'label'), and a params writer."""
    root = make_project(tmp_path / "project", {"data": {"name": "t", "target": "label",
                                                         "source": {"format": "csv", "path": "data/in.csv"}}})
    (root / "data").mkdir()
    table().to_csv(root / "data" / "in.csv", index=False)
    return root


def set_params(root, **sections):
    params = yaml.safe_load((root / "params.yaml").read_text())
    for dotted, value in sections.items():
        *parents, leaf = dotted.split("__")
        node = params
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.mark.parametrize("change, fragment", [
    ({"train__epoch": 5}, "train.epoch: unknown key"),
    ({"train__epochs": "ten"}, "train.epochs: Input should be a valid integer"),
    ({"train__model": "tabddpm"}, "train.model: Input should be 'auto', 'gan', 'vae', 'copula' or 'diffusion'"),
    ({"preprocess__holdout_fraction": 1.5}, "preprocess.holdout_fraction: Input should be less than 1"),
    ({"data__name": "../escape"}, "data.name: String should match pattern"),
    ({"data__source__format": "csv", "data__source__path": None}, "data.source: Value error, format 'csv' needs path"),
])
def test_bad_params_exit_2_naming_the_key(csv_project, change, fragment):
    set_params(csv_project, **change)
    assert_fails_cleanly(csv_project, ("stage", "ingest"), "params.yaml: invalid configuration", fragment)
    assert not (csv_project / "data" / "raw").exists()


def test_unreachable_sql_source(csv_project):
    set_params(csv_project, data__source={"format": "sql", "url": "sqlite:///no/such/dir/source.db",
                                          "query": "SELECT * FROM rows"})
    assert_fails_cleanly(csv_project, ("stage", "ingest"),
                         "data.source.url sqlite:///no/such/dir/source.db: query failed",
                         "unable to open database file")


def test_source_format_must_match_the_file(csv_project):
    set_params(csv_project, data__source__format="parquet")
    assert_fails_cleanly(csv_project, ("stage", "ingest"),
                         "data.source.path data/in.csv: a '.csv' file, but data.source.format is 'parquet'")


def test_target_missing_or_single_class_at_ingest(csv_project):
    set_params(csv_project, data__target="species")
    assert_fails_cleanly(csv_project, ("stage", "ingest"), "data.target: column 'species' is not in data/in.csv")
    set_params(csv_project, data__target="label")
    table().assign(label="only").to_csv(csv_project / "data" / "in.csv", index=False)
    assert_fails_cleanly(csv_project, ("stage", "ingest"),
                         "data.target: column 'label' in data/in.csv has a single value ('only')")
    assert not (csv_project / "data" / "raw").exists()


def test_schema_drift_since_the_last_ingest(csv_project):
    result = run_cli("stage", "ingest", cwd=csv_project)
    assert result.returncode == 0, result.stderr
    table().assign(n=lambda f: f["n"].astype(str) + "x", extra=1.0).to_csv(csv_project / "data" / "in.csv", index=False)
    assert_fails_cleanly(csv_project, ("stage", "ingest"),
                         "schema drift since the last ingest (data/raw/t.schema.json)",
                         "column 'extra' was added (float64)", "column 'n' changed type int64 -> ",
                         "ingest.allow_schema_drift: true")


# ---------------------------------------------------------------- legal but unusual tables fit and sample

def test_unusual_but_legal_table_round_trips(tmp_path):
    from synthpipe.tabular.synthesizer import TabularSynthesizer

    rng = np.random.default_rng(1)
    rows = 80
    real = pd.DataFrame({
        "prix unitaire €": np.where(rng.random(rows) < 0.2, np.nan, rng.gamma(2, 10, rows).round(2)),  # NaN: a null
        "名前": rng.choice(["東京", "大阪", "名古屋"], rows),
        "constant": np.full(rows, 7),
        "when": (pd.Timestamp("2024-03-01", tz="Europe/Paris") + pd.to_timedelta(rng.integers(0, 90, rows), unit="h")),
        "id": np.int64(2**60 + 1) + np.arange(rows, dtype=np.int64),
        "label": rng.choice(["yes", "no"], rows),
    })
    real.to_parquet(tmp_path / "data.parquet", index=False)
    result = run_cli(*fit(tmp_path, "data.parquet", "--target", "label"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    synthetic = TabularSynthesizer.load(tmp_path / "model").sample(300)  # `synthpipe sample` is tested above
    assert list(synthetic.columns) == list(real.columns) and len(synthetic) == 300
    assert synthetic.dtypes.astype(str).tolist() == real.dtypes.astype(str).tolist()
    assert str(synthetic["when"].dt.tz) == "Europe/Paris"
    assert synthetic["when"].between(real["when"].min(), real["when"].max()).all()
    assert (synthetic["constant"] == 7).all()
    assert set(synthetic["名前"]) <= set(real["名前"]) and set(synthetic["label"]) == {"yes", "no"}
    assert synthetic["prix unitaire €"].isna().any() and synthetic["prix unitaire €"].notna().any()
    # Integers beyond float precision stay exact integers of the real range.
    assert synthetic["id"].between(real["id"].min(), real["id"].max()).all()
    assert synthetic["id"].isin(real["id"]).all()


# The two below use the library in-process: the command line around it is the one tested above.

def test_one_column_table(tmp_path):
    from synthpipe.tabular.synthesizer import TabularSynthesizer

    real = pd.DataFrame({"only": np.random.default_rng(2).normal(5, 2, 50).round(2)})
    TabularSynthesizer(model="copula", seed=0).fit(real).save(tmp_path / "model")
    synthetic = TabularSynthesizer.load(tmp_path / "model").sample(100)
    assert list(synthetic.columns) == ["only"] and synthetic["only"].dtype == np.float64
    assert synthetic["only"].std() > 0.5 and synthetic["only"].between(real["only"].min(), real["only"].max()).all()


def test_categorical_with_100k_levels(tmp_path):
    from synthpipe.tabular.synthesizer import TabularSynthesizer

    rng = np.random.default_rng(3)
    rows = 100_000
    real = pd.DataFrame({"customer": [f"cust-{i:06d}" for i in rng.permutation(rows)],
                         "spend": rng.gamma(2, 5, rows).round(2)})
    # Kept as a category on purpose (by default a column of near-unique text is an identifier drawn fresh).
    TabularSynthesizer(model="copula", seed=0, identifiers="keep").fit(real).save(tmp_path / "model")
    # Only the most frequent levels get a slot (train.max_categories): the model stays small.
    codec = json.loads((tmp_path / "model" / "transformer.json").read_text())["codecs"][0]
    assert len(codec["categories"]) == rows and len(codec["kept"]) == 100
    assert (tmp_path / "model" / "weights.safetensors").stat().st_size < 1_000_000
    synthetic = TabularSynthesizer.load(tmp_path / "model").sample(2000)
    assert synthetic["customer"].isin(real["customer"]).all() and synthetic["customer"].nunique() > 1000

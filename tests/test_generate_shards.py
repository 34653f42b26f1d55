"""Sharded generation: the shard plan, the in-process stage and the refresh flow's Dask runner write the same file."""

import pandas as pd
import pyarrow.parquet as pq
import pytest

from synthpipe.config import GenerateConfig, parse_params
from synthpipe.io import frame_hash
from synthpipe.tabular.stages import generate, shard_plan
from synthpipe.tabular.synthesizer import TabularSynthesizer
from tasks.generate import generate_in_flow


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, penguins):
    directory = tmp_path_factory.mktemp("model") / "penguins"
    TabularSynthesizer(model="copula", seed=0).fit(penguins, target="species").save(directory)
    return directory


def test_shard_plan_splits_rows_exactly_with_independent_seeds():
    plan = shard_plan(10, 3, seed=7)
    assert [shard.rows for shard in plan] == [4, 3, 3] and [shard.index for shard in plan] == [0, 1, 2]
    assert len({shard.seed for shard in plan}) == 3
    assert shard_plan(10, 3, seed=7) == plan and shard_plan(10, 3, seed=8) != plan
    assert [shard.rows for shard in shard_plan(2, 5, seed=0)] == [1, 1]  # never an empty shard


def test_one_shard_is_the_single_stream(model_dir, tmp_path):
    out = tmp_path / "synthetic.parquet"
    assert generate(model_dir, out, GenerateConfig(rows=1234, chunk_rows=500), seed=3) == {"rows": 1234}
    expected = TabularSynthesizer.load(model_dir).sample(1234, seed=3, chunk_rows=500)
    assert frame_hash(pd.read_parquet(out)) == frame_hash(expected)


def test_shards_give_exact_rows_one_row_group_per_chunk_and_a_seeded_file(model_dir, tmp_path):
    cfg = GenerateConfig(rows=1001, chunk_rows=200, shards=3)
    first, again, other = tmp_path / "a.parquet", tmp_path / "b.parquet", tmp_path / "c.parquet"
    assert generate(model_dir, first, cfg, seed=3) == {"rows": 1001, "shards": 3}
    generate(model_dir, again, cfg, seed=3)
    generate(model_dir, other, cfg, seed=4)
    metadata = pq.ParquetFile(first).metadata
    # Shards of 334, 334 and 333 rows, each written in chunks of at most 200: two row groups per shard.
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [200, 134, 200, 134, 200, 133]
    table = pd.read_parquet(first)
    assert len(table) == 1001 and set(table.columns) == set(TabularSynthesizer.load(model_dir).info["columns"])
    assert frame_hash(pd.read_parquet(again)) == frame_hash(table) != frame_hash(pd.read_parquet(other))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.parquet", "b.parquet", "c.parquet"]  # no shards left


def test_dask_workers_write_the_same_file_as_the_stage(model_dir, tmp_path, monkeypatch, prefect_harness):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "penguins").symlink_to(model_dir, target_is_directory=True)
    generate_cfg = {"rows": 2500, "chunk_rows": 400, "shards": 4}
    stage = parse_params({"generate": generate_cfg})
    assert generate(stage.paths.model, tmp_path / "stage.parquet", stage.generate,
                    stage.seed) == {"rows": 2500, "shards": 4}
    expected = frame_hash(pd.read_parquet(tmp_path / "stage.parquet"))
    for workers in (1, 2):
        params = parse_params({"generate": generate_cfg | {"workers": workers}})
        # Threads instead of processes keep the local cluster's start-up short in a test.
        assert generate_in_flow(params, processes=False) == {"rows": 2500, "shards": 4}
        written = pd.read_parquet(params.paths.synthetic)
        assert len(written) == 2500 and frame_hash(written) == expected


def test_the_draw_is_sized_for_the_policy_and_curation_and_a_balance_merge_finds_its_rarest_class(
        model_dir, tmp_path, penguins):
    from synthpipe.config import MergeConfig
    from synthpipe.merge import balance_pool_rows, merge_real_and_synthetic, pool_rows

    labels = pd.Series(["a"] * 80 + ["b"] * 20)
    # b needs 60 more rows and holds a fifth of an unconditioned draw: (60 + 3 sqrt(60)) / 0.2 rows.
    assert balance_pool_rows(labels, max_factor=50) == 417 and balance_pool_rows(labels, max_factor=2) == 200
    assert balance_pool_rows(pd.Series(["a"] * 5 + ["b"] * 5), max_factor=50) == 10  # balanced: the train rows
    # Curation multiplies whatever the policy needs; without a target to judge by there is none.
    assert pool_rows(labels, MergeConfig(), 50, curate=True) == 200
    assert pool_rows(labels, MergeConfig(), 50, curate=False) == 100
    assert pool_rows(labels, MergeConfig(synthetic_ratio=2.5, curation_factor=1), 50, curate=True) == 250
    assert pool_rows(labels, MergeConfig(policy="size", target_rows=1000, curation_factor=2), 50, curate=True) == 1800
    assert pool_rows(labels, MergeConfig(policy="balance", curation_factor=2), 50, curate=True) == 834
    # Penguins with Chinstraps made rare: 10 of them against 152 Adelies.
    real = pd.concat([penguins[penguins["species"] != "Chinstrap"],
                      penguins[penguins["species"] == "Chinstrap"].head(10)], ignore_index=True)
    rare_model, out = tmp_path / "rare", tmp_path / "pool.parquet"
    TabularSynthesizer(model="copula", seed=0).fit(real, target="species").save(rare_model)
    assert generate(rare_model, out, GenerateConfig(), seed=3)["rows"] == len(real)  # no rows given: the train rows
    balance = MergeConfig(policy="balance")
    wanted = pool_rows(real["species"], balance, 50, curate=True)
    assert generate(rare_model, out, GenerateConfig(), seed=3, rows=wanted)["rows"] == wanted > 20 * len(real)
    merged, counts, record = merge_real_and_synthetic(real, pd.read_parquet(out), balance, "species", "run")
    assert record["shortfall"] == {} and record["curated"]
    assert merged["species"].value_counts().nunique() == 1  # every class at 152

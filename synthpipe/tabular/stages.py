"""The six stages for tables (data.modality: table), as plain functions on paths, and `run`, which maps
params.yaml's sections onto them (synthpipe.stages picks this module for tables).

ingest: the configured source to data/raw/<name>.parquet with a schema snapshot, stopping on schema drift.
preprocess: split the real rows into train and holdout (the model is fitted on train only).
train: fit the TabularSynthesizer on the real train split; write its model directory and a training log. With
  train.nproc > 1 the stage launches `torchrun --standalone --nproc_per_node N -m synthpipe.tabular.stages
  PARAMS.json`: each process runs `train` as one data-parallel replica (synthpipe.training); rank 0 writes.
generate: sample rows from the trained model, streaming them chunk by chunk into one Parquet file. With
  `generate.shards` > 1 the rows are drawn in shards: shard i samples its share with a seed spawned from (seed, i)
  into a file of its own beside the output; the shards are then copied, row group by row group and in shard
  order, into the one output file, which appears atomically. The plan depends only on rows, shards and seed, so
  the file is the same however the shards are run (`run_shards`: in this process, or on a Dask cluster).
validate: the quality gate; writes quality.json, summary.md, report.html, plots/, data_docs/ and the GX project; fails
  (exit 3) when a threshold fails.
merge: real train rows, unchanged, plus accepted synthetic rows; the holdout beside them, untouched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from synthpipe.config import (
    GenerateConfig,
    MergeConfig,
    Params,
    PreprocessConfig,
    SourceConfig,
    TrainConfig,
    ValidateConfig,
    parse_params,
)
from synthpipe.errors import GateFailed, InputError, Interrupted, SynthpipeError
from synthpipe.io import (
    BATCH_ROWS,
    atomic_dir,
    atomic_path,
    chunked_frame_hash,
    concat_parquet,
    file_hash,
    pandas_probe,
    parquet_dataset,
    parquet_file,
    read_json,
    read_table,
    scan_batches,
    temp_dir_beside,
    write_arrow_chunks,
    write_json,
    write_parquet_chunks,
    write_text,
)
from synthpipe.merge import merge, pool_rows
from synthpipe.schema import check_batches, check_table
from synthpipe.sources import check_drift, describe_source, load_source, source_file, write_raw
from synthpipe.split import holdout_rows


def ingest(source: SourceConfig, raw_path: Path, schema_path: Path, allow_drift: bool,
           target: str | None = None) -> dict:
    if source.format == "parquet" and not source.parse_dates:
        current = stream_parquet(source, raw_path, schema_path, allow_drift, target)
        return {"rows": current["rows"], "columns": len(current["columns"])}
    df = load_source(source)
    check_table(df, describe_source(source), target)
    current = write_raw(df, raw_path, schema_path, allow_drift)
    return {"rows": current["rows"], "columns": len(current["columns"])}


def stream_parquet(source: SourceConfig, raw_path: Path, schema_path: Path, allow_drift: bool,
                   target: str | None) -> dict:
    """write_raw for a Parquet source (a file or partitions), copied batch by batch: a table of any size
    never sits in memory whole. The snapshot equals snapshot() of the table read by pandas."""
    path = source_file(source)
    dataset = parquet_dataset(path)
    if any(isinstance(index, str) for index in (dataset.schema.pandas_metadata or {}).get("index_columns", [])):
        df = read_table(path)  # pandas drops the stored index
        check_table(df, describe_source(source), target)
        return write_raw(df, raw_path, schema_path, allow_drift)
    check_batches((batch.to_pandas() for batch in scan_batches(dataset)), describe_source(source), target)
    rows = dataset.count_rows()
    probe = pandas_probe(dataset)
    dtypes = probe.dtypes
    columns = [{"name": str(name), "dtype": str(dtype)} for name, dtype in dtypes.items()]
    check_drift({"columns": columns}, schema_path, allow_drift)
    # The schema pandas would write: the raw file reads back with the dtypes of the in-memory path.
    written = pa.Schema.from_pandas(probe, preserve_index=False)
    schema = pa.schema([dataset.schema.field(f.name) if pa.types.is_null(f.type) else f for f in written],
                       metadata=written.metadata)  # a probe value that is null says nothing of its type
    write_arrow_chunks((pa.Table.from_batches([batch]).cast(schema) for batch in scan_batches(dataset)), raw_path)
    batches = pq.ParquetFile(raw_path).iter_batches(batch_size=BATCH_ROWS)
    content_hash = chunked_frame_hash((batch.to_pandas().astype(dtypes) for batch in batches), dtypes)
    current = {"columns": columns, "rows": rows, "content_hash": content_hash}
    write_json(current, schema_path)
    return current


def preprocess(raw_path: Path, out_dir: Path, target: str | None, cfg: PreprocessConfig, seed: int) -> dict:
    """Split the raw Parquet file (ingest writes one) while streaming it: only the target column and a mask
    of the rows are ever whole in memory. The split is the one split_train_holdout makes of the table."""
    raw = parquet_file(raw_path)
    if target is not None and target not in raw.schema_arrow.names:
        raise InputError(f"data.target: column '{target}' is not in the data (columns: {raw.schema_arrow.names})")
    labels = raw.read(columns=[target]).to_pandas()[target] if target is not None else None
    holdout = holdout_rows(raw.metadata.num_rows, labels, cfg.holdout_fraction, cfg.stratify, seed)
    del labels
    with atomic_dir(out_dir) as tmp:
        train_rows = write_arrow_chunks(_rows_where(raw, ~holdout), tmp / "train.parquet")
        holdout_rows_written = write_arrow_chunks(_rows_where(raw, holdout), tmp / "holdout.parquet")
    return {"train_rows": train_rows, "holdout_rows": holdout_rows_written}


def _rows_where(source: pq.ParquetFile, mask: np.ndarray) -> Iterator[pa.Table]:
    """The rows of `source` where `mask` holds, batch by batch, in their order."""
    start = 0
    for batch in source.iter_batches(batch_size=BATCH_ROWS):
        yield pa.Table.from_batches([batch.filter(pa.array(mask[start : start + batch.num_rows]))])
        start += batch.num_rows


def train(prepared_dir: Path, model_dir: Path, log_path: Path, cfg: TrainConfig, target: str | None, seed: int,
          checkpoint_dir: Path | None = None) -> dict:
    from synthpipe.tabular.synthesizer import TabularSynthesizer  # torch loads only for the stages that need it
    from synthpipe.training import process_group, rank

    train_rows = read_table(prepared_dir / "train.parquet")
    synthesizer = TabularSynthesizer.from_config(cfg, seed)
    from synthpipe.device import resolve_device

    with process_group(resolve_device(cfg.device)), tqdm(desc="train", unit="epoch", disable=None) as bar:
        def show(record: dict) -> None:
            bar.set_postfix(loss=f"{record['loss']:.3f}", rows_s=f"{record['rows_per_s']:.0f}")
            bar.update()

        synthesizer.fit(train_rows, target=target, on_epoch=show, checkpoint_dir=checkpoint_dir)
        if rank() == 0:  # replicas hold the same weights: one writes them
            synthesizer.save(model_dir)
            with atomic_path(log_path) as tmp:
                columns = ["epoch", "loss"] if not synthesizer.history else None
                pd.DataFrame(synthesizer.history, columns=columns).to_csv(tmp, index=False)
    return summary(synthesizer.info)


def summary(info: dict) -> dict:
    replicas = info.get("replicas") or {}
    return {"model": info["model"], "epochs": info["epochs_run"], "seconds": round(info["seconds"], 1),
            "device": info["device"], "processes": replicas.get("world_size", 1)}


def rows_to_draw(params: Params) -> int:
    """generate.rows, or with it null as many rows as merge needs from one draw (synthpipe.merge.pool_rows), judged
    from the real train split's target."""
    if params.generate.rows:
        return params.generate.rows
    target, train = params.data.target, parquet_file(params.paths.prepared / "train.parquet")
    if not target:
        return pool_rows(pd.Series(index=range(train.metadata.num_rows), dtype=object), params.merge,
                         params.generate.max_balance_factor, curate=False)
    if target not in train.schema_arrow.names:
        raise InputError(f"data.target '{target}' is not a column of {params.paths.prepared / 'train.parquet'}")
    # The target column alone: the draw's size needs nothing else, and the split may be large.
    labels = train.read(columns=[target]).to_pandas()[target]
    return pool_rows(labels, params.merge, params.generate.max_balance_factor, curate=True)


def launch_distributed(params: Params) -> dict:
    """Run the stage under torchrun with train.nproc processes; its summary comes from the saved model."""
    nproc = params.train.nproc
    with tempfile.TemporaryDirectory(prefix="synthpipe-train-") as tmp:
        params_file = Path(tmp) / "params.json"
        write_json(params.model_dump(mode="json"), params_file)
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                   "-m", "synthpipe.tabular.stages", str(params_file)]
        with subprocess.Popen(command) as torchrun:
            try:
                returncode = torchrun.wait()
            except Interrupted:
                torchrun.terminate()  # torchrun passes SIGTERM on to the ranks, which keep their checkpoint
                raise  # leaving the block waits for torchrun to finish
    if returncode != 0:
        raise SynthpipeError(f"train: distributed training with {nproc} processes failed "
                             f"(torchrun exit code {returncode}; the ranks' errors are printed above)")
    from synthpipe.tabular.synthesizer import CONFIG_FILE

    return summary(read_json(params.paths.model / CONFIG_FILE))


@dataclass(frozen=True)
class Shard:
    index: int
    rows: int
    seed: int


def shard_plan(rows: int, shards: int, seed: int) -> list[Shard]:
    """Near-equal row counts (the first `rows % shards` shards get one more) and independent spawned seeds."""
    shards = min(shards, rows)
    seeds = [int(child.generate_state(1)[0]) for child in np.random.SeedSequence(seed).spawn(shards)]
    return [Shard(i, rows // shards + (i < rows % shards), seeds[i]) for i in range(shards)]


def generate_shard(model_dir: Path, shard_dir: Path, shard: Shard, chunk_rows: int, device: str = "auto") -> Path:
    """Sample one shard's rows into shard_dir/part-<index>.parquet; returns that path."""
    from synthpipe.tabular.synthesizer import TabularSynthesizer

    synthesizer = TabularSynthesizer.load(model_dir, device=device)
    path = Path(shard_dir) / f"part-{shard.index:05d}.parquet"
    write_parquet_chunks(synthesizer.sample_chunks(shard.rows, seed=shard.seed, chunk_rows=chunk_rows), path)
    return path


ShardRunner = Callable[[Path, Path, list[Shard], int, str], list[Path]]


def run_in_process(model_dir: Path, shard_dir: Path, plan: list[Shard], chunk_rows: int, device: str) -> list[Path]:
    return [generate_shard(model_dir, shard_dir, shard, chunk_rows, device) for shard in plan]


def generate(model_dir: Path, out_path: Path, cfg: GenerateConfig, seed: int, device: str = "auto",
             run_shards: ShardRunner = run_in_process, rows: int | None = None) -> dict:
    """`rows`: how many to draw (`rows_to_draw`); None: `cfg.rows`, or as many as the model's train rows. The draw stays
    unconditioned, so the gate judges rows as the model draws them, and merge takes its rows from them."""
    from synthpipe.tabular.synthesizer import TabularSynthesizer

    synthesizer = TabularSynthesizer.load(model_dir, device=device)
    rows = rows or cfg.rows or synthesizer.info["rows"]
    if cfg.shards == 1:
        written = write_parquet_chunks(synthesizer.sample_chunks(rows, seed=seed, chunk_rows=cfg.chunk_rows), out_path)
        return {"rows": written}
    plan = shard_plan(rows, cfg.shards, seed)
    # Beside the output: remote workers that see the project directory can write their shards there too.
    with temp_dir_beside(out_path) as shard_dir:
        files = run_shards(Path(model_dir).resolve(), shard_dir, plan, cfg.chunk_rows, device)
        written = concat_parquet(files, out_path)
    if written != rows:
        raise RuntimeError(f"generate: the shards hold {written} rows, {rows} were planned")
    return {"rows": written, "shards": len(plan)}


def validate(train_path: Path, synthetic_path: Path, reports_dir: Path, cfg: ValidateConfig,
             holdout_path: Path | None = None, target: str | None = None, merge: MergeConfig = MergeConfig(),
             seed: int = 0, train_log: Path | None = None, expectations_dir: Path | None = None,
             train: TrainConfig | None = None) -> dict:
    """Judge synthetic rows against real train rows (and the real holdout); write the report into `reports_dir`:
    quality.json, summary.md, report.html, plots/*.png and data_docs/ (the GX site). Raises GateFailed when a
    check fails. `train`: the generator settings the run used (None: the defaults, and no refits), refitted on
    subsets for the scarcity curve; identifier columns are found as the train stage finds them and judged apart,
    and its constraints are checked on every synthetic row."""
    from synthpipe.gate.html import write_html_report
    from synthpipe.gate.quality import assess
    from synthpipe.gate.report import render_summary, write_plots
    from synthpipe.identifiers import identifier_modes

    real, synthetic = read_table(train_path), read_table(synthetic_path)
    holdout = read_table(holdout_path) if holdout_path is not None else None
    settings = train or TrainConfig()
    identifiers = identifier_modes(real, target, settings)
    report = assess(real, synthetic, cfg, holdout=holdout, target=target, merge=merge, seed=seed,
                    expectations_dir=expectations_dir or reports_dir / "gx", docs_dir=reports_dir / "data_docs",
                    train=train, identifiers=identifiers, constraints=settings.constraints)
    apart = list(identifiers)
    with atomic_dir(reports_dir / "plots") as plot_dir:
        report["plots"] = write_plots(report, real.drop(columns=apart), synthetic.drop(columns=apart, errors="ignore"),
                                      plot_dir, train_log)
    # The verdict names the exact files it judged: merge refuses any other synthetic data.
    inputs = {"train": train_path, "synthetic": synthetic_path, "holdout": holdout_path}
    report["inputs"] = {name: {"path": str(path), "sha256": file_hash(path)}
                        for name, path in inputs.items() if path is not None and Path(path).is_file()}
    report["thresholds"] = cfg.model_dump()
    # Reports are written whatever the verdict: a failed gate must say why.
    write_json(report, reports_dir / "quality.json")
    write_text(render_summary(report, plot_dir="plots"), reports_dir / "summary.md")
    write_html_report(report, reports_dir)
    if not report["passed"]:
        raise GateFailed(report["reasons"])
    return {"passed": True, "checks": len(report["checks"])}


def refit_settings(model_dir: Path, cfg: TrainConfig) -> TrainConfig:
    """The generator settings the scarcity curve refits on each subset: the run's, with auto resolved to the family
    it chose. On a subset of a few dozen rows auto would choose among four families by a handful of held-out rows,
    and scoring its candidates was most of what a refit cost (BENCHMARKS.md, "Scarcity")."""
    if cfg.model != "auto":
        return cfg
    from synthpipe.tabular.synthesizer import CONFIG_FILE

    return cfg.model_copy(update={"model": read_json(model_dir / CONFIG_FILE)["model"]})


def run(stage: str, params: Params) -> dict:
    """Stage `stage` with its own params sections."""
    paths = params.paths
    if stage == "ingest":
        return ingest(params.data.source, paths.raw, paths.schema, params.ingest.allow_schema_drift,
                      params.data.target)
    if stage == "preprocess":
        return preprocess(paths.raw, paths.prepared, params.data.target, params.preprocess, params.seed)
    if stage == "train":
        if params.train.nproc > 1 and "WORLD_SIZE" not in os.environ:
            return launch_distributed(params)
        return train(paths.prepared, paths.model, paths.train_log, params.train, params.data.target, params.seed,
                     paths.checkpoints)
    if stage == "generate":
        return generate(paths.model, paths.synthetic, params.generate, params.seed, params.train.device,
                        rows=rows_to_draw(params))
    if stage == "validate":
        return validate(paths.prepared / "train.parquet", paths.synthetic, paths.quality.parent, params.validate,
                        holdout_path=paths.prepared / "holdout.parquet", target=params.data.target,
                        merge=params.merge, seed=params.seed, train_log=paths.train_log,
                        expectations_dir=Path("gx"), train=refit_settings(paths.model, params.train))
    return merge(paths.prepared, paths.synthetic, paths.quality, paths.model, paths.merged, params.merge,
                 params.data.target, params.seed)


if __name__ == "__main__":  # one torchrun process: python -m synthpipe.tabular.stages PARAMS.json
    from synthpipe import interrupt

    with interrupt.stop_on_signals():
        result = run("train", parse_params(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")),
                                           source=sys.argv[1]))
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"train: {result}", flush=True)

"""The six stages for sequences (data.modality: timeseries), as plain functions on paths, and `run`, which maps
params.yaml's sections onto them (synthpipe.stages picks this module for time series).

ingest: the source to data/raw/<name>.parquet, sorted by entity and time, after checks that name the column and
  entity at fault (duplicate times, unorderable times, changing context, too-short entities).
preprocess: whole entities held out (a single series: its last part); the step and condition encoders fitted
  on the train entities; the training windows cut. data/prepared holds train/holdout/entities.parquet,
  windows.safetensors and series.json.
train: the context model (one row per entity) and the GRU; models/<name>/ with safetensors + JSON + manifest.
generate: fresh entities with their context, start, interval and steps, as the same long table.
validate: the sequence quality gate (quality.py): quality.json, summary.md, report.html, plots/ and data_docs/.
merge: real train sequences, unchanged, plus accepted synthetic entities, with provenance.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from synthpipe.config import Params, SeriesTrainConfig, SourceConfig, TimeSeriesConfig
from synthpipe.errors import GateFailed, InputError
from synthpipe.io import (
    atomic_dir,
    atomic_path,
    file_hash,
    read_json,
    read_table,
    verify_manifest,
    write_json,
    write_manifest,
    write_parquet,
    write_text,
)
from synthpipe.merge import PROVENANCE_COLUMNS, require_passed_gate
from synthpipe.schema import MIN_ROWS
from synthpipe.sources import describe_source, load_source, write_raw
from synthpipe.timeseries.frame import (
    INTERVAL,
    LENGTH,
    START,
    Layout,
    calendar_frequency,
    calendar_inputs,
    check_series,
    entity_ids,
    entity_table,
    gap_ratios,
    split_entities,
    starts_and_lengths,
    timing,
    windows,
)

FORMAT = "synthpipe.timeseries/1"
SERIES_FILE, WINDOWS_FILE = "series.json", "windows.safetensors"  # in data/prepared
WEIGHTS_FILE, CONFIG_FILE = "weights.safetensors", "config.json"  # in models/<name>
GAP = "__gap__"  # step channel of irregular series: the gap before a step, in units of its entity's interval
SINGLE_SERIES = "series"  # entity column that synthetic sequences of a single real series are told apart by
# Steps off their entity's interval (a daylight-saving hour, a missing day) up to this share leave a series regular:
# its times are laid out at the interval and read as calendar inputs, not modelled as gaps.
IRREGULAR_SHARE = 0.01


def ingest(source: SourceConfig, cfg: TimeSeriesConfig, raw_path: Path, schema_path: Path, allow_drift: bool) -> dict:
    df = check_series(load_source(source), cfg, describe_source(source))
    layout = Layout.of(df, cfg)
    write_raw(df, raw_path, schema_path, allow_drift)
    return {"rows": len(df), "entities": int(entity_ids(df, layout).nunique()), "values": len(layout.values)}


def preprocess(raw_path: Path, out_dir: Path, cfg: TimeSeriesConfig, holdout_fraction: float, seed: int) -> dict:
    """Hold out whole entities, fit the encoders on the train entities and cut their training windows."""
    from safetensors.numpy import save_file

    from synthpipe.timeseries.codec import Codec

    df = read_table(raw_path)
    layout = Layout.of(df, cfg)
    train_rows, holdout = split_entities(df, layout, holdout_fraction, cfg.min_length, seed)
    entities = entity_table(train_rows, layout)
    frequency = calendar_frequency(df, layout)
    ratios = gap_ratios(train_rows, layout, entities[INTERVAL].to_numpy())
    irregular = frequency is None and float(np.mean(~np.isclose(ratios, 1.0))) > IRREGULAR_SHARE
    steps = train_rows[layout.values].assign(**{GAP: ratios}) if irregular else train_rows[layout.values]
    codec, condition = Codec.fit(steps), Codec.fit(condition_frame(entities, layout))
    offsets, lengths = starts_and_lengths(entity_ids(train_rows, layout))
    # Calendar inputs need the times before the steps are drawn: regular series only.
    calendar = [] if irregular else calendar_inputs(train_rows[layout.time], float(entities[INTERVAL].median()))
    times = timing(train_rows[layout.time], offsets, lengths, calendar)
    cut = windows(codec.encode(steps), times, offsets, lengths, cfg.window, cfg.stride)
    real_ids = entity_ids(df, layout).drop_duplicates().tolist() if layout.entity else []
    series = {"layout": vars(layout), "columns": list(df.columns), "dtypes": df.dtypes.astype(str).to_dict(),
              "frequency": frequency, "irregular": bool(irregular), "calendar": calendar, "window": cfg.window,
              "stride": cfg.stride,
              "entities": len(entities), "max_length": int(lengths.max()), "real_ids": real_ids,
              "starts": sorted(set(entities[START].tolist())), "intervals": sorted(set(entities[INTERVAL].tolist())),
              "steps": codec.to_dict(), "condition": condition.to_dict()}
    with atomic_dir(out_dir) as tmp:
        write_parquet(train_rows, tmp / "train.parquet")
        write_parquet(holdout, tmp / "holdout.parquet")
        write_parquet(entities, tmp / "entities.parquet")
        arrays = dict(zip(("steps", "valid", "timing", "entity"), cut))
        save_file({**arrays, "condition": condition.encode(condition_frame(entities, layout))}, str(tmp / WINDOWS_FILE))
        write_json(series, tmp / SERIES_FILE)
    return {"train_entities": len(entities), "holdout_entities": int(entity_ids(holdout, layout).nunique()),
            "train_rows": len(train_rows), "holdout_rows": len(holdout), "windows": len(cut[0])}


def condition_frame(entities: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    """What the GRU is conditioned on: the entity's context and its log length."""
    return entities[layout.context].assign(log_length=np.log(entities[LENGTH].to_numpy(float)))


def train(prepared_dir: Path, model_dir: Path, log_path: Path, checkpoint_dir: Path, cfg: TimeSeriesConfig,
          seed: int) -> dict:
    from safetensors.torch import load_file, save_file

    from synthpipe.device import cpu_threads, resolve_device
    from synthpipe.tabular.synthesizer import TabularSynthesizer
    from synthpipe.timeseries.codec import Codec
    from synthpipe.timeseries.model import Windows, fit_series, steps_per_epoch
    from synthpipe.training import Checkpoints, epochs_run, fingerprint, planned_epochs

    series = read_json(prepared_dir / SERIES_FILE)
    windows_path = prepared_dir / WINDOWS_FILE
    arrays = load_file(str(windows_path))
    data = Windows(arrays["steps"], arrays["valid"], arrays["timing"], arrays["entity"].long(), arrays["condition"])
    device = resolve_device(cfg.train.device)
    checkpoints = Checkpoints(checkpoint_dir, "gru", fingerprint(cfg.train.model_dump(), cfg.window, cfg.stride,
                                                                 file_hash(windows_path), seed, str(device)))
    started = time.perf_counter()
    epochs = planned_epochs(cfg.train, steps_per_epoch(cfg.train, len(data.entity)))
    with cpu_threads(cfg.train.cpu_threads), tqdm(total=epochs, desc="train", unit="epoch", disable=None) as bar:
        def show(record: dict) -> None:
            bar.set_postfix(loss=f"{record['loss']:.3f}")
            bar.update()

        net, history = fit_series(data, Codec.from_dict(series["steps"]), cfg.train, seed, device, checkpoints, show)
        context = TabularSynthesizer(model=cfg.train.context_model, seed=seed, device=cfg.train.device)
        context.fit(at_least_rows(read_table(prepared_dir / "entities.parquet"), MIN_ROWS))
    seconds = time.perf_counter() - started
    with atomic_dir(model_dir) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}, str(tmp / WEIGHTS_FILE))
        context.save(tmp / "context")
        write_json({"format": FORMAT, "model": "gru", "run_id": file_hash(tmp / WEIGHTS_FILE)[:16], "seed": seed,
                    "train": cfg.train.model_dump(), "epochs_run": epochs_run(history), "seconds": seconds,
                    "device": str(device), "windows": len(data.entity), "series": series}, tmp / CONFIG_FILE)
        write_manifest(tmp)
    with atomic_path(log_path) as tmp:
        pd.DataFrame(history, columns=None if history else ["epoch", "loss"]).to_csv(tmp, index=False)
    return {"model": "gru", "epochs": epochs_run(history), "seconds": round(seconds, 1), "device": str(device),
            "windows": len(data.entity)}


def at_least_rows(df: pd.DataFrame, rows: int) -> pd.DataFrame:
    """`df` repeated whole until it has `rows` rows: the tabular models refuse fewer, and repeating every row the
    same number of times (plus a remainder) leaves the marginals and the correlations of a copula as they were."""
    return df if len(df) >= rows else df.iloc[np.resize(np.arange(len(df)), rows)].reset_index(drop=True)


def generate(model_dir: Path, out_path: Path, cfg: TimeSeriesConfig, seed: int) -> dict:
    import torch

    from synthpipe.device import resolve_device
    from synthpipe.tabular.synthesizer import TabularSynthesizer
    from synthpipe.timeseries.codec import Codec
    from synthpipe.timeseries.model import load_net, sample_series

    verify_manifest(model_dir)
    config = read_json(model_dir / CONFIG_FILE)
    if config.get("format") != FORMAT:
        raise InputError(f"{model_dir / CONFIG_FILE}: not a synthpipe time-series model "
                         f"(format {config.get('format')!r})")
    series = config["series"]
    layout = Layout(**series["layout"])
    count = cfg.generate.entities or series["entities"]
    device = resolve_device(cfg.train.device)
    entities = TabularSynthesizer.load(model_dir / "context", device=cfg.train.device).sample(count, seed=seed)
    lengths = np.round(entities[LENGTH].to_numpy(float))
    entities[LENGTH] = np.clip(lengths, cfg.min_length, series["max_length"]).astype(int)
    entities[START] = nearest(entities[START].to_numpy(float), series["starts"])
    entities[INTERVAL] = nearest(entities[INTERVAL].to_numpy(float), series["intervals"])
    lengths = entities[LENGTH].to_numpy()
    owner = np.repeat(np.arange(count), lengths)
    step_number = np.arange(len(owner)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    # Regular series: the times come first, and the network reads them; irregular ones: after the drawn gaps.
    times = None if series["irregular"] else step_times(entities, step_number, owner, None, series)
    rows = timing(pd.Series(np.zeros(len(owner))) if times is None else times, np.cumsum(lengths) - lengths, lengths,
                  series["calendar"])
    padded = np.zeros((count, lengths.max(), rows.shape[1]), np.float32)
    padded[owner, step_number] = rows
    codec, condition = Codec.from_dict(series["steps"]), Codec.from_dict(series["condition"])
    net = load_net(codec, rows.shape[1], condition.input_width, SeriesTrainConfig(**config["train"]),
                   model_dir / WEIGHTS_FILE, device)
    generator = torch.Generator(device=device).manual_seed(seed)
    cond = torch.as_tensor(condition.encode(condition_frame(entities, layout)), device=device)
    encoded = sample_series(net, codec, cond, torch.as_tensor(padded, device=device), series["window"], generator)
    steps = codec.decode(encoded[owner, step_number])
    if times is None:
        times = step_times(entities, step_number, owner, steps.pop(GAP).to_numpy(), series)
    table = long_table(entities, steps, times, series, fresh_ids(count, cfg.generate.id_prefix, series["real_ids"]))
    write_parquet(table, out_path)
    return {"entities": count, "rows": len(table)}


def nearest(values: np.ndarray, allowed: list[float]) -> np.ndarray:
    """Each value moved to the closest allowed one: starts fall on real calendar points, intervals on real ones."""
    allowed = np.asarray(allowed)
    return allowed[np.abs(values[:, None] - allowed[None, :]).argmin(axis=1)]


def fresh_ids(count: int, prefix: str, real_ids: list) -> list:
    """`count` entity ids none of which is a real one (train or held out): numbers past the largest real id when
    the ids are whole numbers, else prefix + number, skipping any whose id a real entity already has."""
    if real_ids and all(isinstance(i, int) and not isinstance(i, bool) for i in real_ids):
        return list(range(max(real_ids) + 1, max(real_ids) + 1 + count))
    candidates = pd.Series([f"{prefix}{i}" for i in range(count + len(real_ids))])
    return candidates[~candidates.isin([str(i) for i in real_ids])].head(count).tolist()


def long_table(entities: pd.DataFrame, steps: pd.DataFrame, times: pd.Series, series: dict,
               ids: list) -> pd.DataFrame:
    """The synthetic sequences as the real long table: entity, time, context and value columns, real dtypes."""
    layout = Layout(**series["layout"])
    owner = np.repeat(np.arange(len(entities)), entities[LENGTH].to_numpy())
    columns = {(layout.entity or SINGLE_SERIES): pd.Series(np.asarray(ids)[owner]), layout.time: times}
    for name in layout.context:
        columns[name] = entities[name].iloc[owner].reset_index(drop=True)
    table = pd.DataFrame(columns).join(steps)
    for name, dtype in series["dtypes"].items():
        if str(table[name].dtype) != dtype:
            table[name] = table[name].astype(dtype)
    return table[[layout.entity or SINGLE_SERIES] + [c for c in series["columns"] if c != layout.entity]]


def step_times(entities: pd.DataFrame, step_number: np.ndarray, owner: np.ndarray, gaps: np.ndarray | None,
               series: dict) -> pd.Series:
    """Each step's time: on the real calendar frequency, at the entity's interval, or (irregular series) after the
    generated gaps."""
    start, interval = entities[START].to_numpy()[owner], entities[INTERVAL].to_numpy()[owner]
    datetimes = series["dtypes"][series["layout"]["time"]].startswith("datetime")
    if series["frequency"]:
        firsts = entities[START].to_numpy().astype(np.int64)
        lengths = entities[LENGTH].to_numpy()
        return pd.Series(np.concatenate([pd.date_range(pd.Timestamp(first, unit="ns"), periods=length,
                                                        freq=series["frequency"]).to_numpy("datetime64[ns]")
                                         for first, length in zip(firsts, lengths)]))
    if gaps is None:
        numbers = start + step_number * interval
    else:
        gaps = np.where(step_number == 0, 0.0, np.maximum(gaps, 1e-3) * interval)
        if not datetimes:
            gaps = np.where(step_number == 0, 0.0, np.maximum(np.round(gaps), 1.0))  # whole steps stay whole
        numbers = start + pd.Series(gaps).groupby(owner).cumsum().to_numpy()
    return pd.Series(pd.to_datetime(numbers.astype(np.int64), unit="ns") if datetimes else numbers)


def validate(prepared_dir: Path, synthetic_path: Path, reports_dir: Path, cfg: TimeSeriesConfig, seed: int,
             expectations_dir: Path) -> dict:
    from synthpipe.gate.html import write_html_report
    from synthpipe.timeseries.quality import assess, render_summary, write_plots

    series = read_json(prepared_dir / SERIES_FILE)
    real, holdout = read_table(prepared_dir / "train.parquet"), read_table(prepared_dir / "holdout.parquet")
    synthetic = read_table(synthetic_path)
    report = assess(real, holdout, synthetic, series, cfg, seed, expectations_dir, reports_dir / "data_docs")
    with atomic_dir(reports_dir / "plots") as tmp:
        report["plots"] = write_plots(report, real, synthetic, series, tmp)
    inputs = {"train": prepared_dir / "train.parquet", "holdout": prepared_dir / "holdout.parquet",
              "synthetic": synthetic_path}
    report["inputs"] = {name: {"path": str(path), "sha256": file_hash(path)} for name, path in inputs.items()}
    report["thresholds"] = cfg.validate.model_dump()
    # Reports are written whatever the verdict: a failed gate must say why.
    write_json(report, reports_dir / "quality.json")
    write_text(render_summary(report), reports_dir / "summary.md")
    # dvc.yaml declares the page for every modality: without it `dvc repro` and a refresh recorded in DVC stop
    # at this stage, or record the page an earlier run of another modality left.
    write_html_report(report, reports_dir)
    if not report["passed"]:
        raise GateFailed(report["reasons"])
    return {"passed": True, "checks": len(report["checks"])}


def merge(prepared_dir: Path, synthetic_path: Path, quality_path: Path, model_dir: Path, out_dir: Path,
          ratio: float) -> dict:
    """Every real train sequence, unchanged, plus `ratio` synthetic entities per real one, none a copy of a
    real sequence; the held-out entities stay out."""
    require_passed_gate(quality_path, synthetic_path)
    run_id = read_json(model_dir / CONFIG_FILE)["run_id"]
    series = read_json(prepared_dir / SERIES_FILE)
    layout = Layout(**series["layout"])
    real, synthetic = read_table(prepared_dir / "train.parquet"), read_table(synthetic_path)
    clash = [name for name in PROVENANCE_COLUMNS if name in real.columns]
    if clash:
        raise InputError(f"real data already has provenance column(s) {clash}; rename them before merging")
    key = layout.entity or SINGLE_SERIES
    if not layout.entity:
        real = real.assign(**{key: pd.Series(pd.NA, index=real.index, dtype=synthetic[key].dtype)})[synthetic.columns]
    copies = copied_entities(real, synthetic, key, layout.values)
    offered = pd.unique(synthetic[key])
    wanted = int(round(ratio * series["entities"]))
    accepted = [e for e in offered if e not in copies][:wanted]
    chosen = synthetic[synthetic[key].isin(accepted)]
    merged = pd.concat([real.assign(is_synthetic=False, generator_run=None),
                        chosen.assign(is_synthetic=True, generator_run=run_id)], ignore_index=True)
    merged["generator_run"] = merged["generator_run"].astype("string")
    counts = {"real": len(real), "synthetic": len(chosen), "real_entities": series["entities"],
              "synthetic_entities": len(accepted), "synthetic_offered": len(offered),
              "copied_entities_dropped": len(copies), "total": len(merged)}
    inputs = {"train": prepared_dir / "train.parquet", "synthetic": synthetic_path}
    with atomic_dir(out_dir) as tmp:
        write_parquet(merged, tmp / "train.parquet")
        write_json({"generator_run": run_id, "rows": counts,
                    "inputs": {name: {"path": str(path), "sha256": file_hash(path)} for name, path in inputs.items()},
                    "outputs": {"train.parquet": {"path": str(out_dir / "train.parquet"),
                                                  "sha256": file_hash(tmp / "train.parquet")}}},
                   tmp / "manifest.json")
    return counts


def copied_entities(real: pd.DataFrame, synthetic: pd.DataFrame, key: str, values: list[str]) -> set:
    """Synthetic entities whose value sequence equals a real entity's, step for step."""
    def digests(df: pd.DataFrame) -> pd.Series:
        rows = pd.util.hash_pandas_object(df[values].astype(object), index=False)
        return rows.groupby(df[key].to_numpy(), sort=False).agg(lambda h: hash(tuple(h)))

    real_digests = set(digests(real).tolist()) if len(real) else set()
    synthetic_digests = digests(synthetic)
    return set(synthetic_digests.index[synthetic_digests.isin(real_digests)])


def run(stage: str, params: Params) -> dict:
    """Stage `stage` with its own params sections."""
    paths, cfg = params.paths, params.timeseries
    if stage == "ingest":
        return ingest(params.data.source, cfg, paths.raw, paths.schema, params.ingest.allow_schema_drift)
    if stage == "preprocess":
        return preprocess(paths.raw, paths.prepared, cfg, params.preprocess.holdout_fraction, params.seed)
    if stage == "train":
        return train(paths.prepared, paths.model, paths.train_log, paths.checkpoints, cfg, params.seed)
    if stage == "generate":
        return generate(paths.model, paths.synthetic, cfg, params.seed)
    if stage == "validate":
        return validate(paths.prepared, paths.synthetic, paths.quality.parent, cfg, params.seed, Path("gx"))
    return merge(paths.prepared, paths.synthetic, paths.quality, paths.model, paths.merged,
                 params.merge.synthetic_ratio)

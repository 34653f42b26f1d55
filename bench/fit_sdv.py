"""One SDV run of the benchmark, in bench/.venv: CTGAN, TVAE or GaussianCopula with SDV's defaults
(epochs as set in common.py), timed like synthpipe's runs.

    python bench/fit_sdv.py TABLE ctgan|tvae|gaussiancopula
    python bench/fit_sdv.py --preprocess       # CTGAN's DataTransformer fit+transform seconds, incl. 500k rows
    python bench/fit_sdv.py --fit-time TABLE REPEAT   # CTGAN's fit alone, timed
"""

import json
import resource
import sys
import time
import warnings

import pandas as pd
from common import LARGE_ROWS, LARGE_TABLE, SPEED_ROWS, TABLES, WORK, fit_time_file, run_file, split_dir, synthetic_file

warnings.filterwarnings("ignore")


def metadata_for(frame: pd.DataFrame):
    from sdv.metadata import Metadata

    metadata = Metadata.detect_from_dataframes({"table": frame}, infer_keys=None)
    for name in frame.columns:  # the same column kinds synthpipe infers: numbers are numerical, text is categorical
        sdtype = "numerical" if pd.api.types.is_numeric_dtype(frame[name]) else "categorical"
        metadata.update_column(column_name=name, sdtype=sdtype, table_name="table")
    return metadata


def synthesizer_for(run: str, metadata, epochs: int):
    from sdv.single_table import CTGANSynthesizer, GaussianCopulaSynthesizer, TVAESynthesizer

    if run == "ctgan":
        return CTGANSynthesizer(metadata, epochs=epochs, enable_gpu=False)
    if run == "tvae":
        return TVAESynthesizer(metadata, epochs=epochs, enable_gpu=False)
    return GaussianCopulaSynthesizer(metadata)


def fit(table: str, run: str):
    spec = TABLES[table]
    train = pd.read_parquet(split_dir(table) / "train.parquet")
    synthesizer = synthesizer_for(run, metadata_for(train), spec["epochs"])
    started = time.perf_counter()
    synthesizer.fit({"table": train})  # SDV 2 takes and returns {table name: DataFrame}
    return synthesizer, train, time.perf_counter() - started


def fit_and_sample(table: str, run: str) -> dict:
    spec = TABLES[table]
    synthesizer, train, fit_s = fit(table, run)
    synthetic_file(table, run).parent.mkdir(parents=True, exist_ok=True)
    synthesizer.sample(num_rows=len(train))["table"].to_parquet(synthetic_file(table, run), index=False)
    started = time.perf_counter()
    rows = len(synthesizer.sample(num_rows=SPEED_ROWS)["table"])
    sample_s = time.perf_counter() - started
    epochs = spec["epochs"] if run != "gaussiancopula" else None
    return {"table": table, "run": run, "model": run, "epochs": epochs, "fit_s": fit_s,
            "s_per_epoch": fit_s / epochs if epochs else None, "sample_rows_per_s": rows / sample_s,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def preprocess_times() -> dict:
    from ctgan.data_transformer import DataTransformer

    times = {}
    sources = {table: split_dir(table) / "train.parquet" for table in TABLES}
    sources[f"{LARGE_TABLE}_{LARGE_ROWS}"] = WORK / "data" / f"{LARGE_TABLE}_{LARGE_ROWS}.parquet"
    for name, path in sources.items():
        frame = pd.read_parquet(path)
        discrete = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
        started = time.perf_counter()
        transformer = DataTransformer()
        transformer.fit(frame, discrete)
        transformer.transform(frame)
        times[name] = time.perf_counter() - started
        print(f"ctgan preprocess {name}: {times[name]:.2f} s", flush=True)
    return times


def main() -> None:
    if sys.argv[1] == "--preprocess":
        result, out = {"run": "ctgan", "preprocess_s": preprocess_times()}, WORK / "runs" / "preprocess-ctgan.json"
    elif sys.argv[1] == "--fit-time":
        table, repeat = sys.argv[2], int(sys.argv[3])
        result, out = ({"table": table, "run": "ctgan", "fit_s": fit(table, "ctgan")[2]},
                       fit_time_file(table, "ctgan", repeat))
    else:
        result, out = fit_and_sample(sys.argv[1], sys.argv[2]), run_file(sys.argv[1], sys.argv[2])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()

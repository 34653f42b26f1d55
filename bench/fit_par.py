"""SDV's PARSynthesizer on a long table of sequences, in bench/.venv (called by bench/timeseries.py --par).

    python bench/fit_par.py TRAIN.parquet OUT.parquet SEQUENCES ENTITY TIME EPOCHS [SEED]

Writes the sampled sequences as the same long table (entity ids prefixed "par-") and prints the fit seconds.
"""

import json
import random
import sys
import time
import warnings

import pandas as pd

warnings.filterwarnings("ignore")


def main() -> None:
    import numpy as np
    import torch
    from sdv.metadata import Metadata
    from sdv.sequential import PARSynthesizer

    train_path, out_path, sequences, entity, time_column, epochs = sys.argv[1:7]
    if len(sys.argv) > 7:  # PAR takes no seed; its draws come from these generators
        seed = int(sys.argv[7])
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
    train = pd.read_parquet(train_path)
    train[entity] = train[entity].astype(str)
    metadata = Metadata.detect_from_dataframes({"table": train}, infer_keys=None)
    for name in train.columns:
        if name == entity:
            sdtype = "id"
        elif name == time_column:
            sdtype = "datetime" if pd.api.types.is_datetime64_any_dtype(train[name]) else "numerical"
        else:
            sdtype = "numerical" if pd.api.types.is_numeric_dtype(train[name]) else "categorical"
        metadata.update_column(column_name=name, sdtype=sdtype, table_name="table")
    metadata.set_sequence_key(entity, table_name="table")
    metadata.set_sequence_index(time_column, table_name="table")
    synthesizer = PARSynthesizer(metadata, epochs=int(epochs), verbose=False)
    started = time.perf_counter()
    synthesizer.fit({"table": train})
    fit_s = time.perf_counter() - started
    sampled = synthesizer.sample_sequences(num_sequences=int(sequences))
    sampled = sampled["table"] if isinstance(sampled, dict) else sampled
    sampled[entity] = "par-" + pd.factorize(sampled[entity])[0].astype(str)
    sampled.to_parquet(out_path, index=False)
    print(json.dumps({"fit_seconds": fit_s, "rows": len(sampled)}))


if __name__ == "__main__":
    main()

"""One peer generator on bench/neural.py's train split, in the peer's own environment (called by
`bench/neural.py --peers`): SDV's GaussianCopula, CTGAN and TVAE in bench/.venv, MOSTLY AI's engine in
bench/.venv-mostlyai.

    python bench/fit_peer.py TABLE PEER TARGET EPOCHS

Reads work/neural/<table>-train.parquet, fits the peer with its defaults (EPOCHS for CTGAN and TVAE; MOSTLY AI
stops by its own early stopping, within 100 epochs), writes as many synthetic rows as train rows to
work/neural/<table>-<peer>.parquet and the fit seconds and sampling rows/s to work/neural/<table>-<peer>.json.

bench/.venv-mostlyai (Apache-2.0; kept apart from SDV because it needs pandas 3 and SDV pandas<3):
    python3.11 -m venv bench/.venv-mostlyai && bench/.venv-mostlyai/bin/pip install torch==2.13.0 \
      && bench/.venv-mostlyai/bin/pip install -r bench/requirements-mostlyai.txt \
      && bench/.venv-mostlyai/bin/pip uninstall -y torchvision torchaudio
(the torchvision and torchaudio it pulls do not match torch 2.13 and break `transformers`' imports).
"""

import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
OUT = HERE / "work" / "neural"
SEED, SPEED_ROWS = 0, 20_000
SDV_PEERS = {"sdv-gaussiancopula": "gaussiancopula", "sdv-ctgan": "ctgan", "sdv-tvae": "tvae"}
PEERS = (*SDV_PEERS, "mostlyai")


def fit_sdv(train: pd.DataFrame, peer: str, epochs: int):
    """(fit seconds, sample(n, seed) -> rows)."""
    from fit_sdv import metadata_for, synthesizer_for

    started = time.perf_counter()
    synthesizer = synthesizer_for(SDV_PEERS[peer], metadata_for(train), epochs)
    synthesizer.fit({"table": train})  # SDV 2 takes and returns {table name: DataFrame}
    seconds = time.perf_counter() - started

    def sample(rows: int, seed: int) -> pd.DataFrame:
        synthesizer._set_random_state(seed)  # SDV's public API has no seed; its samples are otherwise random
        return synthesizer.sample(num_rows=rows)["table"]
    return seconds, sample


def fit_mostlyai(train: pd.DataFrame, workspace: Path):
    """(fit seconds, sample(n, seed) -> rows): split, analyze, encode and train with the engine's defaults."""
    from mostlyai import engine

    engine.init_logging()
    engine.set_random_state(SEED)
    started = time.perf_counter()
    engine.split(workspace_dir=workspace, tgt_data=train, model_type="TABULAR")
    engine.analyze(workspace_dir=workspace)
    engine.encode(workspace_dir=workspace)
    engine.train(workspace_dir=workspace, device="cpu")
    seconds = time.perf_counter() - started

    def sample(rows: int, seed: int) -> pd.DataFrame:
        engine.set_random_state(seed)
        engine.generate(workspace_dir=workspace, sample_size=rows, device="cpu")
        return pd.concat([pd.read_parquet(p) for p in sorted((workspace / "SyntheticData").glob("*.parquet"))],
                         ignore_index=True)
    return seconds, sample


def main() -> None:
    warnings.filterwarnings("ignore")
    table, peer, target, epochs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if peer not in PEERS:
        raise SystemExit(f"unknown peer {peer!r} (known: {', '.join(PEERS)})")
    train = pd.read_parquet(OUT / f"{table}-train.parquet")
    with tempfile.TemporaryDirectory() as workspace:
        seconds, sample = (fit_mostlyai(train, Path(workspace)) if peer == "mostlyai"
                           else fit_sdv(train, peer, epochs))
        started = time.perf_counter()
        sample(SPEED_ROWS, SEED + 1)
        rows_per_s = SPEED_ROWS / (time.perf_counter() - started)
        synthetic = sample(len(train), SEED)[list(train.columns)]
    synthetic.to_parquet(OUT / f"{table}-{peer}.parquet")
    record = {"peer": peer, "target": target, "epochs": epochs if peer in ("sdv-ctgan", "sdv-tvae") else None,
              "fit_seconds": seconds, "rows_per_s": rows_per_s}
    (OUT / f"{table}-{peer}.json").write_text(json.dumps(record, indent=1))
    print(table, json.dumps(record), flush=True)


if __name__ == "__main__":
    main()

"""Stage 3: fit the TabularSynthesizer on the real train split; write its model directory and a training log.

With train.nproc > 1 the stage launches `torchrun --standalone --nproc_per_node N -m tasks.train PARAMS.json`:
each process runs `train` below as one data-parallel replica (synthpipe.training), and rank 0 writes the files.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE
from tqdm import tqdm

from synthpipe.config import Params, TrainConfig, parse_params
from synthpipe.errors import SynthpipeError
from synthpipe.gan import resolve_device
from synthpipe.io import atomic_path, read_json, read_table, write_json
from synthpipe.synthesizer import CONFIG_FILE, TabularSynthesizer
from synthpipe.training import process_group, rank


def train(prepared_dir: Path, model_dir: Path, log_path: Path, cfg: TrainConfig, target: str | None, seed: int,
          checkpoint_dir: Path | None = None) -> dict:
    train_rows = read_table(prepared_dir / "train.parquet")
    synthesizer = TabularSynthesizer.from_config(cfg, seed)
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


def launch_distributed(params: Params) -> dict:
    """Run the stage under torchrun with train.nproc processes; its summary comes from the saved model."""
    nproc = params.train.nproc
    with tempfile.TemporaryDirectory(prefix="synthpipe-train-") as tmp:
        params_file = Path(tmp) / "params.json"
        write_json(params.model_dump(mode="json"), params_file)
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                   "-m", "tasks.train", str(params_file)]
        finished = subprocess.run(command, check=False)
    if finished.returncode != 0:
        raise SynthpipeError(f"train: distributed training with {nproc} processes failed "
                             f"(torchrun exit code {finished.returncode}; the ranks' errors are printed above)")
    return summary(read_json(params.paths.model / CONFIG_FILE))


def run(params: Params) -> dict:
    paths = params.paths
    if params.data.modality == "image":
        from tasks import images  # torch and Pillow load only for image runs

        return images.train(paths.prepared, paths.model, paths.train_log, params.image, params.seed)
    if params.train.nproc > 1 and "WORLD_SIZE" not in os.environ:
        return launch_distributed(params)
    return train(paths.prepared, paths.model, paths.train_log, params.train, params.data.target, params.seed,
                 paths.checkpoints)


# The tag lets a Prefect concurrency limit make training runs wait for each other (one GPU, one run).
TRAIN_TAG = "synthpipe-train"
train_task = task(run, name="train", tags=[TRAIN_TAG], cache_policy=NO_CACHE, persist_result=False)


if __name__ == "__main__":  # one torchrun process: python -m tasks.train PARAMS.json
    result = run(parse_params(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")), source=sys.argv[1]))
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"train: {result}", flush=True)

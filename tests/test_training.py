"""The shared training loop on real data: kill and resume, stale checkpoints, divergence recovery, DDP on gloo."""

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from synthpipe import TabularSynthesizer
from synthpipe.config import load_params
from synthpipe.errors import Diverged
from synthpipe.io import read_json, read_table, write_parquet
from synthpipe.training import state_digest
from tests.conftest import LOOSE_GATE, make_project, run_cli
from tests.test_faults import temp_leftovers

TINY = {"min_steps": 0, "batch_size": 50, "generator_dims": [32, 32], "critic_dims": [32, 32], "noise_dim": 16,
        "vae_dims": [32, 32], "latent_dim": 16, "diffusion_steps": 600, "diffusion_batch_size": 50,
        "diffusion_dims": [32, 32], "sampling_steps": 5}  # diffusion: 6 rounds of 100 steps, as 6 GAN/VAE epochs


def train_project(root: Path, penguins, **train) -> Path:
    """A project whose train split is ready: the train stage can run on its own."""
    project = make_project(root, {"train": {"model": "gan", **TINY, **train}})
    write_parquet(penguins, project / "data/prepared/train.parquet")
    return project


def weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(model_dir / "weights.safetensors"))


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def kill_train_stage_after_a_checkpoint(project: Path, checkpoint: Path) -> None:
    """Run `synthpipe stage train` in `project` and SIGKILL it once `checkpoint` holds a state."""
    bin_dir = Path(sys.executable).parent
    process = subprocess.Popen([str(bin_dir / "synthpipe"), "stage", "train"], cwd=project,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not (checkpoint / "state.json").exists() and process.poll() is None:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL  # killed mid-training, not finished


def test_killed_train_stage_resumes_to_bit_identical_weights(tmp_path, penguins):
    project = train_project(tmp_path / "killed", penguins, epochs=40, checkpoint_every=4)
    checkpoint = project / "models/penguins.ckpt/gan"
    kill_train_stage_after_a_checkpoint(project, checkpoint)
    saved = read_json(checkpoint / "state.json")
    assert 4 <= saved["epoch"] < 40 and saved["epoch"] % 4 == 0
    assert not (project / "models/penguins").exists()

    resumed = run_cli("stage", "train", cwd=project)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from checkpoint" in resumed.stderr
    assert not checkpoint.parent.exists()  # removed after the successful fit
    log = (project / "reports/train_log.csv").read_text().splitlines()
    assert len(log) == 41  # the whole history, including the epochs before the kill

    # The same stage never interrupted (in this process: the same CPU arithmetic, one thread each).
    params = load_params(project / "params.yaml")
    uninterrupted = TabularSynthesizer.from_config(params.train, params.seed).fit(
        read_table(project / "data/prepared/train.parquet"), target=params.data.target)
    assert_same_weights(weights(project / "models/penguins"), uninterrupted._model.tensors())


def lock_is_free(path: Path) -> bool:
    import fcntl

    with open(path, "a", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


# The gate's cheapest settings, loose enough for a 40-epoch GAN: the resumed refresh runs it to the end.
QUICK_GATE = {"validate": {**LOOSE_GATE["validate"], "augmentation_fractions": [1.0], "model_iterations": 10,
                           "detection_folds": 2, "max_detection_auc": 1.0, "max_failed_expectations": 20,
                           "max_correlation_diff": 2.0}}


def test_sigterm_stops_refresh_in_training_cleanly_and_the_next_refresh_resumes(tmp_path, prefect_harness):
    from prefect.settings import PREFECT_API_URL

    train = {"model": "gan", **TINY, "epochs": 40, "checkpoint_every": 4}
    project = make_project(tmp_path / "stopped", {"train": train}, QUICK_GATE)
    checkpoint = project / "models/penguins.ckpt/gan"
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "PREFECT_API_URL": PREFECT_API_URL.value()}  # the session's test server: no server start-up per run
    process = subprocess.Popen([str(bin_dir / "synthpipe"), "refresh", "--ci"], cwd=project, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    while not (checkpoint / "state.json").exists() and process.poll() is None:
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    output = process.communicate(timeout=30)[0]
    assert time.monotonic() - sent < 10, output
    assert process.returncode == 1, output  # stopped, not killed by the signal (-15) nor finished (0)
    assert '"status": "interrupted"' in output and "stopped by SIGTERM" in output
    assert lock_is_free(project / ".synthpipe.lock")
    assert temp_leftovers(project) == []
    saved = read_json(checkpoint / "state.json")
    assert 4 <= saved["epoch"] < 40 and not (project / "models/penguins").exists()

    print(f"stopped after {time.monotonic() - sent:.1f} s")
    resumed = subprocess.run([str(bin_dir / "synthpipe"), "refresh"], cwd=project, env=env, capture_output=True,
                             text=True)
    print(f"resumed refresh done after {time.monotonic() - sent:.1f} s")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming from checkpoint" in resumed.stderr and "ingest: up to date" in resumed.stderr
    assert not checkpoint.parent.exists() and temp_leftovers(project) == []
    params = load_params(project / "params.yaml")
    uninterrupted = TabularSynthesizer.from_config(params.train, params.seed).fit(
        read_table(project / "data/prepared/train.parquet"), target=params.data.target)
    assert_same_weights(weights(project / "models/penguins"), uninterrupted._model.tensors())


def stage_processes(project: Path) -> list[int]:
    """Pids of live `synthpipe stage ...` processes working in `project` (Linux /proc)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            zombie = (proc / "stat").read_bytes().rsplit(b")", 1)[1].split()[0] == b"Z"  # exited, not yet reaped
            if not zombie and (proc / "cwd").resolve() == project.resolve() and \
                    b"synthpipe\x00stage" in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:  # gone, or not ours to read
            continue
    return found


@pytest.mark.skipif(not Path("/proc/self/cwd").exists(), reason="finds the stage process through Linux /proc")
@pytest.mark.parametrize("shell", ["/bin/sh", "/bin/bash"])  # dash stays between DVC and the stage; bash execs it
def test_a_stage_that_dvc_runs_stops_when_dvc_is_terminated(tmp_path, penguins, shell):
    project = train_project(tmp_path / "dvc", penguins, epochs=100_000, checkpoint_every=2)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(project),
           "SHELL": shell}  # DVC runs its stage commands in $SHELL
    dvc = subprocess.Popen([str(bin_dir / "dvc"), "repro", "--single-item", "train"], cwd=project, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = project / "models/penguins.ckpt/gan/state.json"
    while not checkpoint.exists() and dvc.poll() is None:
        time.sleep(0.05)
    assert len(stage_processes(project)) == 1
    dvc.send_signal(signal.SIGTERM)  # DVC dies at once and passes nothing on to the stage it runs
    assert dvc.wait(timeout=10) == -signal.SIGTERM
    sent = time.monotonic()
    while stage_processes(project) and time.monotonic() - sent < 10:
        time.sleep(0.05)
    orphans = stage_processes(project)
    for pid in orphans:  # a failing run must not leave one training for hours
        os.kill(pid, signal.SIGKILL)
    assert orphans == [], "the stage trains on without DVC"
    assert temp_leftovers(project) == [] and checkpoint.exists()


def test_a_stop_signal_stops_training_in_a_worker_thread_too(penguins, tmp_path):
    import threading

    from synthpipe.errors import Interrupted
    from synthpipe.interrupt import stop_on_signals

    outcome, started = [], threading.Event()

    def fit() -> None:  # as an orchestrator may run a task: outside the main thread, which the signal interrupts
        synthesizer = TabularSynthesizer(model="gan", epochs=10_000, seed=0, checkpoint_every=1, **TINY)
        try:
            synthesizer.fit(penguins, on_epoch=lambda record: started.set(), checkpoint_dir=tmp_path)
        except Interrupted as stop:
            outcome.append(stop)

    before = signal.getsignal(signal.SIGTERM)
    worker = threading.Thread(target=fit)
    with pytest.raises(Interrupted) as stopped, stop_on_signals():
        worker.start()
        assert started.wait(timeout=60)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises in this (main) thread before this returns
    sent = time.monotonic()
    worker.join(timeout=10)
    assert not worker.is_alive() and time.monotonic() - sent < 10
    assert stopped.value.exit_code == 1 and [stop.exit_code for stop in outcome] == [1]
    assert 1 <= read_json(tmp_path / "gan" / "state.json")["epoch"] < 10_000  # kept for the next run
    assert signal.getsignal(signal.SIGTERM) is before  # the block's handler is gone


@pytest.mark.parametrize("model", ["vae", "gan", "diffusion"])
def test_interrupted_fit_resumes_and_a_stale_checkpoint_is_ignored(model, penguins, tmp_path, caplog):
    def fit(seed: int, stop_after: int | None = None) -> TabularSynthesizer:
        def interrupt(record: dict) -> None:
            if record["epoch"] == stop_after:
                raise KeyboardInterrupt

        synthesizer = TabularSynthesizer(model=model, epochs=6, seed=seed, checkpoint_every=2, **TINY)
        return synthesizer.fit(penguins, on_epoch=interrupt, checkpoint_dir=tmp_path / "ckpt")

    with pytest.raises(KeyboardInterrupt):
        fit(seed=1, stop_after=5)
    assert read_json(tmp_path / "ckpt" / model / "state.json")["epoch"] == 4
    with caplog.at_level(logging.WARNING, logger="synthpipe.training"):
        other_seed = fit(seed=2)  # the checkpoint belongs to seed 1: ignored, and removed at the end
    assert "ignoring checkpoint" in caplog.text and not (tmp_path / "ckpt" / model).exists()
    fresh = TabularSynthesizer(model=model, epochs=6, seed=2, **TINY).fit(penguins)
    assert_same_weights(other_seed._model.tensors(), fresh._model.tensors())

    with pytest.raises(KeyboardInterrupt):
        fit(seed=1, stop_after=5)
    resumed = fit(seed=1)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3, 4, 5, 6]
    assert_same_weights(resumed._model.tensors(), TabularSynthesizer(model=model, epochs=6, seed=1, **TINY)
                        .fit(penguins)._model.tensors())


def test_two_gloo_processes_train_identical_replicas_and_a_model_that_samples_valid_rows(tmp_path, penguins):
    project = train_project(tmp_path / "ddp", penguins, epochs=4)
    started = time.perf_counter()
    finished = run_cli("train", "--nproc", "2", cwd=project)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    print(f"DDP train, 2 processes: {time.perf_counter() - started:.1f} s")
    assert "'processes': 2" in finished.stdout
    model_dir = project / "models/penguins"
    replicas = read_json(model_dir / "config.json")["replicas"]
    assert replicas["world_size"] == 2 and replicas["backend"] == "gloo"
    # Each rank hashed its own weights and BatchNorm buffers: both equal the weights rank 0 saved.
    saved = {k: v for k, v in weights(model_dir).items() if not k.startswith("cond.")}
    assert replicas["digests"] == [state_digest(saved)] * 2
    assert not (project / "models/penguins.ckpt/gan").exists()

    rows = TabularSynthesizer.load(model_dir).sample(500, seed=0)
    complete = [c for c in penguins.columns if penguins[c].notna().all()]
    assert complete and rows[complete].notna().all().all()
    for column in ["species", "island", "sex"]:
        assert set(rows[column].dropna()) <= set(penguins[column].dropna())
    assert np.isfinite(rows.select_dtypes("number").to_numpy(dtype=float, na_value=0.0)).all()


@pytest.mark.parametrize("model", ["gan", "vae"])
def test_a_small_table_trains_for_min_steps_optimiser_steps(penguins, model):
    """50 rows in batches of 50 are one step an epoch: 3 epochs become 40, min_steps' steps."""
    synthesizer = TabularSynthesizer(model=model, seed=0, **{**TINY, "epochs": 3, "min_steps": 40})
    history = synthesizer.fit(penguins.sample(50, random_state=0)).history
    assert [r["epoch"] for r in history] == list(range(1, 41)) and {r["steps"] for r in history} == {1}
    assert synthesizer.info["epochs_run"] == 40


def test_an_absurd_learning_rate_diverges_and_recovers_at_lower_rates(penguins):
    synthesizer = TabularSynthesizer(model="gan", epochs=5, seed=0, learning_rate=1e6, max_divergence_retries=20,
                                     **TINY)
    history = synthesizer.fit(penguins).history
    events = [r for r in history if r.get("event") == "diverged"]
    assert events, "a learning rate of 1e6 should have produced NaN or inf"
    assert [e["lr"] for e in events] == [1e6 * 0.5 ** (i + 1) for i in range(len(events))]  # halved each retry
    assert [r["epoch"] for r in history if "event" not in r] == [1, 2, 3, 4, 5]
    assert synthesizer.info["epochs_run"] == 5
    assert all(torch.isfinite(t).all() for t in synthesizer._model.tensors().values())
    rows = synthesizer.sample(300, seed=0)
    assert np.isfinite(rows.select_dtypes("number").to_numpy(dtype=float, na_value=0.0)).all()
    assert rows[["species", "island", "year"]].notna().all().all()


def test_without_retries_divergence_is_an_error_naming_model_epoch_and_setting(penguins):
    synthesizer = TabularSynthesizer(model="gan", epochs=5, seed=0, learning_rate=1e6, max_divergence_retries=0,
                                     **TINY)
    with pytest.raises(Diverged, match=r"gan: training diverged .* in epoch 1 .*train\.learning_rate"):
        synthesizer.fit(penguins)
    assert Diverged.exit_code == 1


def test_sampling_refuses_a_model_whose_output_is_not_finite(penguins, tmp_path):
    from synthpipe.cli import main

    synthesizer = TabularSynthesizer(model="gan", epochs=1, seed=0, **TINY).fit(penguins)
    with torch.no_grad():
        synthesizer._model.modules["generator"].body[-1].bias.fill_(float("nan"))
    with pytest.raises(Diverged, match="NaN or infinite"):
        synthesizer.sample(10)
    synthesizer.save(tmp_path / "broken")
    out = str(tmp_path / "x.parquet")
    assert main(["sample", "--model", str(tmp_path / "broken"), "--rows", "10", "--out", out]) == 1
    assert not (tmp_path / "x.parquet").exists()


def test_adam_matches_torchs_adam_bit_for_bit_and_restores_from_its_state_dict():
    from synthpipe.training import Adam

    torch.manual_seed(0)
    ours = [torch.nn.Parameter(torch.randn(shape)) for shape in ((7, 5), (5,), (3,))]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    options = {"betas": (0.5, 0.9), "weight_decay": 1e-6}
    adam, reference = Adam(ours, 1e-2, **options), torch.optim.Adam(theirs, lr=1e-2, fused=True, **options)
    for _ in range(6):
        for a, b in zip(ours[:2], theirs[:2]):  # the third gets no gradient: it stays where it is
            grad = torch.randn_like(a)
            a.grad, b.grad = grad, grad.clone()
        adam.step(), reference.step()
    for a, b in zip(ours, theirs):
        assert torch.equal(a, b)
    restored = Adam(ours, 1.0)
    restored.load_state_dict(reference.state_dict())  # a checkpoint written by torch's Adam resumes here
    assert restored.param_groups[0]["lr"] == 1e-2
    assert torch.equal(restored.state[0]["exp_avg"], reference.state[theirs[0]]["exp_avg"])


def test_fitting_does_not_import_torchs_compiler():
    """torch.optim's optimisers import torch._dynamo on first use: 1.3-1.6 s of every fit, which ours avoid.
    auto fits every family, so every family's optimiser is used."""
    script = ("import sys, palmerpenguins; from synthpipe import TabularSynthesizer; "
              "TabularSynthesizer(model='auto', epochs=2, min_steps=0, diffusion_steps=100, selection_splits=1)"
              ".fit(palmerpenguins.load_penguins(), target='species'); "
              "print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
                    reason="glibc's heap thresholds")
def test_a_settled_heap_serves_a_steps_tensors_from_memory_it_keeps():
    """After settle_heap, an 8 MiB tensor comes from the heap (which keeps freed memory), not from a fresh
    mapping that is given back when it is freed and faulted in again next time. mallinfo2's hblkhd counts the
    bytes held in such mappings."""
    script = ("import ctypes, sys, torch; from synthpipe.training import settle_heap\n"
              "class Info(ctypes.Structure): _fields_ = [(name, ctypes.c_size_t) for name in\n"
              "    ('arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks', 'fsmblks', 'uordblks',\n"
              "     'fordblks', 'keepcost')]\n"
              "libc = ctypes.CDLL(None); libc.mallinfo2.restype = Info\n"
              "if sys.argv[1] == 'settled': settle_heap()\n"
              "before = libc.mallinfo2().hblkhd; tensor = torch.ones(2**21)\n"
              "print(libc.mallinfo2().hblkhd - before)")
    mapped = {case: int(subprocess.run([sys.executable, "-c", script, case], capture_output=True, text=True,
                                       check=True).stdout) for case in ("plain", "settled")}
    assert mapped["plain"] >= 2**23  # a mapping of its own
    assert mapped["settled"] == 0


# The digits example at test size: six epochs of a narrow image model on the 1,437 real 8x8 train scans.
SMALL_IMAGE_TRAIN = {"epochs": 6, "min_steps": 0, "checkpoint_every": 2, "width": 8, "noise_dim": 16, "batch_size": 64}


def image_project(root: Path, model: str) -> Path:
    """The digits project with its train split ready: the image train stage can run on its own."""
    import yaml

    from synthpipe.stages import run_stage
    from tests.conftest import REPO

    project = make_project(root)
    params = yaml.safe_load((REPO / "params-digits.yaml").read_text())
    params["image"]["train"] |= SMALL_IMAGE_TRAIN | {"model": model}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    cwd = Path.cwd()
    os.chdir(project)
    try:
        loaded = load_params("params.yaml")
        run_stage("ingest", loaded)
        run_stage("preprocess", loaded)
    finally:
        os.chdir(cwd)
    return project


@pytest.mark.parametrize("model,losses", [("diffusion", ["loss"]), ("gan", ["loss", "critic_loss", "wasserstein"])])
def test_killed_image_train_stage_resumes_to_bit_identical_weights(tmp_path, monkeypatch, model, losses):
    project = image_project(tmp_path / "digits", model)
    checkpoint = project / f"models/digits.ckpt/image_{model}"
    kill_train_stage_after_a_checkpoint(project, checkpoint)
    saved = read_json(checkpoint / "state.json")
    assert 2 <= saved["epoch"] < 6 and saved["epoch"] % 2 == 0 and saved["family"] == f"image_{model}"
    assert any(key.startswith("module.average.") for key in load_file(str(checkpoint / "state.safetensors")))
    assert not (project / "models/digits").exists()

    resumed = run_cli("stage", "train", cwd=project)
    assert resumed.returncode == 0, resumed.stderr
    assert f"image_{model}: resuming from checkpoint models/digits.ckpt/image_{model} after epoch {saved['epoch']}" \
        in resumed.stderr
    assert not checkpoint.parent.exists()  # removed after the successful fit
    log = pd.read_csv(project / "reports/train_log.csv")
    assert log["epoch"].tolist() == list(range(1, 7))  # the whole history, including the epochs before the kill
    assert np.isfinite(log[losses].to_numpy()).all()

    # The same stage never interrupted, in this process (one torch thread, as the subprocess had).
    (project / "models/digits").rename(project / "resumed")
    monkeypatch.chdir(project)
    from synthpipe.stages import run_stage

    run_stage("train", load_params("params.yaml"))
    assert_same_weights(weights(project / "resumed"), weights(project / "models/digits"))


def image_gan_fit(**settings):
    from sklearn.datasets import load_digits

    from synthpipe.config import ImageTrainConfig
    from synthpipe.images.model import train_image_gan
    from synthpipe.training import LoopOptions

    bunch = load_digits()
    images = torch.from_numpy(np.round(bunch.images[:256] * (255 / 16)).astype(np.uint8)).unsqueeze(1)
    cfg = ImageTrainConfig(**{"model": "gan", "width": 8, "noise_dim": 16, "batch_size": 64, **settings})
    return train_image_gan(images, torch.from_numpy(bunch.target[:256]).long(), 10, cfg, seed=0,
                           options=LoopOptions(progress_every=0))


def test_an_image_gan_at_an_absurd_learning_rate_diverges_and_recovers_or_names_its_settings(caplog):
    with caplog.at_level(logging.INFO, logger="synthpipe.training"):
        model = image_gan_fit(epochs=3, learning_rate=1e6, max_divergence_retries=30)
    events = [r for r in model.history if r.get("event") == "diverged"]
    assert events, "a learning rate of 1e6 should have produced NaN or inf"
    assert [e["lr"] for e in events] == [1e6 * 0.5 ** (i + 1) for i in range(len(events))]  # halved each retry
    assert [r["epoch"] for r in model.history if "event" not in r] == [1, 2, 3]
    assert all(torch.isfinite(p).all() for p in [*model.generator.parameters(), *model.critic.parameters()])
    # Progress lines (every step and epoch here: the interval is 0) name the model, epoch, losses and speed.
    assert "image_gan: epoch 1/3, step 1/4" in caplog.text
    assert any(line.startswith("image_gan: epoch 3/3, loss ") and "rows/s, about 0 s left" in line
               for line in caplog.messages)
    with pytest.raises(Diverged, match=r"image_gan: training diverged .* in epoch 1 .*image\.train\.learning_rate"):
        image_gan_fit(epochs=3, learning_rate=1e6, max_divergence_retries=0)


def test_the_cli_shows_synthpipes_progress_lines_on_stderr():
    script = ("import logging; from synthpipe.cli import log_to_stderr; log_to_stderr(); "
              "logging.getLogger('synthpipe.training').info('image_gan: epoch 1/2'); "
              "logging.getLogger('other').info('not shown')")
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stderr
    assert "INFO synthpipe.training: image_gan: epoch 1/2" in shown and "not shown" not in shown


def test_diffusion_divergence_recovers_at_lower_rates_and_keeps_its_step_count(penguins):
    synthesizer = TabularSynthesizer(model="diffusion", seed=0, diffusion_learning_rate=1e6, max_divergence_retries=40,
                                     **{**TINY, "diffusion_steps": 300})
    history = synthesizer.fit(penguins).history
    events = [r for r in history if r.get("event") == "diverged"]
    assert events, "a learning rate of 1e6 should have produced NaN or inf"
    assert [e["lr"] for e in events] == [1e6 * 0.5 ** (i + 1) for i in range(len(events))]
    assert [r["epoch"] for r in history if "event" not in r] == [1, 2, 3]  # rounds of 100 optimiser steps
    rows = synthesizer.sample(300, seed=0)
    assert np.isfinite(rows.select_dtypes("number").to_numpy(dtype=float, na_value=0.0)).all()

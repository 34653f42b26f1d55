"""The one epoch loop of every neural model (the tabular GAN, VAE and diffusion model, the image GAN and diffusion
model, the time-series GRU): history, deadline, checkpoints, resume, divergence, replicas, progress.

A model family hands over a `Trainee`: its networks, its optimisers and `step()`, which trains on one batch
(calling `update` for each optimiser) and returns that batch's losses. Everything around the steps lives here:

    resume from a matching checkpoint  ->  for each epoch: steps, then
        losses or weights not finite?  ->  back to the last good state, learning rate x factor, same epoch again
        else                           ->  record, callback, good state, checkpoint every K epochs, deadline
    (and, when stderr is not a terminal, a progress line in the log at least every 30 seconds)
    ->  the family finishes its networks (Trainee.finish)  ->  replicas agree on the weights  ->  checkpoint removed

A checkpoint is a directory holding state.safetensors (every module and optimiser tensor, the RNG states) and
state.json (epoch, history, optimiser settings, the fingerprint of the config and data it belongs to); it is
replaced atomically. Every random draw of a step comes from the global torch RNG, which is saved too, so a
resumed run ends with the same weights, bit for bit, as one that was never stopped.

Under torchrun (WORLD_SIZE > 1) every rank holds a full replica: weights start equal (same seed), each rank
draws its own batches (seed + rank), gradients are averaged across ranks before each optimiser step and
BatchNorm statistics at each epoch end, so the replicas stay identical; rank 0 alone writes files.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from torch import nn

from synthpipe import interrupt
from synthpipe.config import LoopConfig
from synthpipe.errors import Diverged, SynthpipeError
from synthpipe.io import atomic_dir, read_json, write_json

log = logging.getLogger(__name__)
STATE_TENSORS, STATE_META = "state.safetensors", "state.json"
HEAP_SETTLE_BYTES = 16 * 2**20  # see settle_heap
PROGRESS_SECONDS = 30.0


@dataclass
class Trainee:
    """What a model family gives the loop: `step(n)` trains on one batch and returns its losses.

    `n` counts steps from the start of training (0, 1, ...), resumed runs included."""

    family: str
    modules: dict[str, nn.Module]
    optimizers: dict[str, Adam]
    step: Callable[[int], dict[str, torch.Tensor]]
    steps_per_epoch: int
    batch: int
    finish: Callable[[], None] | None = None  # puts the networks in their final form once training ends
    settings: str = "train"  # the params section of its settings, named in errors


@dataclass(frozen=True)
class Checkpoints:
    """Where one fit keeps its checkpoint, and the fingerprint of the config and data it belongs to."""

    directory: Path
    name: str
    fingerprint: str

    @property
    def path(self) -> Path:
        return self.directory / self.name


@dataclass
class LoopOptions:
    stop_at: float | None = None  # time.monotonic() deadline
    on_epoch: Callable[[dict], None] | None = None
    checkpoints: Checkpoints | None = None
    # Seconds between progress lines in the log when stderr is not a terminal (None: never). A terminal has the
    # stage's progress bar (tqdm, disable=None), which shows nothing in a scheduler's, CI's or DVC's log.
    progress_every: float | None = PROGRESS_SECONDS


@dataclass
class TrainResult:
    history: list[dict]  # one record per epoch, plus {"event": "diverged", "lr": ...} records
    replicas: dict | None = None  # distributed runs: world size and every rank's final weight digest


# ---------------------------------------------------------------------------------------------- the loop

def train(trainee: Trainee, cfg: LoopConfig, seed: int, options: LoopOptions | None = None) -> TrainResult:
    """Run `trainee` for planned_epochs (cfg.epochs within cfg.min_steps and cfg.max_steps optimiser steps), or to
    the deadline."""
    options = options or LoopOptions()
    epochs = planned_epochs(cfg, trainee.steps_per_epoch)
    settle_heap()
    torch.manual_seed(seed + rank())  # weights are already built from `seed`; each rank draws its own batches
    epoch, history = resume(trainee, options.checkpoints)
    # The last good state, kept in memory every checkpoint_every epochs (checkpointed or not): divergence goes
    # back there rather than to the previous epoch, whose weights a too-high learning rate may already have ruined.
    good = (epoch, snapshot(trainee))
    retries = len(history) - epochs_run(history)
    progress = Progress(trainee, epochs, options.progress_every)
    while epoch < epochs:
        epoch += 1
        at_boundary = epoch % cfg.checkpoint_every == 0 or epoch == epochs
        record = run_epoch(trainee, epoch, check_weights=at_boundary, progress=progress)
        if record is None:  # NaN or inf somewhere: back to the good state, with a lower learning rate
            retries += 1
            check_retries(trainee, cfg, epoch, retries)
            epoch, history = back_off(trainee, good, history, cfg, epoch, retries)
            continue
        history.append(record)
        progress.epoch_done(record)
        if options.on_epoch:
            options.on_epoch(record)
        average_buffers(trainee)
        if at_boundary:
            good = (epoch, snapshot(trainee, reuse=good[1]))
            if options.checkpoints and epoch < epochs:
                save_checkpoint(trainee, good[1], options.checkpoints, epoch, history)
        if options.stop_at is not None and any_rank(time.monotonic() > options.stop_at):
            break
    if trainee.finish:
        trainee.finish()
    replicas = check_replicas_agree(trainee)
    if options.checkpoints and rank() == 0:
        remove_checkpoint(options.checkpoints)
    return TrainResult(history, replicas)


def planned_epochs(cfg: LoopConfig, steps_per_epoch: int) -> int:
    """cfg.epochs, raised so that training takes at least cfg.min_steps optimiser steps and cut so that it takes at
    most cfg.max_steps (the cut wins): a model learns per step, not per pass, and a fixed epoch count gives a
    300-row table a thousandth of the updates of a 300k-row one, at a thousandth of the cost."""
    epochs = max(cfg.epochs, -(-cfg.min_steps // steps_per_epoch))
    if cfg.max_steps is None:
        return epochs
    return max(1, min(epochs, -(-cfg.max_steps // steps_per_epoch)))


def settle_heap() -> None:
    """Let the C heap keep the memory a training step frees, rather than hand it back and fault it in again.

    glibc raises its mmap threshold to the size of a freed mmapped block (up to 32 MiB), and its trim threshold to
    twice that. Until it has, the tensors a step frees beyond the top of the heap (~1.4 MB a step with a
    300-column table) go back to the kernel, which zero-fills them anew at the next step: ~270 page faults a step.
    Allocating and freeing one 16 MiB block sets both thresholds as any process that freed such a tensor has
    them; with another allocator it is one short allocation.
    """
    torch.empty(HEAP_SETTLE_BYTES, dtype=torch.uint8)  # freed at once: nothing holds it


def run_epoch(trainee: Trainee, epoch: int, check_weights: bool, progress: Progress | None = None) -> dict | None:
    """One pass of steps; None when a loss (or, checked before a snapshot, a weight) is not finite on any rank.

    Weights that turn NaN show in the next step's losses, so checking them only before they are kept suffices."""
    started = time.perf_counter()
    every_loss = []  # checked once the epoch ends: one host sync and one check per epoch, not one per step
    for i in range(trainee.steps_per_epoch):
        interrupt.check()  # a stop asked for while this runs outside the main thread (see synthpipe.interrupt)
        losses = trainee.step((epoch - 1) * trainee.steps_per_epoch + i)
        every_loss.extend(losses.values())
        if progress and progress.due():  # long epochs too: a line within the interval, not at the epoch's end
            progress.log("%s: epoch %d/%d, step %d/%d", trainee.family, epoch, progress.epochs, i + 1,
                         trainee.steps_per_epoch)
    finite = torch.isfinite(torch.stack(every_loss)).all()
    if check_weights:
        # One sum per tensor: NaN and inf carry through a sum, and finite weights overflow it only near 1e32
        # (diverged anyway). Checking every weight with isfinite takes a copy and four passes over all of them.
        sums = [p.detach().sum() for module in trainee.modules.values() for p in module.parameters()]
        finite &= torch.isfinite(torch.stack(sums).sum())
    if any_rank(not bool(finite)):
        return None
    seconds = time.perf_counter() - started
    return {"epoch": epoch, **{name: value.item() for name, value in losses.items()}, "seconds": seconds,
            "steps": trainee.steps_per_epoch,
            "rows_per_s": trainee.steps_per_epoch * trainee.batch * world_size() / seconds}


class Progress:
    """Progress lines in the log, never more than `every` seconds apart: at the first epoch end after half the
    interval, a line with the epoch, its losses, the speed and the time the rest will take; within an epoch that
    runs past the whole interval, a line with the step it is at."""

    def __init__(self, trainee: Trainee, epochs: int, every: float | None):
        self.family, self.epochs = trainee.family, epochs
        self.every = None if sys.stderr.isatty() or rank() != 0 else every  # rank 0 speaks for all replicas
        self.last = time.monotonic()

    def due(self, share: float = 1.0) -> bool:
        return self.every is not None and time.monotonic() - self.last >= share * self.every

    def log(self, message: str, *args: object) -> None:
        self.last = time.monotonic()
        log.info(message, *args)

    def epoch_done(self, record: dict) -> None:
        if not self.due(0.5):  # short epochs: a line with losses comes before a step line would
            return
        losses = ", ".join(f"{name} {value:.4g}" for name, value in record.items()
                           if name not in ("epoch", "seconds", "rows_per_s"))
        left = (self.epochs - record["epoch"]) * record["seconds"]
        self.log("%s: epoch %d/%d, %s, %.0f rows/s, about %.0f s left", self.family, record["epoch"], self.epochs,
                 losses, record["rows_per_s"], left)


def deadline(seconds: float | None) -> float | None:
    """The `time.monotonic()` at which a time budget of `seconds` from now runs out (None: no budget)."""
    return None if seconds is None else time.monotonic() + seconds


def epochs_run(history: list[dict]) -> int:
    """Epochs completed (divergence events are records too, but no epoch)."""
    return sum("event" not in record for record in history)


class Adam:
    """Adam with L2 weight decay (what torch.optim.Adam computes), on torch's fused kernel called directly.

    torch.optim.Optimizer imports torch._dynamo the first time it is used (1.3-1.6 s, paid by every fit in a
    fresh process) and wraps each step in hooks and profiler records (~0.3 ms a call, as much as the kernel).
    This holds the same state (step, exp_avg, exp_avg_sq per parameter, laid out as torch's state_dict) and
    runs the same kernel, so the weights come out the same, bit for bit.
    """

    def __init__(self, params: Iterable[torch.Tensor], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, copies: WorkingCopies | None = None):
        self.params = list(params)
        self.copies = copies
        # What backward differentiates for this optimiser: a parameter's working copies where it has them.
        self.gradient_inputs = copies.stand_ins(self.params) if copies else self.params
        self.param_groups = [{"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}]
        # A schedule's factor on the learning rate, set before each step from the step number alone (so a resumed
        # run sets it the same), apart from the group's rate, which divergence back-off lowers.
        self.lr_factor = 1.0
        # Every parameter's step count, as views of one tensor: when all step, one increment counts them all.
        self.steps = torch.zeros(len(self.params), device=self.params[0].device if self.params else None)
        self.state = {i: {"step": self.steps[i], "exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p)}
                      for i, p in enumerate(self.params)}

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None  # backward then hands its gradient tensor over instead of adding into a zeroed one

    @torch.no_grad()
    def step(self) -> None:
        live = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not live:
            return
        steps = [self.state[i]["step"] for i in live]
        if len(live) == len(self.params):
            self.steps += 1
        else:
            torch._foreach_add_(steps, 1)
        group = self.param_groups[0]
        torch._fused_adam_([self.params[i] for i in live], [self.params[i].grad for i in live],
                           [self.state[i]["exp_avg"] for i in live], [self.state[i]["exp_avg_sq"] for i in live],
                           [], steps, lr=group["lr"] * self.lr_factor, beta1=group["betas"][0], beta2=group["betas"][1],
                           weight_decay=group["weight_decay"], eps=group["eps"], amsgrad=False, maximize=False)
        if self.copies:
            self.copies.refresh()

    def state_dict(self) -> dict:
        return {"state": self.state, "param_groups": self.param_groups}

    def load_state_dict(self, state: dict) -> None:
        for i, values in state["state"].items():
            for key, value in values.items():
                self.state[int(i)][key].copy_(value)
        self.param_groups = [{key: state["param_groups"][0][key] for key in ("lr", "betas", "eps", "weight_decay")}]


class WorkingCopies:
    """Low-precision (bfloat16) working copies of float32 weights, read by the forward and backward passes.

    Autocast casts a weight at each use (the critic's at each of its two or three passes a step) and its gradient
    back, every time into a freshly allocated tensor: on a 300-column table, whose critic takes 3,090 inputs, those
    casts took ~1.8 ms of a ~16 ms step on a CPU. These copies are refreshed in place once per optimiser step, and
    their gradients are widened into float32 buffers kept for it. A copy may hold a range of a weight's columns (a
    piece), so that a network can multiply inputs that need no gradient by their own columns.
    """

    def __init__(self, pieces: Iterable[tuple[torch.Tensor, slice]], dtype: torch.dtype):
        self.pieces = list(pieces)  # (parameter, the columns its copy holds; slice(None) for all of a bias)
        self.copies = [columns(p, cols).detach().to(dtype).requires_grad_() for p, cols in self.pieces]
        self.grads = {p: torch.zeros_like(p) for p, _ in self.pieces}  # one float32 buffer per parameter
        self.copies_of: dict[torch.Tensor, list[torch.Tensor]] = {}  # tensors hash by identity
        for (param, _), copy in zip(self.pieces, self.copies):
            self.copies_of.setdefault(param, []).append(copy)

    @torch.no_grad()
    def refresh(self) -> None:
        torch._foreach_copy_(self.copies, [columns(p, cols) for p, cols in self.pieces])

    def stand_ins(self, params: list[torch.Tensor]) -> list[torch.Tensor]:
        return [stand_in for p in params for stand_in in self.copies_of.get(p, [p])]

    def collect_gradients(self) -> None:
        """The copies' gradients, widened into their parameters' float32 buffers (one operation for all); a
        parameter none of whose pieces got a gradient gets none, a piece without one gets zeros."""
        reached = {p for (p, _), copy in zip(self.pieces, self.copies) if copy.grad is not None}
        for param, buffer in self.grads.items():
            param.grad = buffer if param in reached else None
        targets, grads = [], []
        for (param, cols), copy in zip(self.pieces, self.copies):
            if copy.grad is not None:
                targets.append(columns(param.grad, cols))
                grads.append(copy.grad)
            elif param in reached:
                columns(param.grad, cols).zero_()
            copy.grad = None
        torch._foreach_copy_(targets, grads)


def columns(tensor: torch.Tensor, cols: slice) -> torch.Tensor:
    return tensor[:, cols] if tensor.dim() == 2 else tensor[cols]


def update(optimizer: Adam, loss: torch.Tensor) -> None:
    """One optimiser step on `loss`; across replicas the gradients are averaged first (as DDP does).

    Gradients are computed for this optimiser's parameters only: the GAN's generator loss runs through the
    critic, whose weight gradients (the critic's largest products) would be computed and thrown away."""
    optimizer.zero_grad()
    loss.backward(inputs=optimizer.gradient_inputs)
    if optimizer.copies:
        optimizer.copies.collect_gradients()
    if world_size() > 1:
        params = optimizer.params
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])  # one all-reduce for the whole network
        dist.all_reduce(flat)
        flat /= world_size()
        for p, g in zip(params, flat.split([p.numel() for p in params])):
            p.grad = g.view_as(p)
    optimizer.step()


# ---------------------------------------------------------------------------------------------- divergence

def check_retries(trainee: Trainee, cfg: LoopConfig, epoch: int, retries: int) -> None:
    if retries > cfg.max_divergence_retries:
        lr = learning_rates(trainee)[0]
        raise Diverged(f"{trainee.family}: training diverged (NaN or infinite loss or weights) in epoch {epoch} "
                       f"and {cfg.max_divergence_retries} retries at a lower learning rate did not help "
                       f"(last learning rate {lr:.3g}); lower the learning rate ({trainee.settings}.learning_rate "
                       f"for a GAN), check the data for extreme values, or raise "
                       f"{trainee.settings}.max_divergence_retries")


def back_off(trainee: Trainee, to: tuple[int, State], history: list[dict], cfg: LoopConfig, epoch: int,
             retry: int) -> tuple[int, list[dict]]:
    """Restore the state after epoch `to[0]` with every learning rate times the factor; forget later epochs."""
    start, state = to
    rates = [lr * cfg.divergence_lr_factor for lr in learning_rates(trainee)]  # before restore() resets them
    restore(trainee, state)
    groups = [group for optimizer in trainee.optimizers.values() for group in optimizer.param_groups]
    for group, rate in zip(groups, rates, strict=True):
        group["lr"] = rate
    log.warning("%s: epoch %d diverged; retry %d from the state after epoch %d at learning rate %.3g",
                trainee.family, epoch, retry, start, rates[0])
    kept = [record for record in history if "event" in record or record["epoch"] <= start]
    return start, [*kept, {"epoch": epoch, "event": "diverged", "retry": retry, "from_epoch": start, "lr": rates[0]}]


def learning_rates(trainee: Trainee) -> list[float]:
    return [group["lr"] for optimizer in trainee.optimizers.values() for group in optimizer.param_groups]


# ---------------------------------------------------------------------------------------------- state

@dataclass
class State:
    """Module and optimiser tensors, optimiser settings and this rank's RNG state: a snapshot or a checkpoint."""

    tensors: dict[str, torch.Tensor]
    groups: dict[str, list[dict]]


def snapshot(trainee: Trainee, reuse: State | None = None) -> State:
    """The trainee's state now; written into the tensors of `reuse` (an earlier snapshot that is no longer
    needed) when it has them: a new multi-megabyte allocation is page-faulted in afresh each time."""
    live = {f"module.{name}.{key}": value.detach()
            for name, module in trainee.modules.items() for key, value in module.state_dict().items()}
    groups = {}
    for name, optimizer in trainee.optimizers.items():
        state = optimizer.state_dict()
        for pid, values in state["state"].items():
            live |= {f"optim.{name}.{pid}.{key}": torch.as_tensor(value).detach() for key, value in values.items()}
        groups[name] = state["param_groups"]
    if reuse is not None and all(k in reuse.tensors and reuse.tensors[k].shape == v.shape for k, v in live.items()):
        tensors = {k: reuse.tensors[k].copy_(v) for k, v in live.items()}
    else:
        tensors = {k: v.clone() for k, v in live.items()}
    return State(tensors | rng_states(), json.loads(json.dumps(groups)))


def restore(trainee: Trainee, state: State) -> None:
    for name, module in trainee.modules.items():
        prefix = f"module.{name}."
        module.load_state_dict({k.removeprefix(prefix): v.clone()
                                for k, v in state.tensors.items() if k.startswith(prefix)})
    for name, optimizer in trainee.optimizers.items():
        per_param: dict[int, dict] = {}
        for key, value in state.tensors.items():
            if key.startswith(f"optim.{name}."):
                pid, entry = key.removeprefix(f"optim.{name}.").split(".", 1)
                per_param.setdefault(int(pid), {})[entry] = value.clone()
        optimizer.load_state_dict({"state": per_param, "param_groups": json.loads(json.dumps(state.groups[name]))})
        if optimizer.copies:
            optimizer.copies.refresh()
    torch.set_rng_state(state.tensors["rng.cpu"])
    if "rng.cuda" in state.tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(state.tensors["rng.cuda"])


def rng_states() -> dict[str, torch.Tensor]:
    states = {"rng.cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["rng.cuda"] = torch.cuda.get_rng_state()
    return states


# ---------------------------------------------------------------------------------------------- checkpoints

def save_checkpoint(trainee: Trainee, state: State, checkpoints: Checkpoints, epoch: int, history: list[dict]) -> None:
    """Rank 0 writes `state` (the snapshot just taken); it holds every rank's RNG state (rows of rng.*), so each
    resumes its own."""
    tensors = {k: (gather(v) if k.startswith("rng.") else v).contiguous() for k, v in state.tensors.items()}
    if rank() != 0:
        return
    with atomic_dir(checkpoints.path) as tmp:
        save_file({k: v.cpu() for k, v in tensors.items()}, str(tmp / STATE_TENSORS))
        write_json({"fingerprint": checkpoints.fingerprint, "family": trainee.family, "epoch": epoch,
                    "learning_rates": learning_rates(trainee), "world_size": world_size(),
                    "optimizers": state.groups, "history": history}, tmp / STATE_META)


def resume(trainee: Trainee, checkpoints: Checkpoints | None) -> tuple[int, list[dict]]:
    """(epochs already done, their history): from a checkpoint made for this config and data, else a fresh start."""
    if checkpoints is None or not (checkpoints.path / STATE_META).exists():
        return 0, []
    meta = read_json(checkpoints.path / STATE_META)
    if meta.get("fingerprint") != checkpoints.fingerprint:
        log.warning("%s: ignoring checkpoint %s: it was made for another config or data; it will be replaced",
                    trainee.family, checkpoints.path)
        return 0, []
    tensors = load_file(str(checkpoints.path / STATE_TENSORS))
    tensors = {k: (v[rank()] if k.startswith("rng.") else v) for k, v in tensors.items()}
    restore(trainee, State(tensors, meta["optimizers"]))
    log.warning("%s: resuming from checkpoint %s after epoch %d", trainee.family, checkpoints.path, meta["epoch"])
    return meta["epoch"], meta["history"]


def remove_checkpoint(checkpoints: Checkpoints) -> None:
    shutil.rmtree(checkpoints.path, ignore_errors=True)
    with contextlib.suppress(OSError):  # the folder too, once no other fit keeps a checkpoint there
        checkpoints.directory.rmdir()


def fingerprint(*parts: object) -> str:
    """A short hash of what a trajectory depends on (config, data hash, seed, family, world size)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


# ---------------------------------------------------------------------------------------------- replicas

def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


@contextlib.contextmanager
def process_group(device: torch.device) -> Iterator[None]:
    """Join the torchrun job when started by torchrun (WORLD_SIZE > 1): gloo on the CPU, NCCL on CUDA."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        yield
        return
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _comm_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def any_rank(flag: bool) -> bool:
    """True if `flag` is true on any rank: all ranks take the same branch, or the collectives would hang."""
    if world_size() == 1:
        return flag
    value = torch.tensor([int(flag)], device=_comm_device())
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def gather(tensor: torch.Tensor) -> torch.Tensor:
    """Every rank's `tensor`, stacked (world x ...); a single rank's gets a leading axis of one."""
    if world_size() == 1:
        return tensor.unsqueeze(0)
    parts = [torch.empty_like(tensor, device=_comm_device()) for _ in range(world_size())]
    dist.all_gather(parts, tensor.to(_comm_device()))
    return torch.stack(parts).to(tensor.device)


def average_buffers(trainee: Trainee) -> None:
    """Average floating buffers (BatchNorm running statistics) across replicas, so they are identical too."""
    if world_size() == 1:
        return
    for module in trainee.modules.values():
        for buffer in module.buffers():
            if buffer.is_floating_point():
                dist.all_reduce(buffer)
                buffer /= world_size()


def state_digest(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over named tensors in name order: equal digests, equal weights."""
    digest = hashlib.sha256()
    for key in sorted(tensors):
        digest.update(key.encode())
        digest.update(tensors[key].detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def replica_digests(trainee: Trainee) -> list[str]:
    """Each rank's digest of its module state (weights and buffers), gathered on every rank."""
    tensors = {f"{name}.{key}": value for name, module in trainee.modules.items()
               for key, value in module.state_dict().items()}
    own = torch.frombuffer(bytearray.fromhex(state_digest(tensors)), dtype=torch.uint8)
    return [bytes(row.tolist()).hex() for row in gather(own)]


def check_replicas_agree(trainee: Trainee) -> dict | None:
    """Distributed runs: every rank's weight digest, after making sure they are all the same."""
    if world_size() == 1:
        return None
    digests = replica_digests(trainee)
    if len(set(digests)) > 1:
        raise SynthpipeError(f"{trainee.family}: the {world_size()} training replicas ended with different weights")
    return {"world_size": world_size(), "backend": dist.get_backend(), "digests": digests}


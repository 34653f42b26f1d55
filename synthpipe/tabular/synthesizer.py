"""TabularSynthesizer: the public API over the four model families.

    s = TabularSynthesizer(model="auto", seed=0)   # or "gan", "vae", "copula", "diffusion"; any TrainConfig field
    s.fit(df, target="label")
    s.sample(1000, conditions={"label": "rare"})              # exactly 1000 rows, all label == "rare"
    s.sample(1000, balance="target")                          # equal rows per class of the target
    s.save("models/x");  TabularSynthesizer.load("models/x")

A model directory holds weights.safetensors, config.json, transformer.json and manifest.json (every file's
SHA-256 and size, checked before loading): no pickle, and
weights are stored on the CPU, so a model trained on a GPU loads on a machine without one.
`model="auto"` fits every family on part of the data, scores each on the held-out rest
(synthpipe.tabular.scoring), refits the best on all rows and records the scores and the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from pydantic import ValidationError
from safetensors.torch import load_file, save_file
from torch import nn

from synthpipe.config import GenerateConfig, TrainConfig
from synthpipe.constraints import apply as apply_constraints
from synthpipe.constraints import parse as parse_constraint
from synthpipe.device import cpu_threads, resolve_device
from synthpipe.errors import ConfigError, Diverged, InputError
from synthpipe.gate.evaluation import task_for
from synthpipe.identifiers import IdentifierFormat, identifier_modes
from synthpipe.io import atomic_dir, file_hash, frame_hash, read_json, verify_manifest, write_json, write_manifest
from synthpipe.schema import ColumnKind, check_table, infer_kinds
from synthpipe.split import split_train_holdout
from synthpipe.tabular.conditions import (
    CondLayout,
    empirical_vectors,
    encoded_slots,
    fixed_vectors,
    force_slots,
    slot_counts,
)
from synthpipe.tabular.copula import GaussianCopula, fit_copula, sample_copula
from synthpipe.tabular.diffusion import STEPS_PER_ROUND, DiffusionModel, fit_diffusion
from synthpipe.tabular.gan import Critic, GanShape, Generator, generate_gan, train_gan
from synthpipe.tabular.scoring import score
from synthpipe.tabular.transform import CategoricalCodec, Span, TableTransformer
from synthpipe.tabular.vae import Decoder, Encoder, VaeShape, generate_vae, train_vae
from synthpipe.training import Checkpoints, LoopOptions, deadline, epochs_run, fingerprint, planned_epochs, world_size

FAMILIES = ("copula", "gan", "vae", "diffusion")
FORMAT = "synthpipe.tabular/1"
WEIGHTS_FILE, CONFIG_FILE, TRANSFORMER_FILE = "weights.safetensors", "config.json", "transformer.json"
IDENTIFIERS_FILE = "identifiers.json"
SCORING_ROWS = 5000  # synthetic rows drawn to score a candidate (at least the held-out row count)
CHUNK_ROWS = GenerateConfig().chunk_rows  # rows sampled and decoded at a time


@dataclass
class NeuralModel:
    """A trained GAN or VAE with what sampling needs: networks, transformer, level counts."""

    family: str
    transformer: TableTransformer
    shape: GanShape | VaeShape
    modules: dict[str, nn.Module]
    counts: torch.Tensor  # rows per slot of each categorical column: unconditional sampling follows them
    history: list[dict] = field(default_factory=list)
    replicas: dict | None = None  # distributed training: world size and every rank's final weight digest

    def sample_frame(self, rows: int, fixed: dict[str, np.ndarray], torch_rng: torch.Generator,
                     np_rng: np.random.Generator) -> pd.DataFrame:
        layout = CondLayout.of(self.transformer)
        cond = fixed_vectors(layout, fixed) if fixed else empirical_vectors(layout, self.counts.cpu(), rows, torch_rng)
        if self.family == "gan":
            encoded = generate_gan(self.modules["generator"], self.shape, cond, torch_rng)
        else:
            encoded = generate_vae(self.modules["decoder"], self.shape, cond, torch_rng)
        if not torch.isfinite(encoded).all():  # decoded, a NaN would pass for a null: refuse instead
            raise Diverged(f"the {self.family} model generates NaN or infinite values: its weights are broken; "
                           "retrain it (a lower learning rate helps)")
        return self.transformer.decode(force_slots(encoded, layout, fixed).cpu().numpy(), np_rng)

    def tensors(self) -> dict[str, torch.Tensor]:
        tensors = {f"{name}.{key}": value for name, module in self.modules.items()
                   for key, value in module.state_dict().items()}
        return tensors | {"cond.counts": self.counts}

    @classmethod
    def from_tensors(cls, family: str, transformer: TableTransformer, raw_shape: dict,
                     tensors: dict[str, torch.Tensor]) -> NeuralModel:
        spans = tuple(Span(**s) for s in raw_shape["spans"])
        if family == "gan":
            shape = GanShape(spans, raw_shape["cond_width"], raw_shape["noise_dim"], tuple(raw_shape["generator_dims"]),
                             tuple(raw_shape["critic_dims"]), raw_shape["pac"])
            modules = {"generator": Generator(shape), "critic": Critic(shape)}
        else:
            shape = VaeShape(spans, raw_shape["cond_width"], raw_shape["latent_dim"], tuple(raw_shape["dims"]))
            modules = {"encoder": Encoder(shape), "decoder": Decoder(shape)}
        for name, module in modules.items():
            module.load_state_dict({k.removeprefix(f"{name}."): v
                                    for k, v in tensors.items() if k.startswith(f"{name}.")})
        return cls(family, transformer, shape, modules, tensors["cond.counts"])

    def to(self, device: torch.device) -> NeuralModel:
        for module in self.modules.values():
            module.to(device)
        return self


@dataclass
class CopulaModel:
    copula: GaussianCopula
    family: str = "copula"
    history: list[dict] = field(default_factory=list)

    @property
    def transformer(self) -> TableTransformer:
        return self.copula.transformer

    @property
    def shape(self) -> dict:
        return self.copula.shape

    def sample_frame(self, rows: int, fixed: dict[str, np.ndarray], torch_rng: torch.Generator,
                     np_rng: np.random.Generator) -> pd.DataFrame:
        return sample_copula(self.copula, rows, fixed, np_rng)

    def tensors(self) -> dict[str, torch.Tensor]:
        return {f"copula.{k}": torch.from_numpy(np.ascontiguousarray(v)) for k, v in self.copula.tensors().items()}

    def to(self, device: torch.device) -> CopulaModel:
        return self  # numpy on the CPU: nothing to move


Model = NeuralModel | CopulaModel | DiffusionModel


def fit_family(family: str, df: pd.DataFrame, target: str | None, cfg: TrainConfig, seed: int, device: torch.device,
               stop_at: float | None = None, on_epoch: Callable[[dict], None] | None = None,
               checkpoint_dir: Path | None = None, checkpoint_name: str | None = None) -> Model:
    """Fit one model family on `df` (the transformer too); the copula models each target class apart.

    With `checkpoint_dir` the GAN, VAE and diffusion model checkpoint there (as `checkpoint_name`, default the
    family) and resume from a checkpoint made for the same config, data and seed."""
    transformer = TableTransformer.fit(df, modelled_kinds(df, target),
                                       max_modes=1 if family in ("copula", "diffusion") else cfg.max_modes,
                                       max_categories=cfg.max_categories, mode_fit_rows=cfg.mode_fit_rows, seed=seed)
    if family == "copula":
        return CopulaModel(fit_copula(df, transformer, seed, target))
    checkpoints = None
    if checkpoint_dir is not None:
        checkpoints = Checkpoints(Path(checkpoint_dir), checkpoint_name or family,
                                  _trajectory_fingerprint(family, df, cfg, seed, device))
    options = LoopOptions(stop_at, on_epoch, checkpoints)
    if family == "diffusion":
        return fit_diffusion(df, transformer, cfg, seed, device, options)
    # The whole encoded training set is one tensor on the device; batches are index draws into it.
    data = torch.from_numpy(transformer.encode(df)).to(device)
    layout = CondLayout.of(transformer)
    counts = slot_counts(layout, encoded_slots(layout, data)).cpu()
    if family == "gan":
        trained = train_gan(data, tuple(transformer.spans), layout, cfg, seed, options)
        modules = {"generator": trained.generator, "critic": trained.critic}
    else:
        trained = train_vae(data, tuple(transformer.spans), layout, cfg, seed, options)
        modules = {"encoder": trained.encoder, "decoder": trained.decoder}
    return NeuralModel(family, transformer, trained.shape, modules, counts, trained.history, trained.replicas)


# Part of the fingerprint: raised when the tensors of an unfinished fit's checkpoint change meaning, so that one
# left by an earlier version is not resumed. 2: the GAN trains in TrainingLayout column order.
CHECKPOINT_FORMAT = 2


def _trajectory_fingerprint(family: str, df: pd.DataFrame, cfg: TrainConfig, seed: int, device: torch.device) -> str:
    """What the weights after epoch k depend on; settings that only say when to save or stop are left out."""
    settings = cfg.model_dump(exclude={"checkpoint_every", "max_divergence_retries", "time_budget", "nproc", "device",
                                        "cpu_threads"})
    return fingerprint(family, settings, seed, frame_hash(df), device.type, world_size(), CHECKPOINT_FORMAT)


def modelled_kinds(df: pd.DataFrame, target: str | None) -> dict[str, ColumnKind]:
    """Column kinds as inferred, except that a whole-number target with few values (0/1, grades 1-5) is a
    label, as the gate scores it: modelled as a category, it can be conditioned on and balanced exactly."""
    kinds = infer_kinds(df)
    if target is not None and kinds[target] == "discrete" and task_for(df[target], "discrete") == "classification":
        kinds[target] = "categorical"
    return kinds


def select_model(df: pd.DataFrame, target: str | None, cfg: TrainConfig, seed: int, device: torch.device,
                 on_epoch: Callable[[dict], None] | None = None,
                 checkpoint_dir: Path | None = None) -> tuple[Model, dict]:
    """Fit each family on part of (a subsample of) `df`, score it on the rest, refit the best on all of `df`.
    On a small table every family is fitted and scored on several seeded splits and its scores averaged.

    What each phase costs is bounded by the table's size only up to a point: the candidates see at most
    cfg.selection_rows rows, every GAN/VAE fit at most cfg.max_steps optimiser steps, and all of them together
    cfg.time_budget seconds (the candidates share it with the refit)."""
    budget_end = deadline(cfg.time_budget)
    subsample = df if len(df) <= cfg.selection_rows else df.sample(cfg.selection_rows, random_state=seed)
    splits = selection_splits(subsample, target, cfg, seed)
    scores = {}
    for i, family in enumerate(FAMILIES):
        # What is left of the budget is shared by the remaining candidates and the final refit.
        share = (budget_end - time.monotonic()) / (len(FAMILIES) - i + 1) if budget_end is not None else None
        stop_at = deadline(share)
        scores[family] = _candidate(family, splits, target, cfg, seed, device, stop_at, checkpoint_dir)
    fitted = [family for family in FAMILIES if scores[family]["score"] is not None]
    if not fitted:
        raise InputError("model auto: no model family could be fitted: "
                         + "; ".join(f"{f}: {scores[f]['skipped']}" for f in FAMILIES))
    best = max(fitted, key=lambda family: scores[family]["score"])
    refit = _as_far_as(best, scores[best]["epochs"], cfg)  # a budget may have stopped it early: refit as far as it got
    started = time.perf_counter()
    model = fit_family(best, df, target, refit, seed, device, budget_end, on_epoch, checkpoint_dir)
    ranking = ", ".join(f"{f} {scores[f]['score']:.3f}" for f in sorted(fitted, key=lambda f: -scores[f]["score"]))
    measured = f"quality, realism and {target!r} utility" if target else "quality and realism"
    held_out = len(splits[0][1])
    where = f"{held_out} held-out rows" + (f", mean of {len(splits)} seeded splits" if len(splits) > 1 else "")
    reason = f"{best} had the best held-out score ({ranking}; {where}, {measured}); refitted on all {len(df)} rows"
    phases = {"candidates": _phase(len(splits[0][0]), len(df), [scores[f] | {"family": f} for f in fitted], cfg,
                                   subsampled=len(subsample) < len(df)),
              "refit": _phase(len(df), len(df), [{"family": best, "seconds": time.perf_counter() - started,
                                                  "history": model.history}], refit)}
    for family in fitted:
        scores[family].pop("history")
    return model, {"chosen": best, "reason": reason, "held_out_rows": held_out, "splits": len(splits),
                   "scores": scores, "phases": phases}


def selection_splits(df: pd.DataFrame, target: str | None, cfg: TrainConfig,
                     seed: int) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """(fit part, held-out part) pairs auto scores its candidates on: one, or cfg.selection_splits seeded ones
    when the held-out part would have fewer than cfg.selection_splits_below rows."""
    splits = [_validation_split(df, target, cfg.validation_fraction, seed)]
    if len(splits[0][1]) < cfg.selection_splits_below:
        splits += [_validation_split(df, target, cfg.validation_fraction, seed + k)
                   for k in range(1, cfg.selection_splits)]
    return splits


SCORE_PARTS = ("shapes", "pairs", "quality", "detection", "realism", "utility", "score")


def _candidate(family: str, splits: list[tuple[pd.DataFrame, pd.DataFrame]], target: str | None, cfg: TrainConfig,
               seed: int, device: torch.device, stop_at: float | None, checkpoint_dir: Path | None) -> dict:
    """One candidate's held-out scores (each part the mean over the splits), or why it could not be fitted."""
    started, results, epochs, history = time.perf_counter(), [], [], None
    for k, (fit_part, held_out) in enumerate(splits):
        try:
            candidate = fit_family(family, fit_part, target, cfg, seed, device, stop_at, None, checkpoint_dir,
                                   f"candidate-{family}" + (f"-split{k}" if k else ""))
        except InputError as exc:  # e.g. fewer rows than the GAN's pac: the others may still fit
            return {"score": None, "skipped": str(exc)}
        results.append(score(held_out, _sample(candidate, max(len(held_out), SCORING_ROWS), {}, seed), target))
        epochs.append(epochs_run(candidate.history))
        history = history or candidate.history
    averaged = {part: float(np.mean([r[part] for r in results])) if all(r.get(part) is not None for r in results)
                else None for part in SCORE_PARTS if part in results[0]}
    notes = {key: value for key, value in results[0].items() if key.endswith("_not_computed")}
    if len(results) > 1:
        averaged["split_scores"] = [r["score"] for r in results]
    # A budget that stopped one split's fit early stops the refit there too (epochs: the fewest any split reached).
    return {**averaged, **notes, "seconds": time.perf_counter() - started,
            "epochs": min(epochs) if all(epochs) else None, "history": history}


def _phase(rows: int, table_rows: int, fits: list[dict], cfg: TrainConfig, subsampled: bool = False) -> dict:
    """How much of the table a phase used, for how long, and why (recorded in config.json, shown in the summary)."""
    trained = {id(fit): [r for r in fit["history"] if "event" not in r] for fit in fits}
    steps = max((sum(r["steps"] for r in epochs) for epochs in trained.values()), default=0)  # the copula: none
    # min_steps and max_steps bound the GAN and the VAE; the diffusion model is planned in steps
    # (train.diffusion_steps) anyway.
    neural = [trained[id(fit)] for fit in fits if fit["family"] != "diffusion" and trained[id(fit)]]
    capped = cfg.max_steps is not None and any(sum(r["steps"] for r in epochs) >= cfg.max_steps for epochs in neural)
    raised = any(planned_epochs(cfg, epochs[0]["steps"]) > cfg.epochs for epochs in neural)
    stopped = any(_stopped_early(fit["family"], trained[id(fit)], cfg) for fit in fits if trained[id(fit)])
    why = [f"a seeded subsample of train.selection_rows={cfg.selection_rows} rows"] if subsampled else ["all rows"]
    if raised:
        why.append(f"GAN/VAE training raised to train.min_steps={cfg.min_steps} optimiser steps")
    if capped:
        why.append(f"GAN/VAE training cut at train.max_steps={cfg.max_steps} optimiser steps")
    if any(fit["family"] == "diffusion" for fit in fits):
        why.append(f"diffusion: train.diffusion_steps={cfg.diffusion_steps} optimiser steps")
    if stopped:
        why.append(f"stopped by the train.time_budget={cfg.time_budget:.0f} s deadline")
    return {"rows": rows, "share": round(rows / table_rows, 4), "steps": steps,
            "seconds": round(sum(fit["seconds"] for fit in fits), 1), "why": "; ".join(why)}


def _stopped_early(family: str, epochs: list[dict], cfg: TrainConfig) -> bool:
    """Whether a fit ended before its planned length (the deadline stopped it)."""
    steps = sum(r["steps"] for r in epochs)
    if family == "diffusion":  # planned in optimiser steps
        return steps < cfg.diffusion_steps
    return len(epochs) < planned_epochs(cfg, epochs[0]["steps"])


def _as_far_as(family: str, epochs: int | None, cfg: TrainConfig) -> TrainConfig:
    """The config to refit with: a budget may have stopped the candidate early; the refit goes as far as it got."""
    if not epochs:
        return cfg
    if family == "diffusion":  # its epochs are rounds of optimiser steps
        return cfg.model_copy(update={"diffusion_steps": min(cfg.diffusion_steps, epochs * STEPS_PER_ROUND)})
    return cfg.model_copy(update={"epochs": epochs, "min_steps": 0})  # min_steps is in the candidate's epochs already


def _validation_split(df: pd.DataFrame, target: str | None, fraction: float,
                      seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    try:
        return split_train_holdout(df, target, fraction, stratify=True, seed=seed)
    except InputError:  # a class too rare to stratify on: a plain random split
        return split_train_holdout(df, target, fraction, stratify=False, seed=seed)


def _sample(model: Model, rows: int, plans: dict[str, Callable[[int, int], np.ndarray]], seed: int,
            chunk_rows: int = CHUNK_ROWS) -> pd.DataFrame:
    return pd.concat(list(_sample_chunks(model, rows, plans, seed, chunk_rows)), ignore_index=True)


def _sample_chunks(model: Model, rows: int, plans: dict[str, Callable[[int, int], np.ndarray]], seed: int,
                   chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Chunks of decoded rows. `plans` give, per conditioned column, the level codes of rows [start, start+count)."""
    torch_rng, np_rng = torch.Generator().manual_seed(seed), np.random.default_rng(seed)
    codecs = {name: model.transformer.codec(name) for name in plans}
    for start in range(0, rows, chunk_rows):
        count = min(chunk_rows, rows - start)
        codes = {name: plan(start, count) for name, plan in plans.items()}
        fixed = {name: codecs[name].slots_of_codes(c) for name, c in codes.items()}
        # Non-finite output is refused where it arises (NeuralModel.sample_frame); decoding clips numbers to
        # the finite range seen in training, so a decoded chunk needs no second scan.
        frame = model.sample_frame(count, fixed, torch_rng, np_rng)
        for name, c in codes.items():  # exact values, including rare levels that share the "other" slot
            frame[name] = codecs[name].from_codes(c)
        yield frame


class TabularSynthesizer:
    """Fit a generative model to a table and sample new rows like it."""

    def __init__(self, seed: int = 0, **options: Any):
        """`options`: TrainConfig fields (model, epochs, device, ...); the rest keep TrainConfig's defaults."""
        try:
            self.config = TrainConfig(**options)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"TabularSynthesizer: {problems}") from None
        self.seed = seed
        self.info: dict = {}
        self._model: Model | None = None
        self._drawn: dict[str, IdentifierFormat] = {}  # identifier columns drawn anew (or left empty), not modelled

    @classmethod
    def from_config(cls, config: TrainConfig, seed: int) -> TabularSynthesizer:
        return cls(seed=seed, **config.model_dump())

    @property
    def model(self) -> str | None:
        """The fitted family: "gan", "vae", "copula" or "diffusion" (None before fitting)."""
        return self._model.family if self._model else None

    @property
    def history(self) -> list[dict]:
        return self._fitted().history

    def fit(self, df: pd.DataFrame, target: str | None = None, on_epoch: Callable[[dict], None] | None = None,
            checkpoint_dir: str | Path | None = None) -> TabularSynthesizer:
        """Fit to `df`. With `checkpoint_dir`, the GAN, VAE and diffusion model save their state there every
        `checkpoint_every` epochs, and a fit interrupted before resumes where it left off (the diffusion model:
        every `checkpoint_every` rounds of 100 optimiser steps)."""
        if not isinstance(df, pd.DataFrame):
            raise InputError(f"fit: expected a pandas DataFrame, got {type(df).__name__}")
        check_table(df, "fit", target, target_key="target")
        device = resolve_device(self.config.device)
        started = time.perf_counter()
        with cpu_threads(self.config.cpu_threads):
            self._fit(df, target, device, on_epoch, checkpoint_dir)
        self.info["seconds"] = time.perf_counter() - started
        return self

    def _fit(self, df: pd.DataFrame, target: str | None, device: torch.device,
             on_epoch: Callable[[dict], None] | None, checkpoint_dir: str | Path | None) -> None:
        columns = list(map(str, df.columns))
        named = {name for text in self.config.constraints for name in parse_constraint(text).columns}
        if named - set(columns):
            raise InputError(f"train.constraints: no column(s) {sorted(named - set(columns))} in the data "
                             f"(columns: {columns})")
        identifiers = identifier_modes(df, target, self.config)
        self._drawn = {name: IdentifierFormat.fit(df[name], mode)
                       for name, mode in identifiers.items() if mode != "keep"}
        df = df.drop(columns=[name for name, mode in identifiers.items() if mode != "keep"])
        if self.config.model == "auto":
            self._model, selection = select_model(df, target, self.config, self.seed, device, on_epoch, checkpoint_dir)
        else:
            stop_at = deadline(self.config.time_budget)
            self._model = fit_family(self.config.model, df, target, self.config, self.seed, device, stop_at, on_epoch,
                                     checkpoint_dir)
            selection = None
        self.info = {"model": self._model.family, "target": target, "rows": len(df), "columns": columns,
                     "identifiers": identifiers, "device": str(device),
                     "epochs_run": epochs_run(self._model.history), "selection": selection,
                     "replicas": getattr(self._model, "replicas", None)}

    def sample(self, n: int, conditions: dict[str, Any] | None = None, balance: str | None = None,
               seed: int | None = None, chunk_rows: int = CHUNK_ROWS) -> pd.DataFrame:
        """Exactly `n` rows. `conditions` fixes categorical columns to a value; `balance` names a categorical
        column (or "target") whose observed classes get equal shares of the rows."""
        return pd.concat(list(self.sample_chunks(n, conditions, balance, seed, chunk_rows)), ignore_index=True)

    def sample_chunks(self, n: int, conditions: dict[str, Any] | None = None, balance: str | None = None,
                      seed: int | None = None, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
        """`sample` as a stream of DataFrames of at most `chunk_rows` rows: large n needs no n-sized copies."""
        model = self._fitted()
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise InputError(f"rows: expected a positive whole number of rows, got {n!r}")
        if chunk_rows < 1:
            raise InputError(f"chunk_rows: expected a positive number, got {chunk_rows!r}")
        plans = self._plans(conditions or {}, balance)
        seed = self.seed if seed is None else seed
        return self._finished(_sample_chunks(model, int(n), plans, seed, chunk_rows), seed)

    def _finished(self, chunks: Iterator[pd.DataFrame], seed: int) -> Iterator[pd.DataFrame]:
        """Chunks with every fitted column in its place (fresh identifiers drawn, dropped ones empty) and every
        constraint satisfied."""
        rng = np.random.default_rng([seed, 1])  # a stream of its own: the modelled columns stay as they were
        rules = [parse_constraint(text) for text in self.config.constraints]
        for frame in chunks:
            for name, fmt in self._drawn.items():
                frame[name] = fmt.generate(len(frame), rng).set_axis(frame.index)
            yield apply_constraints(rules, frame[self.info["columns"]].copy())

    def _plans(self, conditions: dict[str, Any], balance: str | None) -> dict[str, Callable[[int, int], np.ndarray]]:
        plans = {}
        for name, value in conditions.items():
            code = self._categorical(name, "conditions").level_codes([value])[0]
            plans[name] = lambda start, count, code=code: np.full(count, code, dtype=np.int64)
        if balance is not None:
            name = self.info.get("target") if balance == "target" and "target" not in self.info["columns"] else balance
            if name is None:
                raise InputError("balance='target': the model was fitted without a target; name a column instead")
            if name in plans:
                raise InputError(f"balance: column '{name}' is already fixed by conditions")
            codec = self._categorical(name, "balance")
            classes = np.flatnonzero(np.asarray(codec.counts) > 0)
            plans[name] = lambda start, count: classes[(start + np.arange(count)) % len(classes)]
        return plans

    def level_from_text(self, column: str, text: str) -> Any:
        """The level of a categorical column written as `text` (command-line conditions are text)."""
        codec = self._categorical(column, "conditions")
        matches = [level for level in codec.categories if str(level) == text]
        if not matches:
            shown = ", ".join(map(str, codec.categories[:10])) + (", ..." if len(codec.categories) > 10 else "")
            raise InputError(f"conditions: column '{column}' has no value {text!r} (values: {shown})")
        return matches[0]

    def _categorical(self, name: str, argument: str) -> CategoricalCodec:
        codec = self._fitted().transformer.codec(name)
        if not isinstance(codec, CategoricalCodec):
            raise InputError(f"{argument}: column '{name}' is {codec.kind}; only categorical and boolean columns "
                             "can be fixed exactly")
        return codec

    def _fitted(self) -> Model:
        if self._model is None:
            raise InputError("the synthesizer is not fitted yet: call fit(df) or TabularSynthesizer.load(dir)")
        return self._model

    def save(self, directory: str | Path) -> None:
        """Weights (safetensors, on the CPU), config and transformer (JSON) and a manifest of their SHA-256
        hashes; replaces `directory` atomically."""
        model = self._fitted()
        with atomic_dir(directory) as tmp:
            save_file({k: v.detach().cpu().contiguous() for k, v in model.tensors().items()}, str(tmp / WEIGHTS_FILE))
            model.transformer.save(tmp / TRANSFORMER_FILE)
            if self._drawn:  # formats and digests of real values, never the values
                write_json({name: fmt.to_json() for name, fmt in self._drawn.items()}, tmp / IDENTIFIERS_FILE)
            # The run id names the exact weights: merged rows carry it as provenance.
            write_json({"format": FORMAT, "model": model.family, "run_id": file_hash(tmp / WEIGHTS_FILE)[:16],
                        "seed": self.seed, "train": self.config.model_dump(), **self.info,
                        "shape": model.shape if isinstance(model, CopulaModel) else asdict(model.shape)},
                       tmp / CONFIG_FILE)
            write_manifest(tmp)  # last: it vouches for every file above

    @classmethod
    def load(cls, directory: str | Path, device: str = "auto") -> TabularSynthesizer:
        """Rebuild a saved synthesizer on `device`, whatever device trained it."""
        directory = Path(directory)
        verify_manifest(directory)
        config = read_json(directory / CONFIG_FILE)
        if config.get("format") != FORMAT:
            raise InputError(f"{directory / CONFIG_FILE}: not a synthpipe tabular model "
                             f"(format {config.get('format')!r})")
        transformer = TableTransformer.load(directory / TRANSFORMER_FILE)
        tensors = load_file(str(directory / WEIGHTS_FILE), device="cpu")
        if config["model"] == "copula":
            model: Model = CopulaModel(GaussianCopula.from_tensors(
                transformer, {k.removeprefix("copula."): v.numpy() for k, v in tensors.items()}, config["shape"]))
        elif config["model"] == "diffusion":
            model = DiffusionModel.from_tensors(transformer, config["shape"], tensors,
                                                config["train"]["sampling_steps"])
        else:
            model = NeuralModel.from_tensors(config["model"], transformer, config["shape"], tensors)
        synthesizer = cls.from_config(TrainConfig(**{**config["train"], "device": device}), config["seed"])
        synthesizer._model = model.to(resolve_device(device))
        synthesizer.info = {key: config.get(key) for key in ("model", "target", "rows", "columns", "identifiers",
                                                              "device", "seconds", "epochs_run", "selection",
                                                              "replicas", "run_id")}
        if (directory / IDENTIFIERS_FILE).is_file():
            synthesizer._drawn = {name: IdentifierFormat.from_json(raw)
                                  for name, raw in read_json(directory / IDENTIFIERS_FILE).items()}
        return synthesizer

"""The `synthpipe` command. Exit codes: 0 success, 1 unexpected failure, 2 bad input or config, 3 gate failed."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import traceback

from synthpipe import interrupt
from synthpipe.config import GenerateConfig, TrainConfig, load_params, set_environment_defaults
from synthpipe.errors import GateFailed, Interrupted, SynthpipeError
from synthpipe.stages import STAGES

# Defaults come from the configuration's own fields: one place for each.
TRAIN_DEFAULTS = TrainConfig()
MODEL_CHOICES = list(TrainConfig.model_fields["model"].annotation.__args__)
DEVICE_CHOICES = list(TrainConfig.model_fields["device"].annotation.__args__)


def train_help(key: str) -> str:
    """A train option's help: its description in the configuration, and its default."""
    return f"{TrainConfig.model_fields[key].description} (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="synthpipe", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    refresh = commands.add_parser("refresh", help="run the six-stage refresh flow (Prefect)")
    refresh.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    refresh.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                         help="override a parameter, e.g. --set train.epochs=50 (repeatable)")
    refresh.add_argument("--ci", action="store_true",
                         help="print a machine-readable JSON summary on stdout (for CI jobs)")
    refresh.set_defaults(handler=_refresh)

    serve = commands.add_parser("serve", help="start a Prefect server and serve the refresh on its cron schedule")
    serve.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    serve.add_argument("--host", default="127.0.0.1", help="server address (default: loopback)")
    serve.add_argument("--port", type=int, default=4200, help="server port (default: 4200)")
    serve.set_defaults(handler=_serve)

    stage = commands.add_parser("stage", help="run one stage without Prefect (what dvc.yaml calls)")
    stage.add_argument("name", choices=STAGES)
    stage.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    stage.set_defaults(handler=_stage)

    train = commands.add_parser("train", help="run the train stage, optionally as N data-parallel processes (torchrun)")
    train.add_argument("--nproc", type=int, help="processes (one per GPU; gloo on CPU); default: train.nproc")
    train.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a parameter, e.g. --set train.epochs=50 (repeatable)")
    train.set_defaults(handler=_train)

    check = commands.add_parser("validate", help="run the quality gate on synthetic data from any generator")
    check.add_argument("--real", required=True, help="real train rows the generator learned from (Parquet or CSV)")
    check.add_argument("--synthetic", required=True, help="synthetic rows to judge (Parquet or CSV)")
    check.add_argument("--holdout", help="real rows the generator never saw: enables utility, augmentation gain "
                                         "and the privacy baselines")
    check.add_argument("--target", help="label column for utility and augmentation gain")
    check.add_argument("--out", default="quality-report", help="report folder (default: quality-report)")
    check.add_argument("--params", default="params.yaml",
                       help="thresholds from this file's validate and merge sections, if it exists "
                            "(default: params.yaml)")
    check.set_defaults(handler=_validate)

    fit = commands.add_parser("fit", help="fit a TabularSynthesizer to a table and save the model directory")
    fit.add_argument("--data", required=True, help="the real table: Parquet, CSV or JSON lines")
    fit.add_argument("--out", required=True, help="model directory to write (replaced atomically)")
    fit.add_argument("--target", help="label column: stratifies model selection, scores utility, enables balance")
    fit.add_argument("--model", choices=MODEL_CHOICES, default=TRAIN_DEFAULTS.model, help=train_help("model"))
    fit.add_argument("--epochs", type=int, default=TRAIN_DEFAULTS.epochs, help=train_help("epochs"))
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--device", choices=DEVICE_CHOICES, default=TRAIN_DEFAULTS.device, help=train_help("device"))
    fit.add_argument("--time-budget", type=float, default=TRAIN_DEFAULTS.time_budget, help=train_help("time_budget"))
    fit.add_argument("--checkpoint-dir", help="GAN/VAE: checkpoint here and resume an interrupted fit from it")
    fit.add_argument("--checkpoint-every", type=int, default=TRAIN_DEFAULTS.checkpoint_every, metavar="K",
                     help=train_help("checkpoint_every"))
    fit.add_argument("--parse-dates", action="append", default=[], metavar="COL", help="CSV/JSON: parse COL as dates")
    fit.set_defaults(handler=_fit)

    sample = commands.add_parser("sample", help="sample rows from a saved model into Parquet or CSV")
    sample.add_argument("--model", required=True, help="model directory written by `synthpipe fit` or the train stage")
    sample.add_argument("--rows", required=True, type=int)
    sample.add_argument("--out", required=True, help="output file: .parquet or .csv (written in chunks, atomically)")
    sample.add_argument("--seed", type=int, help="default: the model's seed")
    sample.add_argument("--condition", action="append", default=[], metavar="COL=VALUE",
                        help="every row gets VALUE in categorical column COL (repeatable)")
    sample.add_argument("--balance", metavar="COL", help="equal rows per class of COL ('target': the fitted target)")
    sample.add_argument("--chunk-rows", type=int, default=GenerateConfig().chunk_rows,
                        help=GenerateConfig.model_fields["chunk_rows"].description)
    sample.add_argument("--device", choices=DEVICE_CHOICES, default=TRAIN_DEFAULTS.device)
    sample.set_defaults(handler=_sample)
    return parser


def _refresh(args: argparse.Namespace) -> int:
    from flows.refresh import refresh  # imports Prefect: only for the commands that need it
    from synthpipe.gate.summary import summarize

    params = load_params(args.params, args.overrides)  # fail on bad config before Prefect starts
    if not args.ci:
        print(f"synthpipe refresh: dataset '{params.data.name}'", flush=True)
    try:
        summary = refresh(params_file=args.params, overrides=args.overrides)
    except GateFailed as failure:
        _report(args.ci, "gate_failed", summarize(params.paths), reasons=failure.reasons)
        raise
    _report(args.ci, "merged", summary)
    return 0


def _report(ci: bool, status: str, summary: dict, **extra) -> None:
    from synthpipe.gate.summary import format_summary

    if ci:
        print(json.dumps({"status": status, **extra, "summary": summary}, default=str), flush=True)
    else:
        print(format_summary(summary), flush=True)


def _serve(args: argparse.Namespace) -> int:
    from flows.serve import serve

    serve(args.params, args.host, args.port)
    return 0


def _stage(args: argparse.Namespace) -> int:
    from synthpipe.stages import run_stage

    result = run_stage(args.name, load_params(args.params))
    print(f"{args.name}: {result}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from synthpipe.stages import run_stage

    nproc = [f"train.nproc={args.nproc}"] if args.nproc is not None else []
    result = run_stage("train", load_params(args.params, [*args.overrides, *nproc]))
    print(f"train: {result}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from synthpipe.config import Params
    from synthpipe.tabular.stages import validate

    params = load_params(args.params) if Path(args.params).exists() else Params()
    out = Path(args.out)
    try:
        # Another generator's rows: its refits on subsets cannot be made here, so the curve below 100% is leaky
        # (the report says so); identifiers and constraints come from the params file's train section.
        checks = params.validate.model_copy(update={"augmentation_refit": False})
        validate(Path(args.real), Path(args.synthetic), out, checks,
                 holdout_path=Path(args.holdout) if args.holdout else None, target=args.target, merge=params.merge,
                 seed=params.seed, expectations_dir=out / "gx", train=params.train)
    except GateFailed:
        print(f"quality gate FAILED: report in {out / 'summary.md'}")
        raise
    print(f"quality gate PASSED: report in {out / 'summary.md'}")
    return 0


def _fit(args: argparse.Namespace) -> int:
    from synthpipe.io import read_table
    from synthpipe.schema import check_table

    df = read_table(args.data, parse_dates=args.parse_dates)
    check_table(df, args.data, args.target, target_key="--target")  # before torch loads: bad input fails fast
    from synthpipe.tabular.synthesizer import TabularSynthesizer

    synthesizer = TabularSynthesizer(model=args.model, epochs=args.epochs, seed=args.seed, device=args.device,
                                     time_budget=args.time_budget, checkpoint_every=args.checkpoint_every)
    synthesizer.fit(df, target=args.target, checkpoint_dir=args.checkpoint_dir)
    synthesizer.save(args.out)
    info = synthesizer.info
    chosen = f" ({info['selection']['reason']})" if info["selection"] else ""
    print(f"fit: {info['model']}{chosen}; {info['rows']} rows, {info['epochs_run']} epochs, "
          f"{info['seconds']:.1f} s on {info['device']} -> {args.out}")
    return 0


def _sample(args: argparse.Namespace) -> int:
    from pathlib import Path

    from synthpipe.errors import InputError
    from synthpipe.io import verify_manifest, write_csv_chunks, write_parquet_chunks

    writers = {".parquet": write_parquet_chunks, ".csv": write_csv_chunks}
    out = Path(args.out)
    if out.suffix.lower() not in writers:
        raise InputError(f"--out {out}: expected a .parquet or .csv file")
    verify_manifest(args.model)  # before torch loads: a damaged model directory fails fast
    from synthpipe.tabular.synthesizer import TabularSynthesizer

    synthesizer = TabularSynthesizer.load(args.model, device=args.device)
    conditions = {}
    for item in args.condition:
        column, sep, text = item.partition("=")
        if not sep or not column:
            raise InputError(f"--condition {item!r}: expected COL=VALUE")
        conditions[column] = synthesizer.level_from_text(column, text)
    chunks = synthesizer.sample_chunks(args.rows, conditions, args.balance, args.seed, args.chunk_rows)
    rows = writers[out.suffix.lower()](chunks, out)
    print(f"sample: {rows} rows -> {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    set_environment_defaults()
    log_to_stderr()
    args = build_parser().parse_args(argv)
    try:
        with interrupt.stop_on_signals():  # SIGTERM/SIGINT raise Interrupted: cleanup runs, exit 1 (130 for SIGINT)
            return args.handler(args)
    except Interrupted as exc:
        return _fail(args, exc.exit_code, str(exc), status="interrupted")
    except SynthpipeError as exc:
        return _fail(args, exc.exit_code, str(exc))
    except Exception as exc:  # anything unexpected: show where, exit 1
        traceback.print_exc()
        return _fail(args, 1, f"unexpected {type(exc).__name__}: {exc}")


def log_to_stderr() -> None:
    """synthpipe's own log lines (training progress, resumed checkpoints) on stderr, each once. The handler sits on
    synthpipe's logger only, so other libraries' logging (Prefect's console lines with their task-run names) stays
    as they set it; while Prefect's console handler is on the root logger it prints synthpipe's lines itself
    (they propagate there), and this handler stands aside."""
    logger = logging.getLogger("synthpipe")
    if not any(isinstance(handler, SynthpipeHandler) for handler in logger.handlers):
        logger.addHandler(SynthpipeHandler())
    logger.setLevel(logging.INFO)


class SynthpipeHandler(logging.StreamHandler):
    def __init__(self):
        super().__init__()
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def filter(self, record: logging.LogRecord) -> bool:
        prefect_prints = any(type(h).__name__ == "PrefectConsoleHandler" for h in logging.getLogger().handlers)
        return not prefect_prints and super().filter(record)


def _fail(args: argparse.Namespace, code: int, message: str, status: str | None = None) -> int:
    # A failed gate has already printed its JSON report with the summary.
    if getattr(args, "ci", False) and code != GateFailed.exit_code:
        status = status or ("bad_input" if code == 2 else "error")
        print(json.dumps({"status": status, "error": message}), flush=True)
    print(f"synthpipe: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())

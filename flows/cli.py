"""The `synthpipe` command. Exit codes: 0 success, 1 unexpected failure, 2 bad input or config, 3 gate failed."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import traceback

from synthpipe.config import load_params
from synthpipe.errors import GateFailed, SynthpipeError
from tasks import STAGES


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

    check = commands.add_parser("validate", help="run the quality gate on synthetic data from any generator")
    check.add_argument("--real", required=True, help="real train rows the generator learned from (Parquet or CSV)")
    check.add_argument("--synthetic", required=True, help="synthetic rows to judge (Parquet or CSV)")
    check.add_argument("--holdout", help="real rows the generator never saw: enables utility, augmentation gain "
                                         "and the privacy baselines")
    check.add_argument("--target", help="label column for utility and augmentation gain")
    check.add_argument("--out", default="quality-report", help="report folder (default: quality-report)")
    check.add_argument("--params", default="params.yaml",
                       help="thresholds from this file's validate and merge sections, if it exists (default: params.yaml)")
    check.set_defaults(handler=_validate)
    return parser


def _refresh(args: argparse.Namespace) -> int:
    from flows.refresh import refresh  # imports Prefect: only for the commands that need it
    from synthpipe.summary import summarize

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
    from synthpipe.summary import format_summary

    if ci:
        print(json.dumps({"status": status, **extra, "summary": summary}, default=str), flush=True)
    else:
        print(format_summary(summary), flush=True)


def _serve(args: argparse.Namespace) -> int:
    from flows.serve import serve

    serve(args.params, args.host, args.port)
    return 0


def _stage(args: argparse.Namespace) -> int:
    params = load_params(args.params)
    module = importlib.import_module(f"tasks.{args.name}")
    result = module.run(params)
    print(f"{args.name}: {result}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from synthpipe.config import Params
    from tasks.validate import validate

    params = load_params(args.params) if Path(args.params).exists() else Params()
    out = Path(args.out)
    try:
        validate(Path(args.real), Path(args.synthetic), out, params.validate,
                 holdout_path=Path(args.holdout) if args.holdout else None, target=args.target, merge=params.merge,
                 seed=params.seed, expectations_dir=out / "gx")
    except GateFailed:
        print(f"quality gate FAILED: report in {out / 'summary.md'}")
        raise
    print(f"quality gate PASSED: report in {out / 'summary.md'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except SynthpipeError as exc:
        return _fail(args, exc.exit_code, str(exc))
    except KeyboardInterrupt:
        print("synthpipe: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # anything unexpected: show where, exit 1
        traceback.print_exc()
        return _fail(args, 1, f"unexpected {type(exc).__name__}: {exc}")


def _fail(args: argparse.Namespace, code: int, message: str) -> int:
    # A failed gate has already printed its JSON report with the summary.
    if getattr(args, "ci", False) and code != GateFailed.exit_code:
        status = "bad_input" if code == 2 else "error"
        print(json.dumps({"status": status, "error": message}), flush=True)
    print(f"synthpipe: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())

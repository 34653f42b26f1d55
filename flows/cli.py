"""The `synthpipe` command. Exit codes: 0 success, 1 unexpected failure, 2 bad input or config, 3 gate failed."""

from __future__ import annotations

import argparse
import importlib
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
    refresh.set_defaults(handler=_refresh)

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
    from synthpipe.summary import format_summary, summarize

    params = load_params(args.params, args.overrides)  # fail on bad config before Prefect starts
    print(f"synthpipe refresh: dataset '{params.data.name}'", flush=True)
    try:
        summary = refresh(params_file=args.params, overrides=args.overrides)
    except GateFailed:
        print(format_summary(summarize(params.paths)))
        raise
    print(format_summary(summary))
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
        print(f"synthpipe: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("synthpipe: interrupted", file=sys.stderr)
        return 130
    except Exception:  # anything unexpected: show where, exit 1
        traceback.print_exc()
        return 1


if __name__ == "__main__":
    sys.exit(main())

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

"""``memrl bench``: train agents on every env of a suite and tabulate the results."""

from __future__ import annotations

import argparse

from memrl.cli.arguments import add_set_argument, positive_float, positive_int

__all__ = ["add_parser", "run"]


def add_parser(commands) -> None:
    """Add ``bench`` to the subcommands."""
    bench = commands.add_parser(
        "bench",
        help="train agents on every env of a suite and tabulate the results",
        description="Train every agent on every env of SUITE for the suite's budget with "
        "several seeds, J runs at a time; write results.md, results.csv and "
        "learning_curves.png. Re-running picks up the finished runs (same --out).",
    )
    bench.add_argument("suite", metavar="SUITE", help="suite name (see `memrl list`) or YAML file")
    bench.add_argument(
        "--agents", default=None, help="comma-separated agent presets or YAML files (default: all)"
    )
    bench.add_argument("--seeds", type=positive_int, default=1, help="seeds per agent and env")
    bench.add_argument("--jobs", type=positive_int, default=1, help="parallel processes")
    bench.add_argument("--out", default=None, help="results directory (default results/<suite>)")
    bench.add_argument(
        "--steps-scale",
        type=positive_float,
        default=1.0,
        help="multiply every budget (e.g. 0.1 for a quick try)",
    )
    add_set_argument(
        bench,
        "override a setting of every run (as for train)",
    )
    bench.set_defaults(handler=run)


def add_reproduce_arguments(parser: argparse.ArgumentParser, suite: str) -> None:
    """The options of a reproduction script for ``suite``: ``memrl bench`` with the suite
    fixed and defaults for a full reproduction (every preset, 3 seeds, 2 jobs)."""
    parser.add_argument(
        "--agents", default=None, help="comma-separated agent presets (default: all)"
    )
    parser.add_argument("--seeds", type=positive_int, default=3, help="seeds (default 3)")
    parser.add_argument("--jobs", type=positive_int, default=2, help="parallel processes")
    parser.add_argument("--out", default=None, help=f"results directory (default results/{suite})")
    parser.add_argument(
        "--steps-scale", type=positive_float, default=1.0, help="multiply every budget"
    )
    add_set_argument(
        parser,
        "override a setting of every run (as for memrl train)",
    )
    parser.set_defaults(suite=suite, command="bench", handler=run)


def run(args: argparse.Namespace) -> int:
    """``memrl bench`` (and the reproduction scripts) with parsed arguments."""
    from memrl import run
    from memrl.config import agent_presets

    agents = [a.strip() for a in args.agents.split(",") if a.strip()] if args.agents else []
    if not agents:
        agents = list(agent_presets())
    result = run.bench(
        args.suite,
        agents,
        seeds=args.seeds,
        jobs=args.jobs,
        out=args.out,
        steps_scale=args.steps_scale,
        overrides=args.overrides,
    )
    print()
    print(result.markdown)
    print(
        f"written: {result.out_dir}/results.md, results.csv, learning_curves.png "
        f"({result.ran} runs trained, {result.skipped} already finished)"
    )
    return 0

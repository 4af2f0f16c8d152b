"""The ``memrl`` command: train, evaluate, benchmark, list, replay.

``memrl <subcommand> --help`` describes each subcommand. Every subcommand is a module of
this package with ``add_parser(commands)`` and ``run(args)``, a thin layer over
:mod:`memrl.run`, which scripts and Python code can call directly.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from memrl.cli import bench, evaluate, listing, replay, supervised, train
from memrl.cli.train import EXIT_INTERRUPTED, add_train_arguments
from memrl.cli.train import run as run_train
from memrl.config import ConfigError

__all__ = [
    "add_train_arguments",
    "build_parser",
    "main",
    "reproduce_main",
    "run_command",
    "run_train",
]

SUBCOMMANDS = (train, evaluate, bench, listing, replay, supervised)


def build_parser() -> argparse.ArgumentParser:
    """The ``memrl`` argument parser with all subcommands."""
    from memrl import __version__

    parser = argparse.ArgumentParser(
        prog="memrl",
        description="Reinforcement learning agents with external memory (NTM, DNC, MNM, "
        "MemNet; LSTM/GRU baselines) on Stable-Baselines3.",
    )
    parser.add_argument("--version", action="version", version=f"memrl {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for subcommand in SUBCOMMANDS:
        subcommand.add_parser(commands)
    return parser


def run_command(args: argparse.Namespace) -> int:
    """Run parsed arguments' ``handler`` for their ``command``; configuration and file errors
    become a message and exit code 2, Ctrl-C exit code 130."""
    try:
        return args.handler(args)
    except (ConfigError, FileExistsError, FileNotFoundError) as error:
        print(f"memrl {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = ": run the same command again to pick up" if args.command == "bench" else ""
        print(f"\nmemrl {args.command}: interrupted{hint}", file=sys.stderr)
        return EXIT_INTERRUPTED


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``memrl`` console script; returns the exit code."""
    return run_command(build_parser().parse_args(argv))


def reproduce_main(suite: str, argv: Sequence[str] | None, description: str) -> int:
    """A reproduction script for ``suite``: ``memrl bench`` with the suite fixed and defaults
    for a full reproduction (every preset, 3 seeds, 2 jobs, results/<suite>)."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    bench.add_reproduce_arguments(parser, suite)
    return run_command(parser.parse_args(argv))


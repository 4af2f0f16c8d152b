"""The ``memrl`` command: train, evaluate, benchmark, list, replay.

``memrl <subcommand> --help`` describes each subcommand. Every subcommand is a module of
this package with ``add_parser(commands)`` and ``run(args)``, a thin layer over
:mod:`memrl.run`, which scripts and Python code can call directly.

Errors reach the user as one line, ``memrl CMD: error: ...``, never as a traceback
(``--debug`` shows it): exit status 2 for usage errors (bad arguments, configurations,
missing or wrong files, unknown names, absent devices; :func:`usage_errors`), 1 for
errors while running, 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from collections.abc import Sequence

from memrl.cli import bench, evaluate, listing, replay, supervised, train
from memrl.cli.train import EXIT_INTERRUPTED, add_train_arguments
from memrl.cli.train import run as run_train
from memrl.config import ConfigError

__all__ = [
    "EXIT_RUNTIME",
    "EXIT_USAGE",
    "UsageParser",
    "add_train_arguments",
    "build_parser",
    "main",
    "reproduce_main",
    "run_command",
    "run_train",
    "usage_errors",
]

EXIT_USAGE = 2  # argparse's status for a bad command line; memrl's for any bad input
EXIT_RUNTIME = 1

SUBCOMMANDS = (train, evaluate, bench, listing, replay, supervised)


class UsageParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block), exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add_debug_argument(parser: argparse.ArgumentParser, default: object = False) -> None:
    parser.add_argument(
        "--debug",
        action="store_true",
        default=default,
        help="on an error, show the Python traceback instead of a one-line message",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``memrl`` argument parser with all subcommands."""
    from memrl import __version__

    parser = UsageParser(
        prog="memrl",
        description="Reinforcement learning agents with external memory (NTM, DNC, MNM, "
        "MemNet; LSTM/GRU baselines) on Stable-Baselines3.",
    )
    parser.add_argument("--version", action="version", version=f"memrl {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for subcommand in SUBCOMMANDS:
        subcommand.add_parser(commands)
    _add_debug_argument(parser)
    # Also after the subcommand (memrl train --debug); SUPPRESS keeps `memrl --debug train`.
    for subparser in commands.choices.values():
        _add_debug_argument(subparser, default=argparse.SUPPRESS)
    return parser


def usage_errors() -> tuple[type[BaseException], ...]:
    """The exception types that mean bad input (exit status 2): configurations and
    ``--set`` values, argument checks, episode records, model files, absent devices, and
    files that are missing, already there, of the wrong kind or not readable."""
    from memrl.checks import CheckError, ModelFileError
    from memrl.recall.records import RecordError
    from memrl.run.device import DeviceError

    return (
        ConfigError,
        CheckError,
        RecordError,
        ModelFileError,
        DeviceError,
        FileNotFoundError,
        FileExistsError,
        IsADirectoryError,
        NotADirectoryError,
        PermissionError,
        zipfile.BadZipFile,
    )


def _one_line(error: BaseException) -> str:
    text = "; ".join(line.strip() for line in str(error).splitlines() if line.strip())
    return text or type(error).__name__


def run_command(args: argparse.Namespace) -> int:
    """Run parsed arguments' ``handler`` for their ``command``; returns the exit status.

    An error becomes one line on stderr: exit status 2 for :func:`usage_errors`, 1 for
    any other (an unexpected one says so and points to ``--debug``), 130 after Ctrl-C.
    With ``args.debug`` errors propagate with their traceback.
    """
    prefix = f"memrl {args.command}"
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        hint = ": run the same command again to pick up" if args.command == "bench" else ""
        print(f"\n{prefix}: interrupted{hint}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        if getattr(args, "debug", False):
            raise
        if isinstance(error, usage_errors()):
            print(f"{prefix}: error: {_one_line(error)}", file=sys.stderr)
            return EXIT_USAGE
        from memrl.sb3.callbacks import NonFiniteError  # here: torch loads only on errors

        if isinstance(error, NonFiniteError | OSError):
            print(f"{prefix}: error: {_one_line(error)}", file=sys.stderr)
        else:
            print(
                f"{prefix}: error: unexpected {type(error).__name__}: {_one_line(error)} "
                "(run with --debug for the traceback)",
                file=sys.stderr,
            )
        return EXIT_RUNTIME


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``memrl`` console script; returns the exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # named after the subcommand, as its other argument errors are
        parser.prog = f"memrl {args.command}"
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return run_command(args)


def reproduce_main(
    suite: str,
    argv: Sequence[str] | None,
    description: str,
    agents: str | None = None,
    seeds: str = "3",
) -> int:
    """A reproduction script for ``suite``: ``memrl bench`` with the suite fixed and defaults
    for a full reproduction (``agents``, default every preset; ``seeds`` as for ``--seeds``;
    2 jobs; results/<suite>)."""
    parser = UsageParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    bench.add_reproduce_arguments(parser, suite, agents, seeds)
    _add_debug_argument(parser)
    return run_command(parser.parse_args(argv))

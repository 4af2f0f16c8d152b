"""Argument types and options shared by the ``memrl`` subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = [
    "add_device_arguments",
    "add_set_argument",
    "non_negative_float",
    "non_negative_int",
    "positive_float",
    "positive_int",
    "run_directory",
    "seed_counts",
]


def _argument_type(parse, accept, expected: str):
    """An argparse ``type`` that parses with ``parse`` and accepts values where ``accept``."""

    def convert(text: str):
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return convert


def _parse_int(text: str) -> int:
    # 1e5 is accepted for step counts, as in the YAML files.
    return int(float(text)) if "e" in text.lower() else int(text)


positive_int = _argument_type(_parse_int, lambda v: v >= 1, "a positive integer")
non_negative_int = _argument_type(int, lambda v: v >= 0, "an integer >= 0")
positive_float = _argument_type(float, lambda v: v > 0, "a number > 0")
non_negative_float = _argument_type(float, lambda v: v >= 0, "a number >= 0")


def seed_counts(text: str) -> tuple[int, dict[str, int]]:
    """``--seeds``: ``N`` seeds for every agent, or ``N,AGENT=M,...`` with ``M`` seeds for the
    named agents; returns ``(N, {AGENT: M})``."""
    first, *rest = [part.strip() for part in text.split(",")]
    expected = "N or N,AGENT=M,... (positive integers)"
    if "=" in first:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    default = positive_int(first)
    per_agent = {}
    for part in rest:
        agent, equals, count = part.partition("=")
        if not equals or not agent.strip():
            raise argparse.ArgumentTypeError(f"expected {expected}, got {part!r} in {text!r}")
        per_agent[agent.strip()] = positive_int(count.strip())
    return default, per_agent


def run_directory(text: str) -> str:
    """A run directory argument: refuses a file at once (a missing path is left to the
    command, which says which file of a run it looked for)."""
    if Path(text).is_file():
        raise argparse.ArgumentTypeError(
            f"{text!r} is a file, not a run directory (memrl train writes one: config.yaml, "
            "model.zip, ...)"
        )
    return text


def add_set_argument(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``--set KEY=VALUE ...``, collected into ``args.overrides``."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help=help_text,
    )


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """``--device`` and ``--threads``."""
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default=None,
        help="torch device (default: the agent's, normally auto = cuda if available)",
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="torch CPU threads (default 1 on CPU: small recurrent nets run fastest on one)",
    )

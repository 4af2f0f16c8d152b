"""``memrl supervised``: train a core on a task by cross-entropy and measure its error per
test length (a thin layer over :mod:`memrl.supervised`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from memrl.checks import CheckError
from memrl.cli.arguments import (
    add_device_arguments,
    add_set_argument,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from memrl.config import ConfigError

__all__ = ["add_parser", "parse_length_range", "parse_lengths", "run"]

_FLAGS = {
    "train_lengths": "--train-lengths",
    "test_lengths": "--test-lengths",
    "iterations": "--iterations",
    "batch_size": "--batch-size",
    "learning_rate": "--lr",
    "meta_loss_coef": "--meta-loss-coef",
    "test_episodes": "--test-episodes",
    "checkpoint_every": "--checkpoint-every",
    "task": "TASK",
    "core": "--core",
    "core_kwargs": "--set",
    "task_kwargs": "--set env.*",
}


def parse_length_range(text: str) -> tuple[int, int]:
    """``"1-8"`` -> ``(1, 8)``; ``"5"`` -> ``(5, 5)``."""
    low, _, high = text.partition("-")
    try:
        pair = (int(low), int(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a length range a-b, got {text!r}") from None
    if not 1 <= pair[0] <= pair[1]:
        raise argparse.ArgumentTypeError(
            f"expected a length range a-b with 1 <= a <= b, got {text!r}"
        )
    return pair


def parse_lengths(text: str) -> tuple[int, ...]:
    """``"8,16,32"`` -> ``(8, 16, 32)``."""
    try:
        lengths = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated lengths, e.g. 8,16,32, got {text!r}"
        ) from None
    if min(lengths) < 1:
        raise argparse.ArgumentTypeError(f"expected lengths >= 1, got {text!r}")
    return lengths


def add_parser(commands) -> None:
    """Add ``supervised`` to the subcommands."""
    parser = commands.add_parser(
        "supervised",
        help="train a core on a task by cross-entropy and test it on other lengths",
        description="Train a memory core with a linear read-out on a task's targets (the "
        "papers' supervised setting, no RL): bit tasks by binary cross-entropy, StoryQA by "
        "cross-entropy over the vocabulary. Then report the bit error (or answer accuracy) at "
        "each test length. Writes OUT_DIR/config.json, checkpoint.pt, model.pt, results.csv "
        "and error_vs_length.png. Ctrl-C (or SIGTERM) saves a checkpoint; --resume continues it.",
    )
    parser.set_defaults(command="supervised", handler=run)
    parser.add_argument(
        "task",
        metavar="TASK",
        help="task id or short name: Copy, RepeatCopy, "
        "AssociativeRecall, PrioritySort, StoryQA (memrl/...-v0 ids too)",
    )
    parser.add_argument(
        "--core",
        required=True,
        help="a core (ntm, dnc, lstm, memnet, mnm, ...) or an agent "
        "preset with a memory (mnm-g: its memory_kwargs)",
    )
    parser.add_argument(
        "--train-lengths",
        type=parse_length_range,
        default=(1, 8),
        metavar="A-B",
        help="training lengths, drawn uniformly per batch (default 1-8); a length is the "
        "sequence length, the number of items, or StoryQA's number of sentences",
    )
    parser.add_argument(
        "--test-lengths",
        type=parse_lengths,
        default=(8, 16, 32, 64),
        metavar="C,D,...",
        help="test lengths (default 8,16,32,64)",
    )
    parser.add_argument(
        "--iterations", type=positive_int, default=2000, help="training batches (default 2000)"
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=32, help="episodes per batch (default 32)"
    )
    parser.add_argument(
        "--lr", type=positive_float, default=1e-3, help="Adam learning rate (default 1e-3)"
    )
    parser.add_argument(
        "--meta-loss-coef",
        type=non_negative_float,
        default=1.0,
        help="weight of the core's auxiliary loss, MNM's meta loss (default 1.0, as in the "
        "agent presets; no effect on cores without one)",
    )
    parser.add_argument(
        "--test-episodes",
        type=positive_int,
        default=256,
        help="episodes per test length (default 256)",
    )
    parser.add_argument(
        "--checkpoint-every", type=positive_int, default=500, help="iterations between checkpoints"
    )
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed (default 0)")
    add_set_argument(
        parser,
        "core or task argument; VALUE is YAML: memory_slots=64 (the core's), env.task=deduction "
        "(the task's)",
    )
    add_device_arguments(parser)
    parser.add_argument(
        "--out-dir", default=None, help="output directory (default runs/supervised/<task>-<core>)"
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in --out-dir")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _config(args: argparse.Namespace):
    from memrl.config import parse_override
    from memrl.supervised import SupervisedConfig

    core_kwargs, task_kwargs = {}, {}
    for text in args.overrides:
        key, value = parse_override(text)
        if key.startswith("env."):
            task_kwargs[key.removeprefix("env.")] = value
        else:
            core_kwargs[key] = value
    return SupervisedConfig(
        task=args.task,
        core=args.core,
        core_kwargs=core_kwargs,
        task_kwargs=task_kwargs,
        train_lengths=args.train_lengths,
        test_lengths=args.test_lengths,
        iterations=args.iterations,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        meta_loss_coef=args.meta_loss_coef,
        test_episodes=args.test_episodes,
        checkpoint_every=args.checkpoint_every,
        seed=args.seed,
    )


def run(args: argparse.Namespace) -> int:
    """``memrl supervised`` with parsed arguments; returns the exit code."""
    from memrl import run as runs
    from memrl.supervised import train_supervised

    try:
        device = runs.resolve_device(args.device or "cpu")
    except ValueError as error:
        raise ConfigError("--device", "", str(error)) from None
    runs.set_threads(args.threads, device)
    try:
        config = _config(args)
        short = config.task.removeprefix("memrl/").removesuffix("-v0")
        out_dir = Path(args.out_dir or f"runs/supervised/{short}-{config.core}")
        print(
            f"memrl supervised: {config.core} on {config.task}, lengths "
            f"{config.train_lengths[0]}-{config.train_lengths[1]}, {config.iterations} "
            f"iterations, device {device}\noutput directory: {out_dir}"
        )
        train_supervised(
            config, out_dir, resume=args.resume, progress=not args.no_progress, device=device
        )
    except CheckError as error:
        flag = ", ".join(_FLAGS.get(name, name) for name in error.name.split(", "))
        # A core's or task's own check already names the argument and what it accepts.
        own = error.name in ("core_kwargs", "task_kwargs")
        problem = error.got if own else f"expected {error.wanted}, got {error.got}"
        raise ConfigError(flag, "", problem) from None
    return 0

"""``memrl eval``: evaluate a trained run."""

from __future__ import annotations

import argparse
from pathlib import Path

from memrl.cli.arguments import add_device_arguments, positive_int, run_directory

__all__ = ["add_parser", "run"]


def add_parser(commands) -> None:
    """Add ``eval`` to the subcommands."""
    evaluate = commands.add_parser(
        "eval",
        help="evaluate a trained run",
        description="Evaluate RUN/model.zip (or its latest checkpoint) on the run's environment, "
        "print a table and write RUN/eval.json.",
    )
    evaluate.add_argument("run", metavar="RUN", type=run_directory, help="a run directory")
    evaluate.add_argument(
        "--episodes", type=positive_int, default=None, help="episodes (default: the env's)"
    )
    evaluate.add_argument(
        "--deterministic",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="most likely actions (default) or sampled ones (--no-deterministic)",
    )
    add_device_arguments(evaluate)
    evaluate.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from memrl import run

    run_dir = Path(args.run)
    config = run.load_run_config(run_dir / run.CONFIG_FILE)
    run.set_threads(args.threads, args.device or config.agent.device)
    result = run.evaluate_run(
        run_dir, episodes=args.episodes, deterministic=args.deterministic, device=args.device
    )
    print(result.table(f"evaluation of {run_dir} ({config.agent.name} on {config.env.label})"))
    print(f"\nwritten: {run_dir / run.EVAL_FILE}")
    return 0

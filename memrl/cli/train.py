"""``memrl train``: train an agent preset on an environment into a run directory."""

from __future__ import annotations

import argparse
from pathlib import Path

from memrl.cli.arguments import (
    add_device_arguments,
    add_set_argument,
    non_negative_int,
    positive_int,
)
from memrl.config import ConfigError

__all__ = ["EXIT_INTERRUPTED", "add_parser", "add_train_arguments", "run"]

EXIT_INTERRUPTED = 130  # the shell's convention for a process stopped by SIGINT


def add_parser(commands) -> None:
    """Add ``train`` to the subcommands."""
    train = commands.add_parser(
        "train",
        help="train an agent on an environment",
        description="Train an agent preset on an environment into a run directory: config.yaml, "
        "TensorBoard logs (tb/), checkpoint.zip, curve.csv, model.zip and eval.json. Without "
        "arguments: the memnet agent on memrl/TMaze-v0, solved in a few minutes on a laptop CPU. "
        "Ctrl-C (or SIGTERM) saves a checkpoint; --resume continues it.",
    )
    add_train_arguments(train)


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``memrl train`` (shared with ``scripts/train.py``); the parsed
    arguments name their handler, so :func:`run_command` runs them."""
    from memrl.run import DEFAULT_AGENT, DEFAULT_ENV, DEFAULT_STEPS

    parser.set_defaults(command="train", handler=run)

    parser.add_argument(
        "--agent",
        default=None,
        help=f"agent preset name (see `memrl list`) or a YAML file (default {DEFAULT_AGENT})",
    )
    parser.add_argument(
        "--env",
        default=None,
        help=f"environment id accepted by memrl.envs.make (default {DEFAULT_ENV}); "
        "env kwargs via --set env.kwargs.NAME=VALUE",
    )
    parser.add_argument(
        "--config",
        default=None,
        metavar="CONFIG",
        help="train from a run's config.yaml (or run directory) instead of --agent/--env: "
        "with the same seed it reproduces that run",
    )
    parser.add_argument(
        "--steps",
        type=positive_int,
        default=None,
        help=f"training budget in environment steps (default {DEFAULT_STEPS:,}); with "
        "--resume it may extend the run's budget",
    )
    parser.add_argument("--n-envs", type=positive_int, default=None, help="parallel envs")
    parser.add_argument("--seed", type=non_negative_int, default=None, help="seed (default 0)")
    add_device_arguments(parser)
    parser.add_argument(
        "--run-dir",
        default=None,
        help="run directory (default runs/<agent>-<env>-<timestamp>; with --resume: the "
        "newest run under runs/)",
    )
    add_set_argument(
        parser,
        "override a setting; VALUE is YAML. Agent keys as in agents/*.yaml "
        "(memory_kwargs.memory_slots=32, learning_rate=3.0e-4); env.kwargs.NAME=..., "
        "env.wrappers=[flatten], env.solved_at=0.9; checkpoint_every=..., eval_every=...",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --run-dir from its last checkpoint (same config, except "
        "--steps and --set learning_rate=... or max_grad_norm=...; the step count continues)",
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar (e.g. for log files)"
    )


def _latest_run(root: Path = Path("runs")) -> Path:
    from memrl.run import CHECKPOINT_FILE

    checkpoints = list(root.glob(f"*/{CHECKPOINT_FILE}"))
    if not checkpoints:
        raise FileNotFoundError(
            f"--resume without --run-dir: no run with a checkpoint under {root}/"
        )
    return max(checkpoints, key=lambda p: p.stat().st_mtime).parent


def run(args: argparse.Namespace) -> int:
    """``memrl train`` with parsed arguments; returns the exit code."""
    from memrl import run
    from memrl.run.models import RESUMABLE_KEYS

    if args.resume:
        conflicting = [
            flag
            for flag, value in (
                ("--agent", args.agent),
                ("--env", args.env),
                ("--config", args.config),
                ("--n-envs", args.n_envs),
                ("--seed", args.seed),
            )
            if value is not None
        ]
        overrides = [run.route_override(text) for text in args.overrides]
        allowed = {f"agent.{key}" for key in RESUMABLE_KEYS}
        conflicting += [
            f"--set {given.partition('=')[0].strip()}"
            for given, routed in zip(args.overrides, overrides, strict=True)
            if routed.partition("=")[0].strip() not in allowed
        ]
        if conflicting:
            raise ConfigError(
                "--resume",
                ", ".join(conflicting),
                "a resumed run keeps its configuration; only --steps, --device, --threads "
                f"and --set of {', '.join(RESUMABLE_KEYS)} may be given",
            )
        run_dir = Path(args.run_dir) if args.run_dir else _latest_run()
        config = run.load_run_config(run_dir / run.CONFIG_FILE, overrides)
        if args.steps is not None:
            config = config.replace(steps=args.steps)
    elif args.config is not None:
        if args.agent is not None or args.env is not None:
            raise ConfigError("--config", "--agent/--env", "give either --config or --agent/--env")
        overrides = list(args.overrides)
        for key, value in (("steps", args.steps), ("seed", args.seed)):
            if value is not None:
                overrides.append(f"{key}={value}")
        if args.n_envs is not None:
            overrides.append(f"agent.n_envs={args.n_envs}")
        # As with --agent: keys that are not the run's are the agent's.
        config = run.load_run_config(args.config, [run.route_override(o) for o in overrides])
        run_dir = Path(args.run_dir or run.default_run_dir(config.agent.name, config.env))
    else:
        config = run.make_run_config(
            agent=args.agent or run.DEFAULT_AGENT,
            env=args.env or run.DEFAULT_ENV,
            steps=args.steps,
            seed=args.seed or 0,
            n_envs=args.n_envs,
            overrides=args.overrides,
        )
        run_dir = Path(args.run_dir or run.default_run_dir(config.agent.name, config.env))
    device = run.resolve_device(args.device or config.agent.device)
    run.set_threads(args.threads, device)
    import torch

    print(
        f"memrl train: {config.agent.name} on {config.env.label}, {config.steps:,} steps, "
        f"seed {config.seed}, device {device}, {torch.get_num_threads()} torch thread(s)\n"
        f"run directory: {run_dir}"
    )
    callbacks = []
    if config.agent.algorithm == "memory_ppo":
        from memrl.recall import RecallCallback

        callbacks.append(RecallCallback(top_k=5, out_dir=run_dir / "recall"))
    result = run.train(
        config,
        run_dir,
        resume=args.resume,
        callbacks=callbacks,
        progress=not args.no_progress,
        device=args.device,
    )
    if result.interrupted:
        return EXIT_INTERRUPTED
    assert result.evaluation is not None
    print()
    print(result.evaluation.table(f"evaluation of {config.agent.name} on {config.env.label}"))
    print(f"\nsaved: {run_dir}/model.zip, eval.json, config.yaml, curve.csv, tb/ (TensorBoard)")
    return 0

"""The ``memrl`` command: train, evaluate, benchmark, list.

``memrl <subcommand> --help`` describes each subcommand. Every subcommand is a thin layer over
:mod:`memrl.run`, which scripts and Python code can call directly.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from memrl.config import ConfigError

__all__ = [
    "add_train_arguments",
    "build_parser",
    "main",
    "reproduce_main",
    "run_command",
    "run_train",
]

EXIT_INTERRUPTED = 130  # the shell's convention for a process stopped by SIGINT


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


_positive_int = _argument_type(_parse_int, lambda v: v >= 1, "a positive integer")
_non_negative_int = _argument_type(int, lambda v: v >= 0, "an integer >= 0")
_positive_float = _argument_type(float, lambda v: v > 0, "a number > 0")


def _add_set_argument(parser: argparse.ArgumentParser, help_text: str) -> None:
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


def _add_device_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default=None,
        help="torch device (default: the agent's, normally auto = cuda if available)",
    )
    parser.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        help="torch CPU threads (default 1 on CPU: small recurrent nets run fastest on one)",
    )


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``memrl train`` (shared with ``scripts/train.py``); the parsed
    arguments name their handler, so :func:`run_command` runs them."""
    from memrl.run import DEFAULT_AGENT, DEFAULT_ENV, DEFAULT_STEPS

    parser.set_defaults(command="train", handler=run_train)

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
        type=_positive_int,
        default=None,
        help=f"training budget in environment steps (default {DEFAULT_STEPS:,}); with "
        "--resume it may extend the run's budget",
    )
    parser.add_argument("--n-envs", type=_positive_int, default=None, help="parallel envs")
    parser.add_argument("--seed", type=_non_negative_int, default=None, help="seed (default 0)")
    _add_device_arguments(parser)
    parser.add_argument(
        "--run-dir",
        default=None,
        help="run directory (default runs/<agent>-<env>-<timestamp>; with --resume: the "
        "newest run under runs/)",
    )
    _add_set_argument(
        parser,
        "override a setting; VALUE is YAML. Agent keys as in agents/*.yaml "
        "(memory_kwargs.memory_slots=32, learning_rate=3.0e-4); env.kwargs.NAME=..., "
        "env.wrappers=[flatten], env.solved_at=0.9; checkpoint_every=..., eval_every=...",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --run-dir from its last checkpoint (same config; the step "
        "count continues)",
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


def run_train(args: argparse.Namespace) -> int:
    """``memrl train`` with parsed arguments; returns the exit code."""
    from memrl import run

    if args.resume:
        conflicting = [
            flag
            for flag, value in (
                ("--agent", args.agent),
                ("--env", args.env),
                ("--config", args.config),
                ("--n-envs", args.n_envs),
                ("--seed", args.seed),
                ("--set", args.overrides or None),
            )
            if value is not None
        ]
        if conflicting:
            raise ConfigError(
                "--resume",
                ", ".join(conflicting),
                "a resumed run keeps its configuration; only --steps, --device and --threads "
                "may be given",
            )
        run_dir = Path(args.run_dir) if args.run_dir else _latest_run()
        config = run.load_run_config(run_dir / run.CONFIG_FILE)
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


def _run_eval(args: argparse.Namespace) -> int:
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


def _run_bench(args: argparse.Namespace) -> int:
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


def _run_list(args: argparse.Namespace) -> int:
    from memrl.config import agent_presets, load_agent, load_suite, suite_files
    from memrl.envs import registered_ids
    from memrl.memory import core_names

    print("memory cores:")
    print("  " + ", ".join(core_names()))
    print("\nagent presets (--agent):")
    presets = agent_presets()
    width = max((len(n) for n in presets), default=0)
    for name, path in presets.items():
        try:
            description = load_agent(path).description
        except ConfigError as error:
            description = f"(invalid: {error})"
        print(f"  {name:<{width}}  {description}")
    print("\nmemrl environments (--env; also MiniGrid-..., popgym-..., any Gymnasium id):")
    for env_id in registered_ids():
        print(f"  {env_id}")
    print("\nsuites (memrl bench SUITE):")
    suites = suite_files()
    width = max((len(n) for n in suites), default=0)
    for name, path in suites.items():
        try:
            suite = load_suite(path)
            summary = ", ".join(entry.env.label for entry in suite.envs)
        except ConfigError as error:
            summary = f"(invalid: {error})"
        print(f"  {name:<{width}}  {summary}")
    return 0


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

    train = commands.add_parser(
        "train",
        help="train an agent on an environment",
        description="Train an agent preset on an environment into a run directory: config.yaml, "
        "TensorBoard logs (tb/), checkpoint.zip, curve.csv, model.zip and eval.json. Without "
        "arguments: the memnet agent on memrl/TMaze-v0, solved in a few minutes on a laptop CPU. "
        "Ctrl-C saves a checkpoint; --resume continues it.",
    )
    add_train_arguments(train)

    evaluate = commands.add_parser(
        "eval",
        help="evaluate a trained run",
        description="Evaluate RUN/model.zip (or its latest checkpoint) on the run's environment, "
        "print a table and write RUN/eval.json.",
    )
    evaluate.add_argument("run", metavar="RUN", help="a run directory")
    evaluate.add_argument(
        "--episodes", type=_positive_int, default=None, help="episodes (default: the env's)"
    )
    evaluate.add_argument(
        "--deterministic",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="most likely actions (default) or sampled ones (--no-deterministic)",
    )
    _add_device_arguments(evaluate)
    evaluate.set_defaults(handler=_run_eval)

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
    bench.add_argument("--seeds", type=_positive_int, default=1, help="seeds per agent and env")
    bench.add_argument("--jobs", type=_positive_int, default=1, help="parallel processes")
    bench.add_argument("--out", default=None, help="results directory (default results/<suite>)")
    bench.add_argument(
        "--steps-scale",
        type=_positive_float,
        default=1.0,
        help="multiply every budget (e.g. 0.1 for a quick try)",
    )
    _add_set_argument(
        bench,
        "override a setting of every run (as for train)",
    )
    bench.set_defaults(handler=_run_bench)

    listing = commands.add_parser(
        "list",
        help="list memory cores, agent presets, environments and suites",
        description="List memory cores, agent presets, registered memrl environments and suites.",
    )
    listing.set_defaults(handler=_run_list)

    replay = commands.add_parser(
        "replay",
        help="replay episodes with what the agent recalled drawn beside each frame",
        description="Run a trained RUN for a few episodes (or re-render a recorded episode "
        "file) and write a GIF, MP4 or self-contained HTML page: the current frame, the top-k "
        "recalled past frames per read head with their step and weight, and the recall map.",
    )
    replay.add_argument("run", metavar="RUN", help="run directory, or an episode record (.npz)")
    replay.add_argument("--episodes", type=_positive_int, default=1, help="episodes to play")
    replay.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    replay.add_argument("--top-k", type=_positive_int, default=5, help="recalled slots per head")
    replay.add_argument(
        "--out", default=None, help="output .gif, .mp4 or .html (default RUN/replay.gif)"
    )
    replay.add_argument("--fps", type=_positive_float, default=4.0, help="frames per second")
    _add_device_arguments(replay)
    replay.set_defaults(handler=_run_replay)
    return parser


def _run_replay(args: argparse.Namespace) -> int:
    from memrl import run
    from memrl.recall import load_episode, record_episodes, write_replay

    source = Path(args.run)
    if source.is_file():
        records = [load_episode(source)]
        out = Path(args.out or source.with_suffix(".gif"))
    else:
        config = run.load_run_config(source / run.CONFIG_FILE)
        model_path = source / run.MODEL_FILE
        if not model_path.is_file():
            raise FileNotFoundError(f"{model_path}: no trained model in this run")
        run.set_threads(args.threads, args.device or config.agent.device)
        model = run.load_model(config, model_path, device=args.device)
        if config.agent.algorithm != "memory_ppo":
            raise ConfigError(
                "replay", "agent", f"{config.agent.name} has no memory core to replay"
            )
        from memrl.envs import make

        env = make(
            config.env.id,
            render_mode="rgb_array",
            wrappers=config.env.wrappers,
            **config.env.kwargs,
        )
        records = record_episodes(
            model, env, args.episodes, top_k=args.top_k, frames=True, seed=args.seed
        )
        out = Path(args.out or source / "replay.gif")
        # Kept with their frames, so `memrl replay FILE.npz` can re-render them without a model.
        for index, record in enumerate(records):
            record.save(out.parent / f"{out.stem}_episode{index}.npz")
    try:
        write_replay(records, out, fps=args.fps)
    except (ValueError, ImportError) as error:
        print(f"memrl replay: error: {error}", file=sys.stderr)
        return 2
    returns = ", ".join(f"{r.rewards.sum():.2f}" for r in records)
    print(f"wrote {out} ({len(records)} episode(s), returns {returns})")
    return 0


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
    parser.add_argument(
        "--agents", default=None, help="comma-separated agent presets (default: all)"
    )
    parser.add_argument("--seeds", type=_positive_int, default=3, help="seeds (default 3)")
    parser.add_argument("--jobs", type=_positive_int, default=2, help="parallel processes")
    parser.add_argument("--out", default=None, help=f"results directory (default results/{suite})")
    parser.add_argument(
        "--steps-scale", type=_positive_float, default=1.0, help="multiply every budget"
    )
    _add_set_argument(
        parser,
        "override a setting of every run (as for memrl train)",
    )
    parser.set_defaults(suite=suite, command="bench", handler=_run_bench)
    return run_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

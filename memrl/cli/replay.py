"""``memrl replay``: episodes with what the agent recalled drawn beside each frame."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from memrl.cli.arguments import (
    add_device_arguments,
    non_negative_int,
    positive_float,
    positive_int,
)
from memrl.config import ConfigError

__all__ = ["add_parser", "run"]


def add_parser(commands) -> None:
    """Add ``replay`` to the subcommands."""
    replay = commands.add_parser(
        "replay",
        help="replay episodes with what the agent recalled drawn beside each frame",
        description="Run a trained RUN for a few episodes (or re-render a recorded episode "
        "file) and write a GIF, MP4 or self-contained HTML page: the current frame, the top-k "
        "recalled past frames per read head with their step and weight, and the recall map.",
    )
    replay.add_argument(
        "run",
        metavar="RUN",
        help="run directory (memrl train's, or memrl supervised's), or an episode record (.npz)",
    )
    replay.add_argument("--episodes", type=positive_int, default=1, help="episodes to play")
    replay.add_argument(
        "--seed", type=non_negative_int, default=0, help="seed of the first episode"
    )
    replay.add_argument("--top-k", type=positive_int, default=5, help="recalled slots per head")
    replay.add_argument(
        "--length",
        type=positive_int,
        default=None,
        help="task length of the episodes, only for a supervised run (default its longest "
        "training length)",
    )
    replay.add_argument(
        "--out",
        default=None,
        help="output .gif, .mp4, .html, or .png (a still of the first episode: its recall map "
        "and, for MNM, the write-key/value similarities) (default RUN/replay.gif)",
    )
    replay.add_argument("--fps", type=positive_float, default=4.0, help="frames per second")
    add_device_arguments(replay)
    replay.set_defaults(handler=run)


def _supervised_run(source: Path) -> bool:
    """True for a directory of ``memrl supervised`` (config.json, no RL config.yaml)."""
    if not source.is_dir():
        return False
    from memrl import run
    from memrl.supervised import CONFIG_FILE

    return (source / CONFIG_FILE).is_file() and not (source / run.CONFIG_FILE).exists()


def _rl_records(source: Path, args: argparse.Namespace) -> list:
    """Episodes of the trained RL run in ``source``, with its env's frames."""
    from memrl import run
    from memrl.recall import record_episodes

    config = run.load_run_config(source / run.CONFIG_FILE)
    model_path = source / run.MODEL_FILE
    if not model_path.is_file():
        raise FileNotFoundError(f"{model_path}: no trained model in this run")
    run.set_threads(args.threads, args.device or config.agent.device)
    model = run.load_model(config, model_path, device=args.device)
    if config.agent.algorithm != "memory_ppo":
        raise ConfigError("replay", "agent", f"{config.agent.name} has no memory core to replay")
    from memrl.envs import make

    env = make(
        config.env.id,
        render_mode="rgb_array",
        wrappers=config.env.wrappers,
        **config.env.kwargs,
    )
    return record_episodes(model, env, args.episodes, top_k=args.top_k, frames=True, seed=args.seed)


def _supervised_records(source: Path, args: argparse.Namespace) -> list:
    """Episodes of the supervised run in ``source`` (``memrl.supervised.record_episodes``)."""
    from memrl import run
    from memrl.supervised import MODEL_FILE, load_model, read_config, record_episodes

    read_config(source)  # a config.json of another kind fails here, naming the file
    model_path = source / MODEL_FILE
    if not model_path.is_file():
        raise FileNotFoundError(
            f"{model_path}: no trained model in this run (memrl supervised writes it when "
            "training ends)"
        )
    device = run.resolve_device(args.device or "cpu")
    run.set_threads(args.threads, device)
    config, model = load_model(source, device)
    return record_episodes(
        config, model, n=args.episodes, length=args.length, seed=args.seed, top_k=args.top_k
    )


def run(args: argparse.Namespace) -> int:
    """``memrl replay`` with parsed arguments; returns the exit code."""
    from memrl.recall import load_episode, write_replay

    source = Path(args.run)
    supervised = _supervised_run(source)
    if args.length is not None and not supervised:
        raise ConfigError(
            "--length",
            "",
            f"only for a supervised run directory (memrl supervised's config.json and "
            f"model.pt), not {source}",
        )
    if source.is_file():
        records = [load_episode(source)]
        out = Path(args.out or source.with_suffix(".gif"))
    else:
        records = _supervised_records(source, args) if supervised else _rl_records(source, args)
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

#!/usr/bin/env python
"""Does a trained MiniGrid Memory agent look back at the object it must remember?

In MiniGrid's Memory rooms the agent starts facing east at a random cell of the corridor;
the object to remember lies in the room behind it, out of a 3x3 view unless the agent turns
west (or starts in the first cell). This plays deterministic episodes of a finished run
(``memrl train`` / ``memrl bench`` directory with ``model.zip``) and prints, per start cell,
the success rate and the share of episodes in which the agent ever faced west: a memory that
is used but never filled shows as success at the first cell only and no looking back
elsewhere (docs/results.md, MemoryS9).

Example:
    python scripts/memory_room_looks.py runs/<a run on MiniGrid-MemoryS9-v0> --episodes 120
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from memrl.cli.arguments import positive_int
from memrl.config import load_run_config
from memrl.run import CONFIG_FILE, MODEL_FILE
from memrl.run.device import set_threads
from memrl.run.models import load_model, make_env

WEST = 2  # MiniGrid's agent_dir: 0 east, 1 south, 2 west, 3 north


def looks(run_dir: Path, episodes: int, seed: int) -> dict[int, list[int]]:
    """Per start cell x: [episodes, successes, episodes that ever faced west]."""
    config = load_run_config(run_dir / CONFIG_FILE)
    if not config.env.id.startswith("MiniGrid-Memory"):
        raise SystemExit(f"{run_dir}: a run on {config.env.id}, not a MiniGrid Memory room")
    if not (run_dir / MODEL_FILE).is_file():
        raise SystemExit(f"{run_dir}: no {MODEL_FILE} (only finished runs with their model)")
    model = load_model(config, run_dir / MODEL_FILE, device="cpu")
    env = make_env(config.env, 1, seed)
    room = env.envs[0].unwrapped
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for _ in range(episodes):
        observation = env.reset()
        start_x = int(room.agent_pos[0])
        state, episode_start = None, np.ones(1, dtype=bool)
        faced_west, success = False, False
        while True:
            action, state = model.predict(
                observation, state=state, episode_start=episode_start, deterministic=True
            )
            observation, reward, done, _ = env.step(action)
            episode_start = done
            faced_west = faced_west or room.agent_dir == WEST
            if done[0]:
                success = float(reward[0]) > 0
                break
        row = counts[start_x]
        row[0] += 1
        row[1] += success
        row[2] += faced_west
    return dict(sorted(counts.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir", type=Path, help="a finished run on a MiniGrid Memory room")
    parser.add_argument("--episodes", type=positive_int, default=120, help="episodes to play (120)")
    parser.add_argument("--seed", type=int, default=1234, help="seed of the first episode")
    args = parser.parse_args(argv)
    set_threads(1)
    print("| start cell x | episodes | success | faced west |")
    print("|---:|---:|---:|---:|")
    for start_x, (count, wins, west) in looks(args.run_dir, args.episodes, args.seed).items():
        print(f"| {start_x} | {count} | {wins / count:.2f} | {west / count:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

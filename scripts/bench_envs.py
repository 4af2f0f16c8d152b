"""Raw environment speed: steps per second of each suite env and every memrl/ id.

One environment at a time, in this process, pinned to one CPU core, with uniformly random
actions (sampled in advance, so sampling is not timed), resetting at episode ends (resets are
timed: they are part of what training pays). Each env is also compared with Gymnasium's
CartPole-v1 measured in the same run, so numbers from different machines can be compared as
ratios.

    python scripts/bench_envs.py                 # all suites in envs/ + every memrl/ id
    python scripts/bench_envs.py --seconds 0.5 --suites quick
    python scripts/bench_envs.py --ids memrl/TMaze-v0 MiniGrid-MemoryS9-v0 --frames
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from memrl.config import load_suite, suite_files
from memrl.envs import make, registered_ids

REFERENCE_ID = "CartPole-v1"


@dataclass(frozen=True)
class Target:
    """One thing to measure: an env id with its make() arguments and where it comes from."""

    env_id: str
    kwargs: dict[str, Any]
    wrappers: list[Any]
    source: str

    @property
    def label(self) -> str:
        extra = ",".join(f"{k}={v}" for k, v in self.kwargs.items())
        names = ",".join(w if isinstance(w, str) else w["name"] for w in self.wrappers)
        parts = [self.env_id] + ([f"({extra})"] if extra else []) + ([f"+{names}"] if names else [])
        return " ".join(parts)


@dataclass(frozen=True)
class Measurement:
    steps_per_second: float
    steps: int
    episodes: int


def measure(target: Target, seconds: float, frames: bool, seed: int = 0) -> Measurement:
    """Step ``target`` with random actions for about ``seconds`` seconds of wall time."""
    env = make(
        target.env_id,
        render_mode="rgb_array" if frames else None,
        wrappers=target.wrappers,
        **target.kwargs,
    )
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(4096)]
    env.reset(seed=seed)
    steps = episodes = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        # Check the clock every 64 steps, so timing costs little even for very fast envs.
        for _ in range(64):
            _, _, terminated, truncated, _ = env.step(actions[steps % len(actions)])
            if frames:
                env.render()
            steps += 1
            if terminated or truncated:
                env.reset()
                episodes += 1
        now = time.perf_counter()
        if now >= deadline:
            break
    env.close()
    return Measurement(steps / (now - start), steps, episodes)


def collect_targets(suites: list[str] | None, ids: list[str] | None) -> list[Target]:
    """Suite entries (all suites when ``suites`` is None) and every memrl/ id, de-duplicated."""
    if ids:
        return [Target(env_id, {}, [], "--ids") for env_id in ids]
    known = suite_files()
    if suites is not None:
        unknown = sorted(set(suites) - set(known))
        if unknown:
            raise SystemExit(f"unknown suite(s) {unknown}; known: {sorted(known)}")
    targets: list[Target] = []
    seen: set[str] = set()
    for name in suites if suites is not None else sorted(known):
        suite = load_suite(name)
        for entry in suite.envs:
            env = entry.env
            target = Target(env.id, dict(env.kwargs), list(env.wrappers), suite.name)
            if target.label not in seen:
                seen.add(target.label)
                targets.append(target)
    for env_id in registered_ids():
        target = Target(env_id, {}, [], "memrl")
        if target.label not in seen:
            seen.add(target.label)
            targets.append(target)
    return targets


def pin_to_one_core(core: int | None) -> str:
    """Pin this process to one CPU core (Linux); return a description for the header."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity on this platform)"
    allowed = sorted(os.sched_getaffinity(0))
    chosen = allowed[0] if core is None else core
    if chosen not in allowed:
        raise SystemExit(f"--core {chosen} is not available; allowed cores: {allowed}")
    os.sched_setaffinity(0, {chosen})
    return f"pinned to core {chosen} of {len(allowed)} available"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument(
        "--seconds", type=float, default=2.0, help="wall time per env (default: 2.0)"
    )
    parser.add_argument(
        "--suites", nargs="+", default=None, help="suite names in envs/ (default: all)"
    )
    parser.add_argument(
        "--ids", nargs="+", default=None, help="measure these ids only (plain make(id))"
    )
    parser.add_argument(
        "--frames", action="store_true", help="also render an rgb_array frame every step"
    )
    parser.add_argument("--core", type=int, default=None, help="CPU core to pin to")
    args = parser.parse_args(argv)
    if args.seconds <= 0:
        parser.error("--seconds must be > 0")

    pinning = pin_to_one_core(args.core)
    targets = collect_targets(args.suites, args.ids)
    reference = measure(Target(REFERENCE_ID, {}, [], "reference"), args.seconds, args.frames)
    print(f"# bench_envs: {args.seconds:g} s per env, random actions, single env, {pinning}")
    print(f"# frames rendered every step: {'yes' if args.frames else 'no'}")
    print(f"# reference {REFERENCE_ID}: {reference.steps_per_second:,.0f} steps/s")
    rows = []
    for target in targets:
        result = measure(target, args.seconds, args.frames)
        mean_length = result.steps / result.episodes if result.episodes else float("nan")
        rows.append(
            (
                target.label,
                target.source,
                f"{result.steps_per_second:,.0f}",
                f"{result.steps_per_second / reference.steps_per_second:.3f}",
                f"{mean_length:.1f}",
            )
        )
    header = ("env", "suite", "steps/s", f"x {REFERENCE_ID}", "mean ep. len")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def format_row(cells: tuple[str, ...]) -> str:
        first, *rest = cells
        return "  ".join(
            [first.ljust(widths[0]), *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))]
        )

    print(format_row(header))
    print(format_row(tuple("-" * w for w in widths)))
    for row in rows:
        print(format_row(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())

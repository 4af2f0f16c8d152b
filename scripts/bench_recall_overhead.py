"""Training fps of MemoryPPO with and without RecallCallback, measured in the same run.

A DNC agent trains on memrl/TMaze-v0 (8 envs, n_steps 128, 4 epochs, batch 256, DNC with
64 slots of 32, 4 read heads, controller 64: the sizes of scripts/bench_training.py). Each
repeat times, after a one-iteration warm-up on a fresh model, ``--iterations`` PPO
iterations of every configuration, in turn, so slow drifts of a shared machine hit all of
them alike:

- ``off``: no callback (the reference);
- ``default``: ``RecallCallback()`` (one episode of env 0 every 10,000 steps; in a short
  timed window that is one recorded and saved episode, more than its long-run share);
- ``every-episode``: ``RecallCallback(every=0)``, every episode of env 0 recorded and saved
  (an upper bound on the cost).

The table gives, per configuration, the median fps by wall clock and by this process's CPU
time (the machine may be shared: CPU time is less sensitive to other processes), the
median of the per-repeat ratios to ``off``, and the share of the wall time spent inside the
callback (measured around its ``on_step``, so it is the callback's own cost, free of the
run-to-run noise of the ratios). The target is a drop below 10% for the default.

    python scripts/bench_recall_overhead.py
    python scripts/bench_recall_overhead.py --repeats 5 --iterations 6
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import torch
from stable_baselines3.common.logger import Logger

from memrl.envs import make_vec
from memrl.recall import RecallCallback
from memrl.sb3 import MemoryPPO

DNC_SIZES = dict(memory_slots=64, slot_size=32, read_heads=4, controller_size=64)
CONFIGS = ("off", "default", "every-episode")


class Timing(NamedTuple):
    wall_fps: float  # environment steps per wall-clock second
    cpu_fps: float  # per CPU second of this process (less sensitive to other processes)
    callback_share: float  # fraction of the wall time spent inside the callback's on_step
    records: int


def measure(config: str, args: argparse.Namespace, out_dir: Path) -> Timing:
    """Time ``args.iterations`` PPO iterations of one configuration on a fresh model."""
    env = make_vec(args.env, n_envs=args.n_envs, seed=0)
    model = MemoryPPO(
        "MlpMemoryPolicy",
        env,
        n_steps=args.n_steps,
        batch_size=args.batch_size,
        n_epochs=args.epochs,
        seed=0,
        device=args.device,
        policy_kwargs=dict(memory="dnc", memory_kwargs=DNC_SIZES),
    )
    model.set_logger(Logger(folder=None, output_formats=[]))
    rollout = args.n_steps * args.n_envs
    model.learn(rollout)  # warm-up: first allocations, lazy imports
    callback = None
    if config == "default":
        callback = RecallCallback(out_dir=out_dir / config)
    elif config == "every-episode":
        callback = RecallCallback(every=0, out_dir=out_dir / config, max_records=None)
    in_callback = [0.0]
    if callback is not None:
        inner = callback._on_step

        def timed_on_step() -> bool:
            start = time.perf_counter()
            result = inner()
            in_callback[0] += time.perf_counter() - start
            return result

        callback._on_step = timed_on_step  # type: ignore[method-assign]
    wall, cpu = time.perf_counter(), time.process_time()
    model.learn(rollout * args.iterations, callback=callback, reset_num_timesteps=False)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    env.close()
    steps = rollout * args.iterations
    return Timing(
        steps / wall, steps / cpu, in_callback[0] / wall, len(callback.saved) if callback else 0
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env", default="memrl/TMaze-v0")
    parser.add_argument("--n-envs", type=int, default=8)
    parser.add_argument("--n-steps", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=4, help="timed PPO iterations")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    timings: dict[str, list[Timing]] = {config: [] for config in CONFIGS}
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(args.repeats):
            for config in CONFIGS:
                timing = measure(config, args, Path(scratch) / f"r{repeat}")
                timings[config].append(timing)
                print(
                    f"  repeat {repeat}: {config:>13} {timing.wall_fps:7.1f} fps (wall), "
                    f"{timing.cpu_fps:7.1f} fps (cpu), {100 * timing.callback_share:.2f}% in "
                    f"callback, {timing.records} records",
                    flush=True,
                )

    print(
        f"\n{args.env}, DNC {DNC_SIZES}, {args.n_envs} envs x {args.n_steps} steps, "
        f"{args.epochs} epochs, batch {args.batch_size}, {args.iterations} timed iterations x "
        f"{args.repeats} repeats, {args.threads} thread(s), device {args.device}\n"
    )
    print(
        "| callback | median fps (wall) | fps ratio to off, wall | median fps (cpu) | "
        "fps ratio to off, cpu | time in callback | records |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for config in CONFIGS:
        rows = timings[config]
        wall_ratio = statistics.median(
            t.wall_fps / off.wall_fps for t, off in zip(rows, timings["off"], strict=True)
        )
        cpu_ratio = statistics.median(
            t.cpu_fps / off.cpu_fps for t, off in zip(rows, timings["off"], strict=True)
        )
        print(
            f"| {config} | {statistics.median(t.wall_fps for t in rows):.1f} | "
            f"{wall_ratio:.3f} | {statistics.median(t.cpu_fps for t in rows):.1f} | "
            f"{cpu_ratio:.3f} | {100 * statistics.median(t.callback_share for t in rows):.2f}% "
            f"| {sum(t.records for t in rows)} |"
        )


if __name__ == "__main__":
    main()

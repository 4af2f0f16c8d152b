"""Soak test: train each core for a million steps and watch memory and finiteness.

Each core (its agent preset) trains on memrl/TMaze-v0 with a constant learning rate (the
start of the preset's schedule: a schedule decaying to 0 would hide late blow-ups) in a
process of its own, ``--jobs`` at a time, one torch thread each, on the CPU. Every
``--every`` steps it logs the process's resident memory and whether a loss, gradient or
parameter went non-finite (the run's NaN guard, :class:`memrl.sb3.callbacks.NonFiniteGuard`;
a core that goes non-finite stops there). Rows go to ``OUT/<core>.csv`` as they come and to
``OUT/soak.csv`` (all cores) at the end, with a summary: per core, finite or not, and the
resident memory at 100k steps and at the end.

    python scripts/soak.py                                  # 1M steps x 6 cores, 2 at a time
    python scripts/soak.py --cores lstm,dnc --steps 200000  # a shorter look
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

CORES = ("lstm", "memnet", "dnc", "ntm", "mnm-g", "mnm-p")
ENV = "memrl/TMaze-v0"
COLUMNS = ("core", "steps", "seconds", "rss_mb", "finite", "non_finite", "train_return")


def resident_mb() -> float:
    """This process's resident memory in MiB: psutil if installed, else /proc/self/statm,
    else the peak from ``resource`` (the only figure it has)."""
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        pass
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def write_csv(path: Path, rows: Sequence[dict]) -> None:
    from memrl.atomic import atomic_write

    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(path, text.getvalue())


def soak(core: str, steps: int, every: int, out: Path, seed: int) -> list[dict]:
    """Train ``core`` for ``steps`` steps, a row every ``every`` steps; runs in a worker."""
    import numpy as np
    import torch

    from memrl.config import LinearSchedule, load_agent
    from memrl.run import make_run_config
    from memrl.run.models import make_env, make_model
    from memrl.sb3.callbacks import NonFiniteError, NonFiniteGuard

    torch.set_num_threads(1)
    agent = load_agent(core)
    rate = agent.learning_rate
    constant = rate.start if isinstance(rate, LinearSchedule) else rate
    config = make_run_config(
        agent, ENV, steps=steps, seed=seed, overrides=[f"learning_rate={constant!r}"]
    )
    env = make_env(config.env, config.agent.n_envs, config.seed)
    model = make_model(config, env, device="cpu")
    guard = NonFiniteGuard(core)
    rows: list[dict] = []
    start = time.monotonic()
    while model.num_timesteps < steps:
        problem = ""
        try:
            chunk = min(every, steps - model.num_timesteps)
            model.learn(chunk, callback=guard, reset_num_timesteps=False)
        except NonFiniteError as error:
            problem = error.quantity
        returns = [info["r"] for info in model.ep_info_buffer]
        rows.append(
            dict(
                core=core,
                steps=int(model.num_timesteps),
                seconds=round(time.monotonic() - start, 1),
                rss_mb=round(resident_mb(), 1),
                finite=not problem,
                non_finite=problem,
                train_return=round(float(np.mean(returns)), 3) if returns else math.nan,
            )
        )
        write_csv(out / f"{core}.csv", rows)
        if problem:
            break
    env.close()
    return rows


def read_csv(path: Path) -> list[dict]:
    """The rows of a per-core CSV that :func:`write_csv` wrote, typed as :func:`soak` makes
    them."""
    rows = []
    with path.open(newline="") as file:
        for row in csv.DictReader(file):
            rows.append(
                dict(
                    row,
                    steps=int(row["steps"]),
                    seconds=float(row["seconds"]),
                    rss_mb=float(row["rss_mb"]),
                    finite=row["finite"] == "True",
                    train_return=float(row["train_return"]),
                )
            )
    return rows


def summary(rows: Sequence[dict], cores: Sequence[str]) -> str:
    lines = ["core     finite  steps      RSS at ~100k   RSS at end   change"]
    for core in cores:
        own = [r for r in rows if r["core"] == core]
        if not own:
            lines.append(f"{core:<8} (no rows: the worker failed)")
            continue
        early = next((r for r in own if r["steps"] >= 100_000), own[0])
        last = own[-1]
        change = last["rss_mb"] - early["rss_mb"]
        lines.append(
            f"{core:<8} {'yes' if all(r['finite'] for r in own) else 'NO':<7} "
            f"{last['steps']:<10,} {early['rss_mb']:>8.1f} MiB   {last['rss_mb']:>8.1f} MiB "
            f"  {change:+.1f} MiB"
            + (f"  non-finite: {last['non_finite']}" if not last["finite"] else "")
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cores", default=",".join(CORES), help="comma-separated presets")
    parser.add_argument("--steps", type=int, default=1_000_000, help="steps per core")
    parser.add_argument("--every", type=int, default=50_000, help="steps between rows")
    parser.add_argument("--jobs", type=int, default=2, help="cores trained at a time")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("soak"), help="output directory")
    args = parser.parse_args(argv)
    from memrl.config import ConfigError, agent_presets

    cores = [c.strip() for c in args.cores.split(",") if c.strip()]
    unknown = [c for c in cores if c not in agent_presets()]
    if unknown or args.steps < 1 or args.every < 1 or args.jobs < 1:
        parser.error(
            f"--cores takes agent presets ({', '.join(agent_presets())}); --steps, --every "
            f"and --jobs take integers >= 1 (unknown: {', '.join(unknown) or 'none'})"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        futures = {
            pool.submit(soak, core, args.steps, args.every, args.out, args.seed): core
            for core in cores
        }
        for future in as_completed(futures):
            core = futures[future]
            try:
                rows += future.result()
            except (ConfigError, OSError, RuntimeError, ValueError) as error:
                print(f"soak: {core}: {type(error).__name__}: {error}", file=sys.stderr)
                continue
            print(f"soak: {core} done ({rows[-1]['steps']:,} steps)", flush=True)
    # soak.csv and the summary cover every core soaked into --out, this call's and earlier
    # ones' (a soak of some cores leaves the others' rows in place).
    soaked_now = {row["core"] for row in rows}
    cores += [c for c in CORES if c not in cores and (args.out / f"{c}.csv").is_file()]
    rows += [
        row
        for core in cores
        if core not in soaked_now and (args.out / f"{core}.csv").is_file()
        for row in read_csv(args.out / f"{core}.csv")
    ]
    rows.sort(key=lambda r: (cores.index(r["core"]), r["steps"]))
    write_csv(args.out / "soak.csv", rows)
    print(summary(rows, cores))
    print(f"written: {args.out / 'soak.csv'}")
    return 0 if rows and all(r["finite"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

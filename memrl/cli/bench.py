"""``memrl bench``: train agents on every env of a suite and tabulate the results."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from memrl.cli.arguments import add_set_argument, positive_float, positive_int, seed_counts
from memrl.config import ConfigError

if TYPE_CHECKING:
    from memrl.run import Backend

__all__ = ["add_parser", "run"]

# The options of --backend ray and their argument names.
RAY_OPTIONS = {
    "--address": "address",
    "--storage": "storage",
    "--cpus-per-run": "cpus_per_run",
    "--gpus-per-run": "gpus_per_run",
}


def add_parser(commands) -> None:
    """Add ``bench`` to the subcommands."""
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
    bench.add_argument(
        "--seeds",
        type=seed_counts,
        default=(1, {}),
        help="seeds per agent and env (default 1); N,AGENT=M,... gives the named agents M",
    )
    bench.add_argument(
        "--jobs",
        type=positive_int,
        default=None,
        help="parallel processes (default 1); with --backend ray: at most J trials at once "
        "(default: as many as the cluster fits)",
    )
    bench.add_argument("--out", default=None, help="results directory (default results/<suite>)")
    bench.add_argument(
        "--steps-scale",
        type=positive_float,
        default=1.0,
        help="multiply every budget (e.g. 0.1 for a quick try)",
    )
    add_set_argument(
        bench,
        "override a setting of every run (as for train)",
    )
    ray = bench.add_argument_group(
        "Ray", "run the grid as Ray Tune trials, here or on a cluster (pip install 'memrl[ray]')"
    )
    ray.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="local: worker processes on this machine (default); ray: one Tune trial per run",
    )
    ray.add_argument(
        "--address",
        default=None,
        help="Ray cluster to join: auto, HOST:PORT or ray://HOST:10001 (default: start Ray "
        "on this machine)",
    )
    ray.add_argument(
        "--storage",
        default=None,
        help="Tune's experiment storage, reachable from every node: a shared directory or a "
        "URI such as s3://bucket/path (default OUT/ray)",
    )
    ray.add_argument(
        "--cpus-per-run", type=positive_int, default=None, help="CPUs (torch threads) per run"
    )
    ray.add_argument("--gpus-per-run", type=float, default=None, help="GPUs per run (default 0)")
    bench.set_defaults(handler=run)


def add_reproduce_arguments(
    parser: argparse.ArgumentParser, suite: str, agents: str | None = None, seeds: str = "3"
) -> None:
    """The options of a reproduction script for ``suite``: ``memrl bench`` with the suite
    fixed and defaults for a full reproduction (``agents``, default every preset; ``seeds``
    as for ``--seeds``; 2 jobs)."""
    parser.add_argument(
        "--agents",
        default=agents,
        help=f"comma-separated agent presets (default: {agents or 'all'})",
    )
    parser.add_argument(
        "--seeds",
        type=seed_counts,
        default=seed_counts(seeds),
        help=f"seeds (default {seeds}); N,AGENT=M,... gives the named agents M",
    )
    parser.add_argument("--jobs", type=positive_int, default=2, help="parallel processes")
    parser.add_argument("--out", default=None, help=f"results directory (default results/{suite})")
    parser.add_argument(
        "--steps-scale", type=positive_float, default=1.0, help="multiply every budget"
    )
    add_set_argument(
        parser,
        "override a setting of every run (as for memrl train)",
    )
    parser.set_defaults(
        suite=suite,
        command="bench",
        handler=run,
        backend="local",
        **dict.fromkeys(RAY_OPTIONS.values()),
    )


def _backend(args: argparse.Namespace, out: Path) -> Backend | None:
    """The backend the options ask for; ``None``: the local default."""
    from memrl.run.ray_backend import RayBackend

    if args.backend == "local":
        given = [option for option, key in RAY_OPTIONS.items() if getattr(args, key) is not None]
        if given:
            raise ConfigError("--backend local", "", f"{', '.join(given)} need --backend ray")
        return None
    return RayBackend(
        args.storage or out / "ray",
        address=args.address,
        cpus_per_run=args.cpus_per_run or 1,
        gpus_per_run=args.gpus_per_run or 0.0,
        max_concurrent=args.jobs,
    )


def run(args: argparse.Namespace) -> int:
    """``memrl bench`` (and the reproduction scripts) with parsed arguments."""
    from memrl import run
    from memrl.config import agent_presets, load_suite

    agents = [a.strip() for a in args.agents.split(",") if a.strip()] if args.agents else []
    if not agents:
        agents = list(agent_presets())
    suite = load_suite(args.suite)
    out = Path(args.out) if args.out is not None else run.default_out_dir(suite)
    result = run.bench(
        suite,
        agents,
        seeds=args.seeds[0],
        agent_seeds=args.seeds[1],
        jobs=args.jobs or 1,
        out=out,
        steps_scale=args.steps_scale,
        overrides=args.overrides,
        backend=_backend(args, out),
    )
    print()
    print(result.markdown)
    print(
        f"written: {result.out_dir}/results.md, results.csv, learning_curves.png "
        f"({result.ran} runs trained, {result.skipped} already finished)"
    )
    return 0

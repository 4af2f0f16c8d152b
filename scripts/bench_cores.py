"""Forward + backward time per sequence step of every memory core, against torch.nn.LSTM.

Each core unrolls a batch of random sequences from a fresh state and backpropagates a
scalar loss; the time of that, divided by the sequence length, is one measurement. Cores
are measured in turns (one run of each per repeat, after warm-up runs) and the table shows
the median, as a ratio to ``torch.nn.LSTM`` (one cuDNN/MKL call per sequence) measured in
the same run. When the ``dnc`` package (``pip install dnc``) is importable its DNC is
measured at the same sizes too, and the ratio of its time to memrl's DNC is printed.

``--resets [K]`` adds columns for the unroll as training runs it: with episode starts at K
random (t, b) positions of the batch (t >= 1; default 4), so the cores' reset path
(``reset_where`` at the steps that have a start) is timed too. Its ratio is to the same
``torch.nn.LSTM`` time, which has no episode starts (a cuDNN LSTM cannot reset inside a
sequence); the reference and the ``dnc`` package get no such column.

Standard size (the defaults): B=16, T=64, N=64 slots, W=32, R=4 read heads, controller
128. Sizes go to a core's constructor only where it accepts them (``memory_slots``,
``slot_size``, ``read_heads``, ``controller_size``, ``hidden_size``).

Examples::

    python scripts/bench_cores.py
    python scripts/bench_cores.py --cores lstm,dnc --repeats 9
    python scripts/bench_cores.py --resets               # also with episode starts
    python scripts/bench_cores.py --profile dnc          # where the DNC's time goes
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import torch
from torch import nn

from memrl.memory import core_names, make_core
from memrl.memory.registry import accepted_kwargs

REFERENCE = "torch.nn.LSTM"
PACKAGE = "dnc (package)"
RESETS = "resets"  # second part of the key of an unroll with episode starts


@dataclass(frozen=True)
class Sizes:
    batch: int
    steps: int
    input_size: int
    memory_slots: int
    slot_size: int
    read_heads: int
    controller_size: int


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time forward+backward per sequence step of the memory cores.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--cores",
        default=",".join(core_names()),
        help="comma-separated registered core names",
    )
    parser.add_argument("--batch", type=int, default=16, help="B, sequences per batch")
    parser.add_argument("--steps", type=int, default=64, help="T, steps per sequence")
    parser.add_argument("--input-size", type=int, default=32, help="F, features per step")
    parser.add_argument("--slots", type=int, default=64, help="N, memory slots")
    parser.add_argument("--slot-size", type=int, default=32, help="W, slot size")
    parser.add_argument("--read-heads", type=int, default=4, help="R, read heads")
    parser.add_argument(
        "--controller", type=int, default=128, help="controller size (hidden size of LSTM/GRU)"
    )
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per core (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs per core first")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)"
    )
    parser.add_argument(
        "--input-grad",
        action="store_true",
        help="inputs require grad, as when an observation encoder is trained in front",
    )
    parser.add_argument(
        "--no-package", action="store_true", help="skip the DNC of the `dnc` package"
    )
    parser.add_argument(
        "--profile",
        metavar="CORE",
        default=None,
        help="instead of the table, print torch.profiler's top operations for one core "
        f"(a registered name, {REFERENCE!r} or {PACKAGE!r})",
    )
    parser.add_argument(
        "--resets",
        type=int,
        nargs="?",
        const=4,
        default=None,
        metavar="K",
        help="add columns for unrolls with episode starts at K random (t, b) positions "
        "(default K: 4); --profile then profiles that unroll",
    )
    parser.add_argument("--profile-rows", type=int, default=25, help="rows of --profile")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name in ("batch", "steps", "input_size", "slots", "slot_size", "read_heads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.controller < 1 or args.repeats < 1 or args.warmup < 0:
        parser.error("--controller and --repeats must be >= 1, --warmup >= 0")
    if args.resets is not None and args.resets < 1:
        parser.error(f"--resets must be >= 1, got {args.resets}")
    args.cores = [name.strip() for name in args.cores.split(",") if name.strip()]
    unknown = [name for name in args.cores if name not in core_names()]
    if unknown:
        parser.error(f"unknown cores {unknown}; registered: {', '.join(core_names())}")
    return args


def build_core(name: str, sizes: Sizes) -> nn.Module:
    """A registered core with the benchmark sizes its constructor accepts."""
    offered = dict(
        memory_slots=sizes.memory_slots,
        slot_size=sizes.slot_size,
        read_heads=sizes.read_heads,
        controller_size=sizes.controller_size,
        hidden_size=sizes.controller_size,
    )
    return make_core(name, sizes.input_size, **accepted_kwargs(name, offered))


def episode_starts(sizes: Sizes, count: int, device: torch.device) -> torch.Tensor:
    """``[T, B]`` with 1 at ``count`` random (t, b) positions, t >= 1 when T > 1 (a start at
    t = 0 resets a fresh state, which a training unroll skips), drawn without repeats."""
    first = 1 if sizes.steps > 1 else 0
    positions = (sizes.steps - first) * sizes.batch
    chosen = torch.randperm(positions)[: min(count, positions)]
    starts = torch.zeros(sizes.steps, sizes.batch)
    starts.view(-1)[first * sizes.batch + chosen] = 1.0
    return starts.to(device)


def memrl_runner(
    core: nn.Module, x: torch.Tensor, starts: torch.Tensor | None = None
) -> Callable[[], None]:
    """Forward + backward of ``core`` over ``x`` from a fresh state, with episode starts
    ``starts [T, B]`` (None: none)."""

    def run() -> None:
        core.zero_grad(set_to_none=True)
        y, _ = core(x, core.initial_state(x.shape[1], x.device), starts)
        y.float().pow(2).mean().backward()

    return run


def lstm_runner(sizes: Sizes, x: torch.Tensor) -> Callable[[], None]:
    lstm = nn.LSTM(sizes.input_size, sizes.controller_size).to(x.device)

    def run() -> None:
        lstm.zero_grad(set_to_none=True)
        y, _ = lstm(x)
        y.pow(2).mean().backward()

    return run


def package_runner(sizes: Sizes, x: torch.Tensor) -> Callable[[], None] | None:
    """The DNC of the ``dnc`` package at equal sizes (one-layer LSTM controller), or None."""
    try:
        from dnc import DNC as PackageDNC
    except ImportError:
        return None
    device = torch.device(x.device)
    gpu_id = -1 if device.type == "cpu" else (device.index or 0)
    model = PackageDNC(
        input_size=sizes.input_size,
        hidden_size=sizes.controller_size,
        rnn_type="lstm",
        num_layers=1,
        num_hidden_layers=1,
        nr_cells=sizes.memory_slots,
        cell_size=sizes.slot_size,
        read_heads=sizes.read_heads,
        batch_first=False,
        gpu_id=gpu_id,
    ).to(device)

    def run() -> None:
        model.zero_grad(set_to_none=True)
        y, _ = model(x, (None, None, None), reset_experience=True)
        y.pow(2).mean().backward()

    return run


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    runners: dict[Hashable, Callable[[], None]], sizes: Sizes, repeats: int, warmup: int, device
) -> dict[Hashable, float]:
    """Median milliseconds per step of each runner, measured in turns."""
    for run in runners.values():
        for _ in range(warmup):
            run()
    times: dict[Hashable, list[float]] = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            synchronize(device)
            start = time.perf_counter()
            run()
            synchronize(device)
            times[name].append((time.perf_counter() - start) * 1e3 / sizes.steps)
    return {name: statistics.median(values) for name, values in times.items()}


def profile(run: Callable[[], None], device: torch.device, rows: int) -> str:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    run()  # warm-up outside the trace
    activities = [ProfilerActivity.CPU]
    sort_by = "self_cpu_time_total"
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
        sort_by = "self_cuda_time_total"
    with torch_profile(activities=activities) as trace:
        run()
        synchronize(device)
    return trace.key_averages().table(sort_by=sort_by, row_limit=rows)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sizes = Sizes(
        batch=args.batch,
        steps=args.steps,
        input_size=args.input_size,
        memory_slots=args.slots,
        slot_size=args.slot_size,
        read_heads=args.read_heads,
        controller_size=args.controller,
    )
    torch.manual_seed(args.seed)
    x = torch.randn(sizes.steps, sizes.batch, sizes.input_size, device=device)
    x.requires_grad_(args.input_grad)

    starts = None if args.resets is None else episode_starts(sizes, args.resets, device)
    runners: dict[str, Callable[[], None]] = {REFERENCE: lstm_runner(sizes, x)}
    # The same cores unrolled with episode starts, timed in the same turns (--resets).
    reset_runners: dict[str, Callable[[], None]] = {}
    failed: dict[str, str] = {}
    names = [args.profile] if args.profile in core_names() else args.cores
    if args.profile is None or args.profile in core_names():
        for name in names:
            try:
                core = build_core(name, sizes).to(device)
                runners[name] = memrl_runner(core, x)
                if starts is not None:
                    reset_runners[name] = memrl_runner(core, x, starts)
            except Exception as error:  # a core that cannot run at these sizes is reported
                failed[name] = f"{type(error).__name__}: {error}"
    package = None if args.no_package else package_runner(sizes, x)
    if package is not None:
        runners[PACKAGE] = package

    print(
        f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}; "
        f"B={sizes.batch} T={sizes.steps} F={sizes.input_size} N={sizes.memory_slots} "
        f"W={sizes.slot_size} R={sizes.read_heads} controller={sizes.controller_size}; "
        f"inputs require grad: {args.input_grad}"
        + ("" if starts is None else f"; episode starts: {int(starts.sum())} (--resets)")
    )
    if args.profile is not None:
        if args.profile not in runners:
            reason = failed.get(args.profile, "not available")
            print(f"cannot profile {args.profile!r}: {reason}", file=sys.stderr)
            return 2
        with_starts = "" if starts is None else " with episode starts"
        print(f"torch.profiler, one forward+backward of {args.profile}{with_starts}:")
        print(
            profile(
                reset_runners.get(args.profile, runners[args.profile]), device, args.profile_rows
            )
        )
        return 0

    timed = {**runners, **{(name, RESETS): run for name, run in reset_runners.items()}}
    all_medians = measure(timed, sizes, args.repeats, args.warmup, device)
    medians = {name: all_medians[name] for name in runners}
    reference = medians[REFERENCE]
    width = max(len(name) for name in [*runners, *failed])
    print(f"forward+backward, median of {args.repeats} runs after {args.warmup} warm-up")
    header = f"{'core':<{width}}  {'ms/step':>9}  {'x LSTM':>7}"
    if starts is not None:
        header += f"  {'ms/step resets':>14}  {'x LSTM':>7}"
    print(header)
    for name, ms in medians.items():
        row = f"{name:<{width}}  {ms:9.3f}  {ms / reference:7.2f}"
        if starts is not None:
            resets_ms = all_medians.get((name, RESETS))
            row += (
                f"  {'-':>14}  {'-':>7}"
                if resets_ms is None
                else f"  {resets_ms:14.3f}  {resets_ms / reference:7.2f}"
            )
        print(row)
    for name, reason in failed.items():
        print(f"{name:<{width}}  {'failed':>9}  {reason}")
    if PACKAGE in medians and "dnc" in medians:
        ratio = medians[PACKAGE] / medians["dnc"]
        print(f"package DNC time / memrl DNC time: {ratio:.2f}x (goal: >= 2x)")
    elif not args.no_package and package is None:
        print("(the `dnc` package is not installed: no comparison with its DNC)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

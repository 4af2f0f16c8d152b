"""Per-step time of the DNC's dense temporal links against the sparse top-K links.

One measurement unrolls T steps of the link update with both directional reads from an
empty state (``dnc_kernels.temporal_linkage``: ``L [B, Wh, N, N]``;
``sparse_link.sparse_temporal_linkage``: K entries per row and column), on random write
weightings and queries, and backpropagates a scalar loss of all reads to them; the time,
divided by T, is one measurement. Both are measured in turns (after warm-up runs) and the
table shows the medians and their ratio, for each number of slots N.

Examples::

    python scripts/bench_links.py
    python scripts/bench_links.py --slots 64,256,1024,4096 --k 16 --repeats 9
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import Tensor

from memrl.memory.dnc_kernels import temporal_linkage
from memrl.memory.sparse_link import initial_sparse_link, sparse_temporal_linkage

Inputs = list[tuple[Tensor, Tensor, Tensor]]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time forward+backward per step of dense vs sparse DNC temporal links.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--slots", default="64,256,1024", help="comma-separated N values")
    parser.add_argument("--k", type=int, default=8, help="K, sparse links kept per row")
    parser.add_argument("--batch", type=int, default=8, help="B")
    parser.add_argument("--write-heads", type=int, default=1, help="Wh")
    parser.add_argument("--read-heads", type=int, default=4, help="R")
    parser.add_argument("--steps", type=int, default=8, help="T, steps per measurement")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs each (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs each first")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        args.slots = [int(n) for n in args.slots.split(",")]
    except ValueError:
        parser.error(f"--slots must be comma-separated integers, got {args.slots!r}")
    for name in ("k", "batch", "write_heads", "read_heads", "steps", "repeats", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if min(args.slots) < 2 or args.warmup < 0:
        parser.error("--slots must be >= 2 and --warmup >= 0")
    return args


def random_inputs(args: argparse.Namespace, n: int, device: torch.device) -> Inputs:
    """Per step: write weightings (a gated softmax) and both queries, requiring gradients."""
    b, heads, r = args.batch, args.write_heads, args.read_heads
    steps = []
    for _ in range(args.steps):
        gate = torch.rand(b, heads, 1, device=device)
        write = gate * torch.softmax(3.0 * torch.randn(b, heads, n, device=device), dim=-1)
        backward_q = torch.rand(b, heads, r, n, device=device) / n
        forward_q = torch.rand(b, heads, r, n, device=device) / n
        steps.append(tuple(x.requires_grad_() for x in (write, backward_q, forward_q)))
    return steps


def dense_runner(args: argparse.Namespace, inputs: Inputs) -> Callable[[], None]:
    b, heads, n = inputs[0][0].shape
    device = inputs[0][0].device

    def run() -> None:
        link = torch.zeros(b, heads, n, n, device=device)
        precedence = torch.zeros(b, heads, n, device=device)
        loss = 0.0
        for write, backward_q, forward_q in inputs:
            link, precedence, directional = temporal_linkage(
                link, precedence, write, backward_q, forward_q
            )
            loss = loss + directional.sum()
        loss.backward()

    return run


def sparse_runner(args: argparse.Namespace, inputs: Inputs) -> Callable[[], None]:
    b, heads, n = inputs[0][0].shape
    device = inputs[0][0].device

    def run() -> None:
        link, precedence = initial_sparse_link(b, heads, n, args.k, device=device)
        loss = 0.0
        for write, backward_q, forward_q in inputs:
            link, precedence, directional = sparse_temporal_linkage(
                link, precedence, write, backward_q, forward_q
            )
            loss = loss + directional.sum()
        loss.backward()

    return run


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    runners: dict[str, Callable[[], None]], args: argparse.Namespace, device: torch.device
) -> dict[str, float]:
    """Median milliseconds per step of each runner, measured in turns."""
    for run in runners.values():
        for _ in range(args.warmup):
            run()
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(args.repeats):
        for name, run in runners.items():
            synchronize(device)
            start = time.perf_counter()
            run()
            synchronize(device)
            times[name].append((time.perf_counter() - start) * 1e3 / args.steps)
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    print(
        f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}; "
        f"B={args.batch} Wh={args.write_heads} R={args.read_heads} K={args.k} "
        f"T={args.steps}; forward+backward, median of {args.repeats} runs after "
        f"{args.warmup} warm-up"
    )
    print()
    print("| N | dense ms/step | sparse ms/step | dense / sparse |")
    print("|---:|---:|---:|---:|")
    for n in args.slots:
        inputs = random_inputs(args, n, device)
        runners = {"dense": dense_runner(args, inputs), "sparse": sparse_runner(args, inputs)}
        times = measure(runners, args, device)
        ratio = times["dense"] / times["sparse"]
        print(f"| {n} | {times['dense']:.3f} | {times['sparse']:.3f} | {ratio:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Training throughput of MemoryPPO against SB3 PPO and sb3-contrib RecurrentPPO, one run.

All agents train on the same vectorised env with the same PPO settings (8 envs,
n_steps 128, 4 epochs, hidden size 64, batch 256) and are timed over the same number of
environment steps after a warm-up iteration; the table gives frames per second and the
ratios to RecurrentPPO (b) and to memoryless PPO (a), measured in this run on this machine.
MNM is measured with both update rules (``mnm-g``: gradient, ``mnm-p``: local).

``--compile [MODE]`` compiles the per-step functions of the MemoryPPO agents' cores with
torch.compile (policy ``compile=MODE``; SB3's PPO and RecurrentPPO stay eager) and adds the
compile time: the warm-up iteration's time minus that of the same agent's eager warm-up
(Inductor's on-disk cache makes a repeated run compile faster).

    python scripts/bench_training.py                      # MiniGrid-MemoryS7-v0, all cores
    python scripts/bench_training.py --iterations 2 --agents ppo,recurrent,lstm
    python scripts/bench_training.py --agents recurrent,dnc --compile   # compiled cores
    python scripts/bench_training.py --device cuda --compile reduce-overhead
    python scripts/bench_training.py --profile dnc        # where DNC's time goes
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time
from dataclasses import dataclass

import torch
from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO

from memrl.envs import make_vec
from memrl.memory import core_names
from memrl.memory.base import COMPILE_MODES
from memrl.memory.registry import accepted_kwargs
from memrl.sb3 import MemoryPPO

HIDDEN = 64
CORE_SIZES = dict(
    memory_slots=64,
    slot_size=32,
    read_heads=4,
    controller_size=HIDDEN,
    hidden_size=HIDDEN,
    key_size=32,
)


# Agent names that are a core with a given constructor argument.
VARIANTS = {
    "mnm-g": ("mnm", {"update": "gradient"}),
    "mnm-p": ("mnm", {"update": "local"}),
    "memnet-parallel": ("memnet", {"feedback": False}),
}
REFERENCES = ("ppo", "recurrent")


def core_kwargs(name: str) -> dict:
    return accepted_kwargs(name, CORE_SIZES)


def memory_agent(agent: str) -> tuple[str, dict, bool]:
    """``(core name, core kwargs, shared_memory)`` of a MemoryPPO agent name such as
    ``dnc``, ``mnm-p`` or ``lstm-separate``; ``ValueError`` for an unknown name."""
    name = agent.removesuffix("-separate")
    core, extra = VARIANTS.get(name, (name, {}))
    if core not in core_names():
        known = [*REFERENCES, *core_names(), *VARIANTS]
        raise ValueError(
            f"unknown agent {agent!r}; agents: {', '.join(known)} (a core may end in -separate)"
        )
    return core, {**core_kwargs(core), **extra}, name == agent


def default_agents() -> list[str]:
    cores = [c for c in core_names() if c not in ("lstm", "mnm")]
    return [*REFERENCES, "lstm", "lstm-separate", *cores, *VARIANTS]


def build(agent: str, env, args, compile: str | None = None) -> object:
    """The SB3 model of ``agent``; ``compile``: torch.compile mode of a MemoryPPO agent's
    cores (``None``: eager)."""
    common = dict(
        n_steps=args.n_steps,
        batch_size=args.batch_size,
        n_epochs=args.epochs,
        seed=0,
        device=args.device,
    )
    if agent == "ppo":
        return PPO("MultiInputPolicy", env, policy_kwargs=dict(net_arch=[HIDDEN]), **common)
    if agent == "recurrent":
        return RecurrentPPO(
            "MultiInputLstmPolicy", env, policy_kwargs=dict(lstm_hidden_size=HIDDEN), **common
        )
    core, kwargs, shared = memory_agent(agent)
    return MemoryPPO(
        "MultiInputMemoryPolicy",
        env,
        seq_len=args.seq_len,
        **common,
        policy_kwargs=dict(
            memory=core, memory_kwargs=kwargs, shared_memory=shared, compile=compile or False
        ),
    )


@dataclass(frozen=True)
class Result:
    """One agent's measurement: frames per second and seconds collecting and training over
    the timed iterations; ``compile_s``: the compiled warm-up's extra seconds (or None)."""

    fps: float
    collect_s: float
    train_s: float
    compile_s: float | None = None


def warm_up(model, rollout: int) -> float:
    """Seconds of the first iteration (first allocations, lazy imports, compilation)."""
    start = time.perf_counter()
    model.learn(rollout)
    return time.perf_counter() - start


def measure(agent: str, args) -> Result:
    """Time ``args.iterations`` iterations of ``agent`` after a warm-up iteration."""
    env = make_vec(args.env, n_envs=args.n_envs, seed=0, **env_kwargs(args))
    rollout = args.n_steps * args.n_envs
    compile = args.compile if agent not in REFERENCES else None
    eager_warm_up = None
    if compile is not None:
        eager_warm_up = warm_up(build(agent, env, args), rollout)
    model = build(agent, env, args, compile)
    warm_up_s = warm_up(model, rollout)
    timings = {"collect": 0.0, "train": 0.0}
    for name in timings:
        original = getattr(model, name if name == "train" else "collect_rollouts")

        def timed(*a, _original=original, _name=name, **k):
            start = time.perf_counter()
            result = _original(*a, **k)
            timings[_name] += time.perf_counter() - start
            return result

        setattr(model, name if name == "train" else "collect_rollouts", timed)
    start = time.perf_counter()
    model.learn(rollout * args.iterations, reset_num_timesteps=False)
    elapsed = time.perf_counter() - start
    env.close()
    return Result(
        fps=rollout * args.iterations / elapsed,
        collect_s=timings["collect"],
        train_s=timings["train"],
        compile_s=None if eager_warm_up is None else warm_up_s - eager_warm_up,
    )


def env_kwargs(args) -> dict:
    return {"view_size": args.view_size} if args.env.startswith("MiniGrid") else {}


def buffer_bytes(model: MemoryPPO) -> int:
    buffer = model.rollout_buffer
    tensors = [
        buffer.actions,
        buffer.rewards,
        buffer.episode_starts,
        buffer.values,
        buffer.log_probs,
        buffer.advantages,
        buffer.returns,
    ]
    obs = buffer.observations
    tensors += list(obs.values()) if isinstance(obs, dict) else [obs]
    states = [t for state in buffer.chunk_states for t in _leaves(state)]
    return sum(t.numel() * t.element_size() for t in tensors + states)


def _leaves(state):
    for field in state:
        if isinstance(field, torch.Tensor):
            yield field
        else:
            yield from _leaves(field)


def report_buffer_memory(args) -> None:
    env = make_vec(args.env, n_envs=args.n_envs, seed=0, **env_kwargs(args))
    model = build("dnc", env, args)
    model.learn(args.n_steps * args.n_envs)
    ours = buffer_bytes(model)
    state_bytes = sum(t.numel() * t.element_size() for t in _leaves(model._last_state))
    per_step_states = state_bytes * args.n_steps  # what storing the state at every step costs
    print(
        f"\nDNC (N={CORE_SIZES['memory_slots']}) rollout buffer: {ours / 2**20:.2f} MiB "
        f"(state at chunk starts only); storing the DNC state at every step, as "
        f"RecurrentPPO does for its LSTM, would add {per_step_states / 2**20:.1f} MiB."
    )


def profile(agent: str, args) -> None:
    env = make_vec(args.env, n_envs=args.n_envs, seed=0, **env_kwargs(args))
    model = build(agent, env, args, None if agent in REFERENCES else args.compile)
    model.learn(args.n_steps * args.n_envs)
    profiler = cProfile.Profile()
    profiler.enable()
    model.learn(args.n_steps * args.n_envs * args.iterations, reset_num_timesteps=False)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
    print(out.getvalue())


def table(results: dict[str, Result], compiled: bool) -> str:
    """The markdown table: fps, ratios to RecurrentPPO (b) and PPO (a), phase seconds, and
    the compile seconds of the compiled agents when ``compiled``."""
    head = "| agent | fps | vs RecurrentPPO (b) | vs PPO (a) | collect s | train s |"
    rule = "|---|---:|---:|---:|---:|---:|"
    if compiled:
        head, rule = head + " compile s |", rule + "---:|"
    lines = [head, rule]

    def ratio(r: Result, reference: str) -> str:
        # "-" when the reference agent was not among --agents.
        return f"{r.fps / results[reference].fps:.2f}" if reference in results else "-"

    for agent, r in results.items():
        vs_b, vs_a = ratio(r, "recurrent"), ratio(r, "ppo")
        line = f"| {agent} | {r.fps:.0f} | {vs_b} | {vs_a} | {r.collect_s:.1f} | "
        line += f"{r.train_s:.1f} |"
        if compiled:
            line += " - |" if r.compile_s is None else f" {r.compile_s:.1f} |"
        lines.append(line)
    return "\n".join(lines)


def check_device(parser: argparse.ArgumentParser, device: str) -> None:
    """Exit with a clear message when ``device`` is not a torch device of this machine."""
    try:
        kind = torch.device(device).type
    except RuntimeError as error:
        parser.error(f"--device {device}: {error}")
    if kind == "cuda" and not torch.cuda.is_available():
        why = (
            f"torch {torch.__version__} is built without CUDA"
            if torch.version.cuda is None
            else "no CUDA device is visible"
        )
        parser.error(f"--device {device}: CUDA is not available here ({why}); use --device cpu")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env", default="MiniGrid-MemoryS7-v0")
    parser.add_argument("--view-size", type=int, default=3)
    parser.add_argument(
        "--agents",
        default=None,
        help="comma list of ppo, recurrent, and core names "
        "(suffix -separate: actor and critic cores); default: all",
    )
    parser.add_argument("--n-envs", type=int, default=8)
    parser.add_argument("--n-steps", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument(
        "--seq-len",
        type=int,
        default=32,
        help="MemoryPPO's training sequence length (truncated BPTT)",
    )
    parser.add_argument("--iterations", type=int, default=4, help="timed PPO iterations")
    parser.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1 ...")
    parser.add_argument(
        "--compile",
        nargs="?",
        const="default",
        default=None,
        choices=COMPILE_MODES,
        metavar="MODE",
        help="compile the MemoryPPO agents' cores with torch.compile in MODE (default "
        "'default'; 'reduce-overhead' uses CUDA graphs on a GPU) and report the compile time",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--profile", metavar="AGENT", help="print a cProfile of one agent")
    parser.add_argument("--no-memory-report", action="store_true")
    args = parser.parse_args()
    check_device(parser, args.device)
    agents = args.agents.split(",") if args.agents else default_agents()
    for agent in [*agents, *([args.profile] if args.profile else [])]:
        if agent not in REFERENCES:
            try:
                memory_agent(agent)
            except ValueError as error:
                parser.error(str(error))
    torch.set_num_threads(args.threads)
    if args.profile:
        profile(args.profile, args)
        return
    results: dict[str, Result] = {}
    for agent in agents:
        results[agent] = measure(agent, args)
        print(f"  measured {agent}: {results[agent].fps:.0f} fps", flush=True)
    print(
        f"\n{args.env}, {args.n_envs} envs x {args.n_steps} steps, {args.epochs} epochs, "
        f"hidden {HIDDEN}, batch {args.batch_size}, MemoryPPO seq_len {args.seq_len}, "
        f"{args.iterations} iterations, "
        f"{args.threads} thread(s), device {args.device}, "
        + (f"MemoryPPO cores compiled ({args.compile})" if args.compile else "eager")
        + "\n"
    )
    print(table(results, compiled=args.compile is not None))
    if not args.no_memory_report:
        report_buffer_memory(args)


if __name__ == "__main__":
    main()

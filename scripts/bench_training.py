"""Training throughput of MemoryPPO against SB3 PPO and sb3-contrib RecurrentPPO, one run.

All agents train on the same vectorised env with the same PPO settings (8 envs,
n_steps 128, 4 epochs, hidden size 64, batch 256) and are timed over the same number of
environment steps after a warm-up iteration; the table gives frames per second and the
ratios to RecurrentPPO (b) and to memoryless PPO (a), measured in this run on this machine.

    python scripts/bench_training.py                      # MiniGrid-MemoryS7-v0, all cores
    python scripts/bench_training.py --iterations 2 --agents ppo,recurrent,lstm
    python scripts/bench_training.py --profile dnc        # where DNC's time goes
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time

import torch
from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO

from memrl.envs import make_vec
from memrl.memory import core_names
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


def core_kwargs(name: str) -> dict:
    return accepted_kwargs(name, CORE_SIZES)


def build(agent: str, env, args) -> object:
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
    shared = not agent.endswith("-separate")
    core = agent.removesuffix("-separate")
    return MemoryPPO(
        "MultiInputMemoryPolicy",
        env,
        seq_len=args.seq_len,
        **common,
        policy_kwargs=dict(memory=core, memory_kwargs=core_kwargs(core), shared_memory=shared),
    )


def frames_per_second(agent: str, args) -> tuple[float, float, float]:
    """(fps, seconds collecting, seconds training) over ``args.iterations`` iterations."""
    env = make_vec(args.env, n_envs=args.n_envs, seed=0, **env_kwargs(args))
    model = build(agent, env, args)
    rollout = args.n_steps * args.n_envs
    model.learn(rollout)  # warm-up: first allocations, lazy imports
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
    return rollout * args.iterations / elapsed, timings["collect"], timings["train"]


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
    model = build(agent, env, args)
    model.learn(args.n_steps * args.n_envs)
    profiler = cProfile.Profile()
    profiler.enable()
    model.learn(args.n_steps * args.n_envs * args.iterations, reset_num_timesteps=False)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
    print(out.getvalue())


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
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--profile", metavar="AGENT", help="print a cProfile of one agent")
    parser.add_argument("--no-memory-report", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.profile:
        profile(args.profile, args)
        return
    agents = (
        args.agents.split(",")
        if args.agents
        else [
            "ppo",
            "recurrent",
            "lstm",
            "lstm-separate",
            *[c for c in core_names() if c != "lstm"],
        ]
    )
    results = {}
    for agent in agents:
        results[agent] = frames_per_second(agent, args)
        print(f"  measured {agent}: {results[agent][0]:.0f} fps", flush=True)
    print(
        f"\n{args.env}, {args.n_envs} envs x {args.n_steps} steps, {args.epochs} epochs, "
        f"hidden {HIDDEN}, batch {args.batch_size}, MemoryPPO seq_len {args.seq_len}, "
        f"{args.iterations} iterations, "
        f"{args.threads} thread(s), device {args.device}\n"
    )
    print("| agent | fps | vs RecurrentPPO (b) | vs PPO (a) | collect s | train s |")
    print("|---|---:|---:|---:|---:|---:|")
    for agent, (fps, collect, train) in results.items():
        vs_b = fps / results["recurrent"][0] if "recurrent" in results else float("nan")
        vs_a = fps / results["ppo"][0] if "ppo" in results else float("nan")
        print(f"| {agent} | {fps:.0f} | {vs_b:.2f} | {vs_a:.2f} | {collect:.1f} | {train:.1f} |")
    if not args.no_memory_report:
        report_buffer_memory(args)


if __name__ == "__main__":
    main()

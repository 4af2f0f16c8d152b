"""Play a trained memory agent's episodes in one env and record what it recalled.

``record_episodes`` drives the model and the env step by step and hands each step's trace
to a ``RecallRecorder`` (``memrl.recall.recorder``), which does the recall work.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from memrl.checks import check_int
from memrl.memory import core_trace
from memrl.recall.recorder import RecallRecorder
from memrl.recall.records import EpisodeRecord

__all__ = ["record_episodes"]


def record_episodes(
    model: Any,
    env: Any,
    n: int,
    top_k: int = 5,
    frames: bool = False,
    deterministic: bool = True,
    seed: int | None = None,
) -> list[EpisodeRecord]:
    """Run ``n`` episodes of a trained memory agent and record what it recalled.

    Args:
        model: a ``memrl.sb3.MemoryPPO`` (anything with ``predict(obs, state,
            episode_start, deterministic)`` and a ``policy`` with ``core`` and
            ``actor_state``).
        env: a single (non-vectorised) Gymnasium env, or an env id made with
            ``memrl.envs.make`` (with ``render_mode="rgb_array"`` when ``frames``).
        n: number of episodes (>= 1).
        top_k: reads kept per step and read head.
        frames: keep each step's ``env.render()`` frame (the env must render rgb arrays).
        deterministic: greedy actions (else sampled).
        seed: seeds the first ``env.reset``; later episodes continue the env's random stream,
            so the same seed gives the same episodes.
    Returns:
        ``n`` ``EpisodeRecord`` objects (``metadata["episode"]`` is the index). Where the
        env's infos have ``"words"`` (StoryQA: the word of the observation the info comes
        with), the records keep them as ``labels``.
    """
    check_int("n", n, minimum=1)
    policy = model.policy
    core = policy.core
    owns_env = isinstance(env, str)
    if owns_env:
        from memrl.envs import make  # recall sits above envs only for this convenience

        env = make(env, render_mode="rgb_array" if frames else None)
    if frames and getattr(env, "render_mode", None) != "rgb_array":
        raise ValueError(
            "frames=True needs an env made with render_mode='rgb_array', got render_mode="
            f"{getattr(env, 'render_mode', None)!r}"
        )
    spec = getattr(env, "spec", None)
    recorder = RecallRecorder(
        getattr(policy, "memory", core),
        n_envs=1,
        top_k=top_k,
        metadata=dict(
            core_kwargs=dict(getattr(policy, "memory_kwargs", {}) or {}),
            env_id=spec.id if spec is not None else type(env.unwrapped).__name__,
            seed=seed,
            deterministic=deterministic,
        ),
    )
    records: list[EpisodeRecord] = []
    try:
        for episode in range(n):
            obs, info = env.reset(seed=seed if episode == 0 else None)
            state, start, finished = None, True, []
            while not finished:
                action, state = model.predict(
                    obs, state, episode_start=np.array([start]), deterministic=deterministic
                )
                trace = core_trace(core, policy.actor_state(state))
                frame = [env.render()] if frames else None
                # An observation's info comes with it: the reset's, then the previous step's.
                label = info.get("words")
                obs, reward, terminated, truncated, info = env.step(action)
                finished = recorder.step(
                    trace,
                    [start],
                    actions=np.asarray(action)[None],
                    rewards=[float(reward)],
                    dones=[terminated or truncated],
                    frames=frame,
                    labels=[label],
                )
                start = False
            finished[0].metadata["episode"] = episode
            records += finished
    finally:
        if owns_env:
            env.close()
    return records

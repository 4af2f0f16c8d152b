"""Episodes of a supervised model, recorded with what its core read and wrote.

``record_episodes`` plays the task's own environment (the one :class:`TaskData` draws the
training batches from), runs the model's core one step at a time on the observations and
hands each step's ``core.read_trace(state)`` to a :class:`memrl.recall.RecallRecorder`, so
the records replay like an RL agent's (``memrl replay``; for MNM on StoryQA the still image
shows the write-key and target-value similarities with the story's words)::

    config, model = load_model("runs/supervised/StoryQA-mnm-g")
    (record,) = record_episodes(config, model, length=6, seed=3)
    write_replay(record, "story.png")
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from memrl.checks import CheckError, check_int
from memrl.memory import Recall, core_trace
from memrl.recall import EpisodeRecord, RecallRecorder
from memrl.supervised.data import TargetKind, TaskData, play_episode
from memrl.supervised.model import SequenceModel, resolve_core
from memrl.supervised.train import SupervisedConfig

__all__ = ["record_episodes"]


def _task_data(config: SupervisedConfig, length: int) -> TaskData:
    """The run's task data, rendering ``rgb_array`` frames when its environment can (the
    render mode changes no episode), with ``length`` checked."""
    data = TaskData(config.task, config.task_kwargs)
    try:
        modes = data.env(length).metadata.get("render_modes", ())
    except ValueError as error:
        raise CheckError("length", f"a length {data.task} accepts", f"{length} ({error})") from None
    if "rgb_array" in modes and "render_mode" not in config.task_kwargs:
        data = TaskData(config.task, {**config.task_kwargs, "render_mode": "rgb_array"})
    return data


@dataclass(frozen=True)
class _Step:
    """What the recorder needs of one step: ``core.read_trace`` after it, the action
    ``[1]`` or ``[1, A]``, the rendered frame of its observation and the word shown."""

    trace: Recall | None
    action: np.ndarray
    frame: np.ndarray | None
    label: str | None


def _play(
    model: SequenceModel, kind: TargetKind, env: gym.Env, seed: int, frames: bool
) -> tuple[list[_Step], np.ndarray]:
    """One episode with the core stepped on each observation: its steps and rewards [T]."""
    core = model.core
    device = next(model.parameters()).device
    state = core.initial_state(1, device)
    steps: list[_Step] = []

    def act(obs: np.ndarray, info: dict[str, Any]) -> Any:
        nonlocal state
        x = torch.as_tensor(obs, dtype=torch.float32, device=device).reshape(1, -1)
        y, state = core.step(x, state)
        logits = model.readout(y)  # [1, A]
        if kind == "bits":
            action = (logits > 0).to(torch.int8).cpu().numpy()
        else:
            action = logits.argmax(-1).cpu().numpy()
        frame = env.render() if frames else None
        steps.append(_Step(core_trace(core, state), action, frame, info.get("words")))
        return action[0]

    played = play_episode(env, seed, act)
    return steps, played.rewards


def record_episodes(
    config: SupervisedConfig,
    model: SequenceModel,
    n: int = 1,
    length: int | None = None,
    seed: int = 0,
    top_k: int = 5,
) -> list[EpisodeRecord]:
    """Play ``n`` episodes of ``config.task`` with ``model`` and record its core's reads.

    Episode i is the environment's reset with seed ``seed + i`` (so episode 0 is the one of
    ``TaskData.batch(length, 1, seed)``); the environment is stepped with the model's
    predictions, which change no observation, only the rewards and rendered frames.

    Args:
        config: the run's config (task, task arguments, core).
        model: its trained model (any device; run in eval mode without gradients).
        n: episodes (>= 1).
        length: the task's length argument (default the longest training length).
        seed: seed of the first episode.
        top_k: reads kept per step and read head.
    Returns:
        ``n`` records of T steps each: ``actions`` are the model's predictions (``[T]``
        argmax answers, or ``[T, A]`` bits where the logit is > 0), ``rewards`` the
        environment's for them, ``frames`` the rendered observations when the task renders,
        ``labels`` StoryQA's words. Metadata: core (registered name), core_kwargs,
        env_id, seed (the episode's), episode, task_length and ``source: "supervised"``.

    Raises:
        ValueError: a bad n, length, seed or top_k (``CheckError``, naming it).
    """
    n = check_int("n", n, minimum=1)
    length = config.train_lengths[1] if length is None else check_int("length", length, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    data = _task_data(config, length)
    env = data.env(length)
    frames = env.render_mode == "rgb_array"
    _, core_kwargs = resolve_core(config.core, config.core_kwargs)
    recorder = RecallRecorder(
        model.core,
        n_envs=1,
        top_k=top_k,
        metadata=dict(
            core_kwargs=core_kwargs,
            env_id=config.task,
            seed=seed,
            task_length=length,
            source="supervised",
        ),
    )
    was_training = model.training
    model.eval()
    records: list[EpisodeRecord] = []
    try:
        with torch.no_grad():
            for episode in range(n):
                steps, rewards = _play(model, data.kind, env, seed + episode, frames)
                finished: list[EpisodeRecord] = []
                for t, step in enumerate(steps):
                    finished = recorder.step(
                        step.trace,
                        [t == 0],
                        actions=step.action,
                        rewards=rewards[t : t + 1],
                        dones=[t == len(steps) - 1],
                        frames=None if step.frame is None else [step.frame],
                        labels=[step.label],
                    )
                (record,) = finished
                record.metadata.update(episode=episode, seed=seed + episode)
                records.append(record)
    finally:
        model.train(was_training)
    return records

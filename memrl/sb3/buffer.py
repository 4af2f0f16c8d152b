"""Rollout storage for recurrent PPO with any core state.

Transitions are stored per step, on the training device; the core state only at the
start of each chunk of ``seq_len`` steps. A minibatch is a random set of (env, chunk)
sequences, unrolled as ``[seq_len, n_seq]`` from their stored start states with the
stored episode starts, so there is no padding and no per-step state storage.

Layout: step data is ``[n_steps, n_envs, ...]``; sequence ``s = chunk * n_envs + env``
covers steps ``chunk * seq_len ... (chunk + 1) * seq_len - 1`` of env ``env``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import torch
from gymnasium import spaces
from stable_baselines3.common.preprocessing import get_action_dim, get_obs_shape
from stable_baselines3.common.type_aliases import PyTorchObs
from torch import Tensor

from memrl.memory import cat_states, index_state, map_state


class SequenceBatch(NamedTuple):
    """A minibatch of ``n_seq`` sequences of ``T = seq_len`` steps, time-major.

    Attributes:
        observations: ``[T * n_seq, ...]`` (a dict of such tensors for Dict spaces).
        actions: ``[T * n_seq, ...]``.
        old_values: ``[T * n_seq]``.
        old_log_prob: ``[T * n_seq]``.
        advantages: ``[T * n_seq]``.
        returns: ``[T * n_seq]``.
        episode_starts: ``[T, n_seq]``.
        states: policy state of batch ``n_seq`` at each sequence's first step.
    """

    observations: PyTorchObs
    actions: Tensor
    old_values: Tensor
    old_log_prob: Tensor
    advantages: Tensor
    returns: Tensor
    episode_starts: Tensor
    states: tuple


def _check_sizes(n_steps: int, seq_len: int) -> None:
    if seq_len < 1 or n_steps % seq_len != 0:
        raise ValueError(
            f"seq_len must divide n_steps: got seq_len={seq_len}, n_steps={n_steps} "
            f"(accepted: a divisor of {n_steps}, e.g. {n_steps} or {n_steps // 2 or 1})"
        )


class SequenceRolloutBuffer:
    """Per-step transitions plus the core state at each chunk start, all as tensors.

    Args:
        n_steps: steps per env per rollout.
        n_envs: environments.
        seq_len: length of the training sequences; must divide ``n_steps``.
        observation_space, action_space: the env's spaces.
        device: where everything is stored and sampled.
        gamma, gae_lambda: GAE parameters.
    """

    def __init__(
        self,
        n_steps: int,
        n_envs: int,
        seq_len: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        device: torch.device,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
    ) -> None:
        _check_sizes(n_steps, seq_len)
        self.n_steps, self.n_envs, self.seq_len = n_steps, n_envs, seq_len
        self.n_chunks = n_steps // seq_len
        self.observation_space, self.action_space = observation_space, action_space
        self.device, self.gamma, self.gae_lambda = device, gamma, gae_lambda

        def zeros(*shape: int) -> Tensor:
            return torch.zeros(n_steps, n_envs, *shape, device=device)

        obs_shape = get_obs_shape(observation_space)
        if isinstance(observation_space, spaces.Dict):
            self.observations: PyTorchObs = {k: zeros(*shape) for k, shape in obs_shape.items()}
        else:
            self.observations = zeros(*obs_shape)
        self.actions = zeros(get_action_dim(action_space))
        self.rewards = zeros()
        self.episode_starts = zeros()
        self.values = zeros()
        self.log_probs = zeros()
        self.advantages = zeros()
        self.returns = zeros()
        self.chunk_states: list[tuple] = []
        self.pos = 0

    @property
    def full(self) -> bool:
        return self.pos == self.n_steps

    def reset(self) -> None:
        self.pos = 0
        self.chunk_states = []

    def add_state(self, state: tuple) -> None:
        """Store the policy state *before* the step at the current position (a chunk start)."""
        if self.pos % self.seq_len != 0:
            raise RuntimeError(f"states are stored at chunk starts only, not at step {self.pos}")
        self.chunk_states.append(map_state(lambda t: t.detach().clone(), state))

    def add(
        self,
        obs: PyTorchObs,
        actions: Tensor,
        rewards: Tensor,
        episode_starts: Tensor,
        values: Tensor,
        log_probs: Tensor,
    ) -> None:
        """Store one step of all envs (tensors on any device; ``[n_envs, ...]``)."""
        if self.full:
            raise RuntimeError("the rollout buffer is full; call reset() first")
        if len(self.chunk_states) != self.pos // self.seq_len + 1:
            raise RuntimeError("add_state must be called at each chunk start before add")
        t = self.pos
        if isinstance(self.observations, dict):
            for key, value in obs.items():
                self.observations[key][t] = value.reshape(self.observations[key][t].shape)
        else:
            self.observations[t] = obs.reshape(self.observations[t].shape)
        self.actions[t] = actions.reshape(self.n_envs, -1)
        self.rewards[t] = rewards
        self.episode_starts[t] = episode_starts
        self.values[t] = values.flatten()
        self.log_probs[t] = log_probs.flatten()
        self.pos += 1

    def compute_returns_and_advantage(self, last_values: Tensor, dones: Tensor) -> None:
        """GAE(lambda) over the rollout, on the buffer's device.

        Args:
            last_values: ``[n_envs]`` values of the observation after the last step.
            dones: ``[n_envs]`` whether the last step ended an episode.
        """
        last_gae = torch.zeros(self.n_envs, device=self.device)
        next_values = last_values.flatten()
        next_non_terminal = 1.0 - dones.float()
        for t in reversed(range(self.n_steps)):
            delta = self.rewards[t] + self.gamma * next_values * next_non_terminal - self.values[t]
            last_gae = delta + self.gamma * self.gae_lambda * next_non_terminal * last_gae
            self.advantages[t] = last_gae
            next_values = self.values[t]
            next_non_terminal = 1.0 - self.episode_starts[t]
        self.returns = self.advantages + self.values

    def _as_sequences(self, x: Tensor) -> Tensor:
        """``[n_steps, n_envs, ...]`` -> ``[seq_len, n_chunks * n_envs, ...]``."""
        tail = x.shape[2:]
        x = x.reshape(self.n_chunks, self.seq_len, self.n_envs, *tail)
        return x.transpose(0, 1).reshape(self.seq_len, self.n_chunks * self.n_envs, *tail)

    def sequences(
        self, batch_size: int | None = None, shuffle: bool = True
    ) -> Iterator[SequenceBatch]:
        """Minibatches of whole sequences covering the rollout once.

        Args:
            batch_size: transitions per minibatch, a multiple of ``seq_len``
                (``None``: the whole rollout at once).
            shuffle: random order of sequences (otherwise chunk-major, env-minor).
        """
        if not self.full:
            raise RuntimeError("the rollout buffer is not full yet")
        n_seq_total = self.n_chunks * self.n_envs
        batch_size = batch_size or self.n_steps * self.n_envs
        if batch_size % self.seq_len != 0:
            raise ValueError(
                f"batch_size ({batch_size}) must be a multiple of seq_len ({self.seq_len}): "
                "a minibatch is made of whole sequences"
            )
        per_batch = batch_size // self.seq_len
        states = cat_states(self.chunk_states)
        if isinstance(self.observations, dict):
            obs = {k: self._as_sequences(v) for k, v in self.observations.items()}
        else:
            obs = self._as_sequences(self.observations)
        actions = self._as_sequences(self.actions)
        columns = [
            self._as_sequences(x)
            for x in (self.values, self.log_probs, self.advantages, self.returns)
        ]
        starts = self._as_sequences(self.episode_starts)
        order = (
            torch.randperm(n_seq_total, device=self.device)
            if shuffle
            else torch.arange(n_seq_total, device=self.device)
        )
        for begin in range(0, n_seq_total, per_batch):
            idx = order[begin : begin + per_batch]

            def take(x: Tensor, idx: Tensor = idx) -> Tensor:
                picked = x[:, idx]
                return picked.reshape(-1, *picked.shape[2:])

            batch_obs = {k: take(v) for k, v in obs.items()} if isinstance(obs, dict) else take(obs)
            values, log_probs, advantages, returns = (take(c) for c in columns)
            yield SequenceBatch(
                observations=batch_obs,
                actions=take(actions),
                old_values=values,
                old_log_prob=log_probs,
                advantages=advantages,
                returns=returns,
                episode_starts=starts[:, idx],
                states=index_state(states, idx),
            )

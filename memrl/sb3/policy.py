"""SB3 actor-critic policies whose features come from a memory core.

``obs -> encoder (SB3 features extractor) -> MemoryCore -> MlpExtractor (net_arch) -> heads``

Every stateful method takes the core state and the episode starts explicitly and returns
the new state; nothing of an episode is kept on the policy.
"""

from __future__ import annotations

import copy
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.distributions import Distribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.preprocessing import preprocess_obs
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from torch import Tensor, nn

from memrl.memory import MemoryCore, make_core
from memrl.memory.base import compile_mode
from memrl.sb3.encoders import default_encoder_class


class ActorCriticState(NamedTuple):
    """Policy state when actor and critic have separate cores (``shared_memory=False``)."""

    actor: tuple
    critic: tuple


class MemoryExtractor(nn.Module):
    """An SB3 observation encoder followed by a memory core.

    Args:
        observation_space: the environment's observation space.
        memory: a registered core name (``memrl.memory.core_names()``) or a MemoryCore class.
        memory_kwargs: core constructor arguments (``input_size`` is the encoder's output).
        encoder_class: an SB3 ``BaseFeaturesExtractor`` class; chosen by the space if None.
        encoder_kwargs: its keyword arguments.
        normalize_images: scale uint8 images to [0, 1] (SB3's preprocessing).
        compile: compile the core's per-step function with torch.compile (``True``: mode
            ``"default"``; or a mode name such as ``"reduce-overhead"``); see
            ``MemoryCore.set_compile``.
    """

    def __init__(
        self,
        observation_space: gym.Space,
        memory: str | type[MemoryCore] = "lstm",
        memory_kwargs: dict[str, Any] | None = None,
        encoder_class: type[BaseFeaturesExtractor] | None = None,
        encoder_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        compile: bool | str = False,
    ) -> None:
        super().__init__()
        mode = compile_mode(compile)
        self.observation_space = observation_space
        self.normalize_images = normalize_images
        encoder_class = encoder_class or default_encoder_class(observation_space)
        self.encoder = encoder_class(observation_space, **(encoder_kwargs or {}))
        self.core = make_core(memory, self.encoder.features_dim, **(memory_kwargs or {}))
        if mode is not None:
            self.core.set_compile(mode)
        self.features_dim = self.core.output_size

    def initial_state(self, n: int, device: torch.device | str | None = None) -> tuple:
        """The core's initial state for ``n`` environments."""
        return self.core.initial_state(n, device)

    def forward(
        self,
        obs: PyTorchObs,
        state: tuple,
        episode_starts: Tensor,
        with_loss: bool = False,
    ) -> tuple[Tensor, tuple, Tensor | None]:
        """Encode and unroll.

        Args:
            obs: observations ``[T * B, ...]`` in time-major order (as SB3 tensors).
            state: core state of batch ``B``.
            episode_starts: ``[T, B]``.
            with_loss: also return the core's per-step auxiliary loss.
        Returns:
            ``(features [T * B, O], state, aux loss [T, B] or None)``.
        """
        steps, batch = episode_starts.shape
        encoded = self.encoder(preprocess_obs(obs, self.observation_space, self.normalize_images))
        y, state, loss = self.core.unroll(
            encoded.reshape(steps, batch, -1), state, episode_starts, with_loss=with_loss
        )
        return y.reshape(steps * batch, -1), state, loss


class MemoryActorCriticPolicy(ActorCriticPolicy):
    """Actor-critic policy on top of a memory core; subclass it to change encoder or heads.

    Accepts every ``ActorCriticPolicy`` argument; ``features_extractor_class`` names the
    observation encoder that feeds the core. Additional arguments:

    Args:
        memory: registered core name or ``MemoryCore`` class (default ``"lstm"``).
        memory_kwargs: core constructor arguments.
        shared_memory: one core for actor and critic (default); otherwise each has its own
            encoder and core, and the state is an ``ActorCriticState``.
        compile: compile the per-step function of every core with torch.compile: ``False``
            (default, eager), ``True`` (mode ``"default"``) or a torch.compile mode name
            (``"reduce-overhead"`` captures the step in CUDA graphs on a GPU). The first
            iterations pay the compile time (about a minute on a CPU; Inductor caches it on
            disk for later processes). Saved with the model.
    """

    features_extractor: MemoryExtractor

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.Tanh,
        *args: Any,
        memory: str | type[MemoryCore] = "lstm",
        memory_kwargs: dict[str, Any] | None = None,
        shared_memory: bool = True,
        compile: bool | str = False,
        features_extractor_class: type[BaseFeaturesExtractor] | None = None,
        features_extractor_kwargs: dict[str, Any] | None = None,
        share_features_extractor: bool | None = None,
        **kwargs: Any,
    ) -> None:
        if share_features_extractor is not None and share_features_extractor != shared_memory:
            raise ValueError(
                "share_features_extractor is set by shared_memory in memory policies; "
                f"got share_features_extractor={share_features_extractor}, "
                f"shared_memory={shared_memory}"
            )
        self.memory = memory
        self.memory_kwargs = dict(memory_kwargs or {})
        self.shared_memory = shared_memory
        compile_mode(compile)  # a bad value fails here, before anything is built
        # not self.compile: that would hide nn.Module.compile
        self.compile_cores = compile
        if net_arch is None:
            net_arch = dict(pi=[64], vf=[64])
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            net_arch,
            activation_fn,
            *args,
            features_extractor_class=features_extractor_class
            or default_encoder_class(observation_space),
            features_extractor_kwargs=features_extractor_kwargs,
            share_features_extractor=shared_memory,
            **kwargs,
        )

    # --- construction -------------------------------------------------------------------

    def make_features_extractor(self) -> MemoryExtractor:  # type: ignore[override]
        return MemoryExtractor(
            self.observation_space,
            self.memory,
            self.memory_kwargs,
            self.features_extractor_class,
            self.features_extractor_kwargs,
            self.normalize_images,
            self.compile_cores,
        )

    def _build(self, lr_schedule: Schedule) -> None:
        # SB3's orthogonal init (gain sqrt(2)) would overwrite the cores' own
        # initialisation (gate biases, learned initial memories); keep the cores as built.
        cores = self._memory_extractors()
        saved = [copy.deepcopy(m.core.state_dict()) for m in cores]
        super()._build(lr_schedule)
        for extractor, state in zip(cores, saved, strict=True):
            extractor.core.load_state_dict(state)

    def _memory_extractors(self) -> list[MemoryExtractor]:
        if self.shared_memory:
            return [self.features_extractor]
        return [self.pi_features_extractor, self.vf_features_extractor]

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            memory=self.memory,
            memory_kwargs=self.memory_kwargs,
            shared_memory=self.shared_memory,
            compile=self.compile_cores,
        )
        return data

    # --- state -----------------------------------------------------------------------------

    @property
    def core(self) -> MemoryCore:
        """The actor's memory core (the only one when ``shared_memory``)."""
        return self.pi_features_extractor.core

    def initial_state(self, n_envs: int, device: torch.device | str | None = None) -> tuple:
        """The policy state at an episode start for ``n_envs`` environments."""
        device = device or self.device
        if self.shared_memory:
            return self.features_extractor.initial_state(n_envs, device)
        return ActorCriticState(
            self.pi_features_extractor.initial_state(n_envs, device),
            self.vf_features_extractor.initial_state(n_envs, device),
        )

    def actor_state(self, state: tuple) -> tuple:
        """The actor core's part of a policy state (for ``read_trace``)."""
        return state if self.shared_memory else state.actor

    # --- unrolls ---------------------------------------------------------------------------

    def _latents(
        self, obs: PyTorchObs, state: tuple, episode_starts: Tensor, with_loss: bool = False
    ) -> tuple[Tensor, Tensor, tuple, Tensor | None]:
        """``(latent_pi [T*B, .], latent_vf [T*B, .], new state, aux loss [T, B] | None)``."""
        if self.shared_memory:
            features, state, loss = self.features_extractor(obs, state, episode_starts, with_loss)
            latent_pi, latent_vf = self.mlp_extractor(features)
            return latent_pi, latent_vf, state, loss
        pi_features, pi_state, loss = self.pi_features_extractor(
            obs, state.actor, episode_starts, with_loss
        )
        vf_features, vf_state, vf_loss = self.vf_features_extractor(
            obs, state.critic, episode_starts, with_loss
        )
        if loss is not None and vf_loss is not None:
            loss = loss + vf_loss
        latent_pi = self.mlp_extractor.forward_actor(pi_features)
        latent_vf = self.mlp_extractor.forward_critic(vf_features)
        return latent_pi, latent_vf, ActorCriticState(pi_state, vf_state), loss

    @staticmethod
    def _as_starts(episode_starts: Tensor, steps: int = 1) -> Tensor:
        return episode_starts.reshape(steps, -1).float()

    def forward(  # type: ignore[override]
        self,
        obs: PyTorchObs,
        state: tuple,
        episode_starts: Tensor,
        deterministic: bool = False,
    ) -> tuple[Tensor, Tensor, Tensor, tuple]:
        """One step for ``B`` environments.

        Args:
            obs: ``[B, ...]`` observations.
            state: policy state of batch ``B``.
            episode_starts: ``[B]``, 1 where this observation begins an episode.
        Returns:
            ``(actions, values [B, 1], log_prob [B], new state)``.
        """
        latent_pi, latent_vf, state, _ = self._latents(obs, state, self._as_starts(episode_starts))
        values = self.value_net(latent_vf)
        distribution = self._get_action_dist_from_latent(latent_pi)
        actions = distribution.get_actions(deterministic=deterministic)
        log_prob = distribution.log_prob(actions)
        return actions.reshape((-1, *self.action_space.shape)), values, log_prob, state

    def evaluate_actions(  # type: ignore[override]
        self,
        obs: PyTorchObs,
        actions: Tensor,
        state: tuple,
        episode_starts: Tensor,
        with_loss: bool = False,
    ) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """Re-run stored sequences.

        Args:
            obs: ``[T * B, ...]`` time-major observations of ``B`` sequences.
            actions: ``[T * B, ...]`` the actions taken.
            state: policy state at the start of each sequence (batch ``B``).
            episode_starts: ``[T, B]``.
        Returns:
            ``(values [T*B, 1], log_prob [T*B], entropy [T*B] | None, aux loss [T, B] | None)``.
        """
        latent_pi, latent_vf, _, loss = self._latents(obs, state, episode_starts, with_loss)
        distribution = self._get_action_dist_from_latent(latent_pi)
        return (
            self.value_net(latent_vf),
            distribution.log_prob(actions),
            distribution.entropy(),
            loss,
        )

    def get_distribution(  # type: ignore[override]
        self, obs: PyTorchObs, state: tuple, episode_starts: Tensor
    ) -> tuple[Distribution, tuple]:
        """The action distribution for one step of ``B`` environments, and the new state."""
        latent_pi, _, state, _ = self._latents(obs, state, self._as_starts(episode_starts))
        return self._get_action_dist_from_latent(latent_pi), state

    def predict_values(  # type: ignore[override]
        self, obs: PyTorchObs, state: tuple, episode_starts: Tensor
    ) -> Tensor:
        """Values ``[B, 1]`` of one step for ``B`` environments from ``state``."""
        _, latent_vf, _, _ = self._latents(obs, state, self._as_starts(episode_starts))
        return self.value_net(latent_vf)

    def predict(  # type: ignore[override]
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple]:
        """SB3's ``predict`` with a memory: pass the returned state back in at the next step.

        Args:
            observation: one observation or a batch (vectorised env).
            state: the state returned by the previous call; ``None`` starts fresh.
            episode_start: ``[B]`` bools, true where an episode begins (resets the state).
            deterministic: the most likely action instead of a sample.
        Returns:
            ``(actions, state)``; the state is a NamedTuple of tensors on the policy's device.
        """
        self.set_training_mode(False)
        obs_tensor, vectorized = self.obs_to_tensor(observation)
        n_envs = _batch_size(obs_tensor)
        if state is None:
            state = self.initial_state(n_envs)
        if episode_start is None:
            episode_start = np.zeros(n_envs, dtype=bool)
        starts = torch.as_tensor(np.asarray(episode_start), device=self.device).float()
        with torch.no_grad():
            distribution, state = self.get_distribution(obs_tensor, state, starts.reshape(-1))
            actions = distribution.get_actions(deterministic=deterministic)
        actions = actions.cpu().numpy().reshape((-1, *self.action_space.shape))
        if isinstance(self.action_space, spaces.Box):
            if self.squash_output:
                actions = self.unscale_action(actions)
            else:
                actions = np.clip(actions, self.action_space.low, self.action_space.high)
        if not vectorized:
            actions = actions.squeeze(axis=0)
        return actions, state


def _batch_size(obs: PyTorchObs) -> int:
    if isinstance(obs, dict):
        return next(iter(obs.values())).shape[0]
    return obs.shape[0]


MlpMemoryPolicy = MemoryActorCriticPolicy
CnnMemoryPolicy = MemoryActorCriticPolicy
MultiInputMemoryPolicy = MemoryActorCriticPolicy

"""MemoryPPO: PPO with any memory core, on SB3's ``OnPolicyAlgorithm``.

Differences from SB3's PPO, all due to the recurrent state:

- Collection carries the policy state from step to step; states reset where an
  episode starts (SB3 VecEnvs reset an env in the step that ends it, so the episode
  start of step t + 1 is ``done`` of step t).
- The buffer keeps the state only at chunk starts (every ``seq_len`` steps); training
  re-unrolls whole sequences from those states.
- A truncated episode bootstraps from the value of its terminal observation computed
  with the state of that env after its last step.
- Cores with an auxiliary loss (MNM's meta loss) add it with ``meta_loss_coef``.

Callbacks see each collection step as ``self.locals["rollout_step"]``, a ``RolloutStep``
(state, read trace, episode starts, actions, rewards, dones, infos).
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.utils import FloatSchedule, explained_variance, obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv
from torch import Tensor

from memrl.memory import MemoryCore, core_trace, index_state, read_statistics
from memrl.sb3.buffer import SequenceRolloutBuffer
from memrl.sb3.policy import (
    CnnMemoryPolicy,
    MemoryActorCriticPolicy,
    MlpMemoryPolicy,
    MultiInputMemoryPolicy,
)
from memrl.sb3.rollout import RolloutStep

SelfMemoryPPO = TypeVar("SelfMemoryPPO", bound="MemoryPPO")


class MemoryPPO(OnPolicyAlgorithm):
    """Proximal Policy Optimisation for policies with a memory core.

    Takes SB3 PPO's arguments (same names and meaning) plus:

    Args:
        seq_len: length of the training sequences; must divide ``n_steps``
            (default ``n_steps``: whole rollouts, full backpropagation through time).
        batch_size: transitions per minibatch, a multiple of ``seq_len``; ``None`` takes
            about a quarter of the rollout (at least one sequence).
        meta_loss_coef: weight of a core's auxiliary loss (MNM's meta loss).

    ``policy_kwargs`` go to ``MemoryActorCriticPolicy``: ``memory`` (core name or class),
    ``memory_kwargs``, ``shared_memory``, ``net_arch``, ``features_extractor_class`` ...
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpMemoryPolicy": MlpMemoryPolicy,
        "CnnMemoryPolicy": CnnMemoryPolicy,
        "MultiInputMemoryPolicy": MultiInputMemoryPolicy,
    }
    policy: MemoryActorCriticPolicy
    rollout_buffer: SequenceRolloutBuffer  # type: ignore[assignment]

    def __init__(
        self,
        policy: str | type[MemoryActorCriticPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 3e-4,
        n_steps: int = 128,
        batch_size: int | None = None,
        n_epochs: int = 4,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        clip_range: float | Schedule = 0.2,
        clip_range_vf: float | Schedule | None = None,
        normalize_advantage: bool = True,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        seq_len: int | None = None,
        meta_loss_coef: float = 1.0,
        target_kl: float | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: torch.device | str = "auto",
        _init_setup_model: bool = True,
    ) -> None:
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            n_steps=n_steps,
            gamma=gamma,
            gae_lambda=gae_lambda,
            ent_coef=ent_coef,
            vf_coef=vf_coef,
            max_grad_norm=max_grad_norm,
            use_sde=False,
            sde_sample_freq=-1,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            device=device,
            seed=seed,
            _init_setup_model=False,
            supported_action_spaces=(
                spaces.Box,
                spaces.Discrete,
                spaces.MultiDiscrete,
                spaces.MultiBinary,
            ),
        )
        self.seq_len = n_steps if seq_len is None else seq_len
        if self.seq_len < 1 or n_steps % self.seq_len != 0:
            raise ValueError(
                f"seq_len must divide n_steps: got seq_len={self.seq_len}, n_steps={n_steps}"
            )
        if batch_size is not None and batch_size % self.seq_len != 0:
            raise ValueError(
                f"batch_size ({batch_size}) must be a multiple of seq_len ({self.seq_len}): "
                f"a minibatch is made of whole sequences (e.g. batch_size={self.seq_len * 2})"
            )
        self.batch_size = batch_size
        self.n_epochs = n_epochs
        self.clip_range = clip_range
        self.clip_range_vf = clip_range_vf
        self.normalize_advantage = normalize_advantage
        self.target_kl = target_kl
        self.meta_loss_coef = meta_loss_coef
        self._last_state: tuple | None = None
        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        rollout = self.n_steps * self.n_envs
        if self.batch_size is None:
            self.batch_size = max(self.seq_len, rollout // 4 // self.seq_len * self.seq_len)
        if self.batch_size > rollout:
            raise ValueError(
                f"batch_size ({self.batch_size}) is larger than the rollout "
                f"(n_steps * n_envs = {rollout})"
            )
        self._setup_lr_schedule()
        self.set_random_seed(self.seed)
        self.policy = self.policy_class(  # type: ignore[assignment]
            self.observation_space, self.action_space, self.lr_schedule, **self.policy_kwargs
        )
        if not isinstance(self.policy, MemoryActorCriticPolicy):
            raise TypeError(
                f"MemoryPPO needs a MemoryActorCriticPolicy (or subclass), got {self.policy_class}"
            )
        self.policy = self.policy.to(self.device)
        self.rollout_buffer = SequenceRolloutBuffer(
            self.n_steps,
            self.n_envs,
            self.seq_len,
            self.observation_space,
            self.action_space,
            self.device,
            gamma=self.gamma,
            gae_lambda=self.gae_lambda,
        )
        self.clip_range = FloatSchedule(self.clip_range)
        if self.clip_range_vf is not None:
            self.clip_range_vf = FloatSchedule(self.clip_range_vf)

    def _setup_learn(
        self,
        total_timesteps,
        callback=None,
        reset_num_timesteps=True,
        tb_log_name="run",
        progress_bar=False,
    ):
        result = super()._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        if reset_num_timesteps or self._last_state is None:
            # _setup_learn reset the envs, and _last_episode_starts is all ones, so the
            # first step resets this state anyway; it only fixes batch size and device.
            self._last_state = self.policy.initial_state(self.n_envs)
        return result

    def collect_rollouts(
        self,
        env: VecEnv,
        callback: BaseCallback,
        rollout_buffer: SequenceRolloutBuffer,  # type: ignore[override]
        n_rollout_steps: int,
    ) -> bool:
        """Run the policy for ``n_rollout_steps`` steps in every env, carrying its state."""
        assert self._last_obs is not None and self._last_state is not None
        self.policy.set_training_mode(False)
        rollout_buffer.reset()
        callback.on_rollout_start()
        state = self._last_state
        memory_sums: dict[str, Tensor] = {}
        n_steps = 0
        while n_steps < n_rollout_steps:
            if rollout_buffer.pos % rollout_buffer.seq_len == 0:
                rollout_buffer.add_state(state)
            starts = torch.as_tensor(self._last_episode_starts, device=self.device).float()
            with torch.no_grad():
                obs_tensor = obs_as_tensor(self._last_obs, self.device)
                actions, values, log_probs, state = self.policy(obs_tensor, state, starts)
                trace = core_trace(self.policy.core, self.policy.actor_state(state))
                for key, value in read_statistics(trace).items():
                    memory_sums[key] = memory_sums.get(key, 0.0) + value
            env_actions = actions.cpu().numpy()
            if isinstance(self.action_space, spaces.Box):
                env_actions = np.clip(env_actions, self.action_space.low, self.action_space.high)
            new_obs, rewards, dones, infos = env.step(env_actions)
            self.num_timesteps += env.num_envs
            rollout_step = RolloutStep(
                state=state,
                trace=trace,
                episode_starts=np.asarray(self._last_episode_starts, dtype=bool),
                actions=env_actions,
                rewards=rewards,
                dones=np.asarray(dones, dtype=bool),
                infos=infos,
            )
            # rollout_step is the documented view; the other locals serve SB3's callbacks.
            callback.update_locals(locals())
            if not callback.on_step():
                return False
            self._update_info_buffer(infos, dones)
            n_steps += 1
            rewards = torch.as_tensor(rewards, device=self.device).float()
            rewards = self._bootstrap_truncated(rewards, dones, infos, state)
            rollout_buffer.add(obs_tensor, actions, rewards, starts, values, log_probs)
            self._last_obs = new_obs
            self._last_episode_starts = dones
        self._last_state = state
        with torch.no_grad():
            starts = torch.as_tensor(dones, device=self.device).float()
            last_values = self.policy.predict_values(
                obs_as_tensor(new_obs, self.device), state, starts
            )
        rollout_buffer.compute_returns_and_advantage(last_values, starts)
        for key, total in memory_sums.items():
            self.logger.record(f"memory/{key}", float(total / n_steps))
        callback.update_locals(locals())
        callback.on_rollout_end()
        return True

    def _bootstrap_truncated(
        self, rewards: Tensor, dones: np.ndarray, infos: list[dict], state: tuple
    ) -> Tensor:
        """Add ``gamma * V(terminal obs)`` to the reward of envs whose episode was cut by a
        time limit; the value uses that env's state after its last step."""
        truncated = [
            i
            for i, done in enumerate(dones)
            if done
            and infos[i].get("TimeLimit.truncated", False)
            and infos[i].get("terminal_observation") is not None
        ]
        if not truncated:
            return rewards
        terminal = [infos[i]["terminal_observation"] for i in truncated]
        if isinstance(terminal[0], dict):
            stacked: Any = {k: np.stack([o[k] for o in terminal]) for k in terminal[0]}
        else:
            stacked = np.stack(terminal)
        obs_tensor, _ = self.policy.obs_to_tensor(stacked)
        index = torch.as_tensor(truncated, device=self.device)
        with torch.no_grad():
            values = self.policy.predict_values(
                obs_tensor,
                index_state(state, index),
                torch.zeros(len(truncated), device=self.device),
            )
        return rewards.index_add(0, index, self.gamma * values.flatten())

    def train(self) -> None:
        """PPO epochs over minibatches of whole sequences."""
        self.policy.set_training_mode(True)
        # The rollout acted with the memory cores in eval mode (hard reads: argmax). The
        # update must recompute those same reads, or the PPO ratio compares the old policy
        # with a differently-read new one (Gumbel samples): the cores stay in eval mode,
        # where hard reads are straight-through (the argmax values, softmax gradients).
        for module in self.policy.modules():
            if isinstance(module, MemoryCore):
                module.train(False)
        self._update_learning_rate(self.policy.optimizer)
        clip_range = self.clip_range(self._current_progress_remaining)
        clip_range_vf = (
            self.clip_range_vf(self._current_progress_remaining)
            if self.clip_range_vf is not None
            else None
        )
        # Losses stay on the device until the end of train(): one host sync, not one per batch.
        logs: dict[str, list[Tensor]] = {}
        continue_training = True
        for epoch in range(self.n_epochs):
            for batch in self.rollout_buffer.sequences(self.batch_size):
                actions = batch.actions
                if isinstance(self.action_space, spaces.Discrete):
                    actions = actions.long().flatten()
                values, log_prob, entropy, aux_loss = self.policy.evaluate_actions(
                    batch.observations,
                    actions,
                    batch.states,
                    batch.episode_starts,
                    with_loss=self.meta_loss_coef != 0.0,
                )
                values = values.flatten()
                advantages = batch.advantages
                if self.normalize_advantage and len(advantages) > 1:
                    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
                ratio = torch.exp(log_prob - batch.old_log_prob)
                policy_loss = -torch.min(
                    advantages * ratio,
                    advantages * torch.clamp(ratio, 1 - clip_range, 1 + clip_range),
                ).mean()
                if clip_range_vf is None:
                    values_pred = values
                else:
                    values_pred = batch.old_values + torch.clamp(
                        values - batch.old_values, -clip_range_vf, clip_range_vf
                    )
                value_loss = torch.nn.functional.mse_loss(batch.returns, values_pred)
                entropy_loss = -(entropy.mean() if entropy is not None else -log_prob.mean())
                loss = policy_loss + self.ent_coef * entropy_loss + self.vf_coef * value_loss
                if aux_loss is not None:
                    loss = loss + self.meta_loss_coef * aux_loss.mean()
                    logs.setdefault("train/meta_loss", []).append(aux_loss.mean().detach())
                with torch.no_grad():
                    log_ratio = log_prob - batch.old_log_prob
                    approx_kl = ((torch.exp(log_ratio) - 1) - log_ratio).mean()
                for key, value in (
                    ("train/policy_gradient_loss", policy_loss),
                    ("train/value_loss", value_loss),
                    ("train/entropy_loss", entropy_loss),
                    ("train/clip_fraction", ((ratio - 1).abs() > clip_range).float().mean()),
                    ("train/approx_kl", approx_kl),
                ):
                    logs.setdefault(key, []).append(value.detach())
                # target_kl needs the value now: one sync per batch only when it is used.
                if self.target_kl is not None and approx_kl.item() > 1.5 * self.target_kl:
                    continue_training = False
                    if self.verbose >= 1:
                        print(f"Early stopping at epoch {epoch} due to reaching max kl")
                    break
                self.policy.optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
                self.policy.optimizer.step()
            self._n_updates += 1
            if not continue_training:
                break
        for key, values_list in logs.items():
            self.logger.record(key, torch.stack(values_list).mean().item())
        self.logger.record("train/loss", loss.item())
        self.logger.record(
            "train/explained_variance",
            explained_variance(
                self.rollout_buffer.values.flatten().cpu().numpy(),
                self.rollout_buffer.returns.flatten().cpu().numpy(),
            ),
        )
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/clip_range", clip_range)
        if clip_range_vf is not None:
            self.logger.record("train/clip_range_vf", clip_range_vf)

    def predict(  # type: ignore[override]
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple]:
        """Actions and the next state; pass the state back in (see the policy's ``predict``)."""
        return self.policy.predict(observation, state, episode_start, deterministic)

    def learn(
        self: SelfMemoryPPO,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 1,
        tb_log_name: str = "MemoryPPO",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfMemoryPPO:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_last_state"]

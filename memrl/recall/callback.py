"""``RecallCallback``: record the memory reads of some training episodes of MemoryPPO.

Every ``every`` environment steps (counted as SB3's ``num_timesteps``, all envs), the next
episode that starts in env ``env_index`` is recorded from its first step to its last and
saved as ``<out_dir>/ep_<num_timesteps>.npz`` (an ``EpisodeRecord``; ``num_timesteps`` at
the episode's end). Its recall statistics are logged under ``recall/``:

- ``recall/mean_age``: mean age of the recalled memories in steps (t - source step over the
  valid top-k reads, weighted by read weight for slot memories);
- ``recall/read_entropy``: mean entropy (nats) of the read weightings (slot memories);
- ``recall/fresh_read_fraction``: mean read weight on slots written in this episode (slot
  memories; the rest falls on slots holding only the initial memory);
- ``recall/episode_length``, ``recall/episode_return`` of the recorded episode.

It reads only ``self.locals["rollout_step"]`` (MemoryPPO's ``RolloutStep``), whose trace
the rollout already took, and, for the labels of the steps (StoryQA's ``info["words"]``, the
word of the observation an info comes with), the infos of the step before and the training
env's ``reset_infos`` after an episode's end. Cost: outside recorded episodes the callback
does a comparison and a dict look-up per step. During one it slices env ``env_index``'s
trace (a view, on the device) and runs ``RecallRecorder``'s few batched tensor operations;
nothing moves to the host until the episode ends.
"""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stable_baselines3.common.callbacks import BaseCallback

from memrl.checks import check_int
from memrl.memory import Recall
from memrl.recall.recorder import RecallRecorder, core_name
from memrl.recall.records import EpisodeRecord

if TYPE_CHECKING:
    from memrl.sb3 import RolloutStep

__all__ = ["RecallCallback"]

_LOGGED_STATS = ("mean_age", "read_entropy", "fresh_read_fraction")


class RecallCallback(BaseCallback):
    """Record one env's episodes now and then during ``MemoryPPO.learn``; log ``recall/``.

    Args:
        top_k: reads kept per step and read head.
        every: environment steps (all envs) between the end of a recorded episode and the
            start of the next one to record; 0 records every episode of the env.
        out_dir: folder for the record files (created when needed). ``None``: the SB3
            logger's folder + ``/recall`` if the logger writes to a folder, else records
            are not saved (statistics are still logged; ``last_record`` keeps the latest).
        env_index: the env whose episodes are recorded.
        max_records: the most record files kept; older ones written by this callback are
            deleted (``None``: keep all).
        write_threshold: see ``RecallRecorder``.
    """

    def __init__(
        self,
        top_k: int = 5,
        every: int = 10_000,
        out_dir: str | os.PathLike[str] | None = None,
        env_index: int = 0,
        max_records: int | None = 100,
        write_threshold: float = 1e-3,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        # Validates top_k and write_threshold now rather than at the first recorded step.
        RecallRecorder(n_envs=1, top_k=top_k, write_threshold=write_threshold)
        self.top_k = top_k
        self.every = check_int("every", every, minimum=0)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.env_index = check_int("env_index", env_index, minimum=0)
        self.max_records = (
            None if max_records is None else check_int("max_records", max_records, minimum=1)
        )
        self.write_threshold = write_threshold
        self.saved: list[Path] = []
        self.last_record: EpisodeRecord | None = None
        self._recorder: RecallRecorder | None = None
        self._next_due = 0
        self._metadata: dict[str, Any] = {}
        self._label: str | None = None  # the label of the observation of the next step

    def _on_training_start(self) -> None:
        n_envs = self.training_env.num_envs
        if self.env_index >= n_envs:
            raise ValueError(f"env_index={self.env_index} but the training env has {n_envs} envs")
        if self.out_dir is None and self.logger.get_dir() is not None:
            self.out_dir = Path(self.logger.get_dir()) / "recall"
        policy = self.model.policy
        spec = self.training_env.get_attr("spec", indices=[self.env_index])[0]
        memory = getattr(policy, "memory", policy.core)
        self._metadata = dict(
            core=memory if isinstance(memory, str) else core_name(policy.core),
            core_kwargs=dict(getattr(policy, "memory_kwargs", {}) or {}),
            env_id=spec.id if spec is not None else None,
            seed=self.model.seed,
            env_index=self.env_index,
            deterministic=False,
        )
        self._recorder = None
        self._next_due = self.num_timesteps
        self._label = self._reset_label()

    def _on_step(self) -> bool:
        step: RolloutStep | None = self.locals.get("rollout_step")
        if step is None:
            raise TypeError(
                "RecallCallback needs self.locals['rollout_step'] (a RolloutStep), which "
                f"MemoryPPO provides; {type(self.model).__name__} does not"
            )
        i = self.env_index
        start = bool(step.episode_starts[i])
        label = self._label
        self._label = self._reset_label() if step.dones[i] else step.infos[i].get("words")
        if self._recorder is None:
            if not (start and self.num_timesteps >= self._next_due):
                return True
            self._recorder = RecallRecorder(
                n_envs=1,
                top_k=self.top_k,
                metadata=self._metadata,
                write_threshold=self.write_threshold,
            )
        finished = self._recorder.step(
            None if step.trace is None else _select_env(step.trace, i),
            [start],
            actions=step.actions[i : i + 1],
            rewards=step.rewards[i : i + 1],
            dones=step.dones[i : i + 1],
            labels=[label],
        )
        for record in finished:
            self._episode_done(record)
        return True

    def _reset_label(self) -> str | None:
        """The label in the reset info of the recorded env (its next episode's first word)."""
        reset_infos = getattr(self.training_env, "reset_infos", None)
        return reset_infos[self.env_index].get("words") if reset_infos else None

    def _episode_done(self, record: EpisodeRecord) -> None:
        self._recorder = None
        self._next_due = self.num_timesteps + self.every
        record.metadata["env_index"] = self.env_index
        record.metadata["num_timesteps"] = int(self.num_timesteps)
        self.last_record = record
        stats = record.metadata["recall_stats"]
        for key in _LOGGED_STATS:
            if stats.get(key) is not None:
                self.logger.record_mean(f"recall/{key}", stats[key])
        self.logger.record_mean("recall/episode_length", record.length)
        self.logger.record_mean("recall/episode_return", record.metadata["episode_return"])
        if self.out_dir is None:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = record.save(self.out_dir / f"ep_{self.num_timesteps}.npz")
        self.saved.append(path)
        if self.verbose >= 1:
            print(f"recall: saved {path}")
        while self.max_records is not None and len(self.saved) > self.max_records:
            self.saved.pop(0).unlink(missing_ok=True)


def _select_env(trace: Recall, i: int) -> Recall:
    """The ``Recall`` of batch element ``i`` only (views, batch 1)."""
    selected = {
        f.name: None if getattr(trace, f.name) is None else getattr(trace, f.name)[i : i + 1]
        for f in fields(trace)
    }
    return Recall(**selected)

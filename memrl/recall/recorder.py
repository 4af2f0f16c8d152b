"""Top-k memory reads per step, computed incrementally while episodes run.

``RecallRecorder`` turns the ``Recall`` of each step (``core.read_trace(state)``) of B
environments into ``EpisodeRecord`` objects, one per finished episode. Three kinds of recall:

- ``"slots"`` (NTM, DNC, MemNet; any core whose trace has ``read_weights``): per read head
  the k slots with the highest read weight, their weights and each slot's *source step*,
  the past step whose write still dominates the slot. With the write weight of all write
  heads combined, ``w_t[n] = 1 - prod_h (1 - w_{t,h}[n])``, step t' scores

      score_t(t')[n] = w_{t'}[n] * prod_{t' < u <= t} (1 - w_u[n])

  and the source step is the t' of the highest score. Each new write multiplies every
  older candidate's score by the same factor (1 - w_t[n]), so the best candidate stays the
  best among the old ones and only the new step can overtake it: keeping ``best_score[n]``
  and ``best_step[n]`` per slot is exact and O(N) per step::

      best_score *= 1 - w_t
      where w_t >= best_score and w_t > write_threshold:  best_score, best_step = w_t, t

  (ties go to the newer step). A write counts only when its combined weight exceeds
  ``write_threshold`` (default 1e-3); a slot no such write has reached in the episode is
  unwritten: source step -1. The cores write before they read within a step (NTM, DNC,
  MemNet and MNM all do), so the read of step t sees the write of step t: the update
  above runs before the reads of step t are resolved. MemNet writes one-hot to slot
  ``t mod N``, so its source steps are exactly the steps held by the slots.
- ``"keys"`` (MNM; traces with ``read_keys``): the memory is an MLP, not slots. Per read
  head, the k steps of the episode (the current one included) whose write keys are the
  most similar to the read key, by cosine similarity (the highest over write heads when
  there are several); those similarities are the weights, and ``read_slots`` and
  ``source_steps`` both hold the steps. ``write_slots[t]`` is t itself (the write of step t
  is candidate t). This costs O(t) per step: the similarities to all past keys. The record
  also keeps every step's write keys and (when the trace has them) write values, in
  float16, for ``memrl.recall.similarity``.
- ``"none"`` (LSTM, GRU: an empty trace; a ``None`` trace, from a core without
  ``read_trace`` or whose ``read_trace`` returns ``None``): no recall; ``R = K = Wh = 0``
  arrays.

Read entries whose weight is exactly 0 (e.g. the unused slots of MemNet, or all but one
slot of a one-hot Gumbel read) and entries beyond the available candidates (k > N, or
fewer than k steps so far) are padding: slot and source step -1, weight 0.

Device work is batched over environments (no Python loops over slots or envs per step);
per-step results stay on the trace's device and move to the host once per episode.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from memrl.checks import check_int, check_number
from memrl.memory import (
    MemoryCore,
    Recall,
    core_class,
    core_names,
    read_entropy,
    slots_in_use,
)
from memrl.recall.kinds import check_trace, episode_summary, host_array, host_bools, recall_kind
from memrl.recall.records import EpisodeRecord

__all__ = ["RecallRecorder", "core_name", "recall_kind"]


def core_name(core: MemoryCore | str | type[MemoryCore]) -> str:
    """The registered name of a core (instance, class or name); the class name if unregistered."""
    if isinstance(core, str):
        return core
    cls = core if isinstance(core, type) else type(core)
    for name in core_names():
        if core_class(name) is cls:
            return name
    return cls.__name__


class RecallRecorder:
    """Per-step top-k reads of ``n_envs`` environments, returned as finished episodes.

    Call ``step`` once per environment step, after the core's step and the env's step::

        recorder = RecallRecorder(core, n_envs=4, top_k=5, metadata={"env_id": "memrl/TMaze-v0"})
        for ...:
            actions, state = model.predict(obs, state, episode_starts)
            trace = core.read_trace(state)  # a Recall, or None: no recall
            obs, rewards, dones, infos = venv.step(actions)
            for record in recorder.step(trace, episode_starts, actions, rewards, dones):
                ...  # an EpisodeRecord
            episode_starts = dones

    Args:
        core: the core (or its registered name, or class), for the record's metadata; the
            recall kind is taken from the traces (``recall_kind``).
        n_envs: number of environments B in every trace and argument of ``step``.
        top_k: k, the reads kept per step and read head.
        metadata: copied into every record (e.g. ``core_kwargs``, ``env_id``, ``seed``).
        write_threshold: smallest combined write weight that makes a step a slot's source.
    """

    def __init__(
        self,
        core: MemoryCore | str | type[MemoryCore] | None = None,
        n_envs: int = 1,
        top_k: int = 5,
        metadata: dict[str, Any] | None = None,
        write_threshold: float = 1e-3,
    ) -> None:
        self.n_envs = check_int("n_envs", n_envs, minimum=1)
        self.top_k = check_int("top_k", top_k, minimum=1)
        self.write_threshold = check_number("write_threshold", write_threshold, minimum=0.0)
        if self.write_threshold >= 1.0:  # a combined write weight never exceeds 1
            raise ValueError(f"write_threshold must be in [0, 1), got {write_threshold!r}")
        self.metadata = dict(metadata or {})
        if core is not None:
            self.metadata.setdefault("core", core_name(core))
        self.kind: str | None = None
        self._sizes: dict[str, int] = {}
        # Host side, per env: is an episode in progress, its first history index, its steps.
        self._in_episode = np.zeros(n_envs, dtype=bool)
        self._begin = np.zeros(n_envs, dtype=np.int64)
        self._steps = np.zeros(n_envs, dtype=np.int64)
        self._actions: list[list[np.ndarray]] = [[] for _ in range(n_envs)]
        self._rewards: list[list[float]] = [[] for _ in range(n_envs)]
        self._frames: list[list[np.ndarray]] = [[] for _ in range(n_envs)]
        self._labels: list[list[str]] = [[] for _ in range(n_envs)]
        # Device side: per-step outputs [B, ...] of every env, since the oldest open episode.
        self._history: list[dict[str, Tensor]] = []
        self._history_offset = 0
        self._global_step = 0
        self._device_state: dict[str, Tensor] = {}

    # --- public ------------------------------------------------------------------------------

    def step(
        self,
        trace: Recall | None,
        episode_starts: Sequence[bool] | np.ndarray | Tensor,
        actions: Sequence[Any] | np.ndarray | Tensor | None = None,
        rewards: Sequence[float] | np.ndarray | Tensor | None = None,
        dones: Sequence[bool] | np.ndarray | Tensor | None = None,
        frames: Sequence[np.ndarray] | np.ndarray | None = None,
        labels: Sequence[str | None] | None = None,
    ) -> list[EpisodeRecord]:
        """Record one step of every env; return the episodes that this step finished.

        Args:
            trace: ``core.read_trace(state)`` of the step, batch B = ``n_envs``; ``None``
                records no recall (kind ``"none"``).
            episode_starts: ``[B]``, true where this step is the first of an episode (the
                core's state was reset before it). An env's open episode is finished first.
            actions: ``[B, ...]`` the actions taken (stored as given); zeros if None.
            rewards: ``[B]`` rewards received after the actions; zeros if None.
            dones: ``[B]``, true where the episode ended with this step: its record is
                returned now (otherwise at the next start, or by ``flush``).
            frames: ``[B, H, W, 3]`` uint8 frames of this step's observations, or None.
            labels: ``[B]`` short texts of this step's observations (StoryQA's
                ``info["words"]``), ``None`` for an env without one; a record keeps them
                as ``labels`` when any step of its episode had one.
        Returns:
            The finished ``EpisodeRecord`` objects (``metadata["env_index"]`` tells the env).
        """
        starts = host_bools(episode_starts, self.n_envs, "episode_starts")
        kind = recall_kind(trace)
        if self.kind is None:
            self._setup(kind)
        elif kind != self.kind:
            raise ValueError(f"trace changed kind from {self.kind!r} to {kind!r} mid-recording")
        check_trace(trace, self.n_envs)
        if not self._device_state and kind != "none":
            self._allocate(trace)
        finished = [self._finish(i) for i in np.flatnonzero(starts & self._in_episode)]
        # An env seen for the first time (or after flush) starts an episode whatever it says.
        starts = starts | ~self._in_episode

        self._begin[starts] = self._global_step
        self._steps[starts] = 0
        self._in_episode[:] = True
        for i in np.flatnonzero(starts):
            self._actions[i], self._rewards[i], self._frames[i] = [], [], []
            self._labels[i] = []
        if self.kind != "none":  # so the trace is a Recall
            starts_device = torch.as_tensor(starts, device=self._device)
            step_fn = self._slot_step if self.kind == "slots" else self._key_step
            with torch.no_grad():  # a trace taken with autograd on must not keep its graph
                self._history.append(step_fn(trace, starts_device))
        self._global_step += 1
        self._store_host(actions, rewards, frames, labels)
        self._steps += 1

        if dones is not None:
            done = host_bools(dones, self.n_envs, "dones")
            finished += [self._finish(i) for i in np.flatnonzero(done)]
        self._trim_history()
        return finished

    def flush(self) -> list[EpisodeRecord]:
        """Finish every open episode (e.g. cut by the end of an evaluation) and return them."""
        finished = [self._finish(i) for i in np.flatnonzero(self._in_episode)]
        self._trim_history()
        return finished

    # --- setup -------------------------------------------------------------------------------

    def _setup(self, kind: str) -> None:
        self.kind = kind
        self._device = torch.device("cpu")
        if kind == "none":
            self._sizes = dict(read_heads=0, write_heads=0)

    def _allocate(self, trace: Recall) -> None:
        """Device buffers, with device and dtype of the first trace."""
        batch = self.n_envs
        if self.kind == "slots":
            reads, writes = trace.read_weights, trace.write_weights
            assert reads is not None and writes is not None
            self._device, dtype = reads.device, reads.dtype
            slots = reads.shape[-1]
            self._sizes = dict(
                memory_slots=slots, read_heads=reads.shape[1], write_heads=writes.shape[1]
            )
            self._device_state = dict(
                best_score=torch.zeros(batch, slots, device=self._device, dtype=dtype),
                best_step=torch.full((batch, slots), -1, device=self._device, dtype=torch.long),
                t=torch.zeros(batch, device=self._device, dtype=torch.long),
            )
        else:
            read_keys, write_keys = trace.read_keys, trace.write_keys
            assert read_keys is not None and write_keys is not None
            self._device, dtype = read_keys.device, read_keys.dtype
            self._sizes = dict(
                read_heads=read_keys.shape[1],
                write_heads=write_keys.shape[1],
                key_size=read_keys.shape[-1],
            )
            self._device_state = dict(
                # past write keys (unit norm) of the open episodes: [B, capacity, Wh, K]
                keys=torch.zeros(
                    batch, 64, *write_keys.shape[1:], device=self._device, dtype=dtype
                ),
                t=torch.zeros(batch, device=self._device, dtype=torch.long),
            )

    # --- per-step device work ----------------------------------------------------------------

    def _slot_step(self, trace: Recall, starts: Tensor) -> dict[str, Tensor]:
        """Source steps by the incremental rule, then top-k reads (all envs at once)."""
        reads, writes = trace.read_weights, trace.write_weights  # [B, R, N], [B, Wh, N]
        assert reads is not None and writes is not None
        state = self._device_state
        fresh = starts.unsqueeze(-1)
        t = torch.where(starts, 0, state["t"])
        best_score = state["best_score"].masked_fill(fresh, 0.0)
        best_step = state["best_step"].masked_fill(fresh, -1)

        combined = 1.0 - torch.prod(1.0 - writes.to(best_score.dtype), dim=1)  # w_t [B, N]
        decayed = best_score * (1.0 - combined)
        take = (combined >= decayed) & (combined > self.write_threshold)
        best_score = torch.where(take, combined, decayed)
        best_step = torch.where(take, t.unsqueeze(-1), best_step)
        state.update(best_score=best_score, best_step=best_step, t=t + 1)

        k = min(self.top_k, reads.shape[-1])
        weights, slots = reads.topk(k, dim=-1)  # [B, R, k]
        sources = best_step.unsqueeze(1).expand_as(reads).gather(-1, slots)
        written = (best_step >= 0).unsqueeze(1).to(reads.dtype)
        write_max, write_slots = writes.max(dim=-1)  # [B, Wh]
        if trace.usage is not None:
            in_use = slots_in_use(trace.usage).to(reads.dtype)
        else:
            in_use = torch.full_like(t, math.nan, dtype=reads.dtype)
        return dict(
            **self._pad_reads(weights, slots, sources, weights > 0),
            write_slots=write_slots.masked_fill(write_max <= self.write_threshold, -1),
            slots_in_use=in_use,
            read_entropy=read_entropy(reads),  # [B, R]
            fresh_fraction=(reads * written).sum(-1),  # [B, R]
        )

    def _key_step(self, trace: Recall, starts: Tensor) -> dict[str, Tensor]:
        """MNM: cosine similarity of the read keys to this episode's write keys, top-k."""
        read_keys, write_keys = trace.read_keys, trace.write_keys  # [B, R, K], [B, Wh, K]
        write_values = trace.write_values  # [B, Wh, V] or None
        assert read_keys is not None and write_keys is not None
        state = self._device_state
        t = torch.where(starts, 0, state["t"])
        # The host knows every env's step count, so the buffer grows without a device sync.
        span = int(self._steps.max()) + 1
        keys = state["keys"]
        if span > keys.shape[1]:
            grown = keys.new_zeros(keys.shape[0], 2 * span, *keys.shape[2:])
            grown[:, : keys.shape[1]] = keys
            keys = grown
        batch_index = torch.arange(self.n_envs, device=keys.device)
        keys[batch_index, t] = F.normalize(write_keys.to(keys.dtype), dim=-1)
        state.update(keys=keys, t=t + 1)

        unit_reads = F.normalize(read_keys.to(keys.dtype), dim=-1)
        similarity = torch.einsum("brk,bshk->brsh", unit_reads, keys[:, :span]).amax(-1)
        past = torch.arange(span, device=keys.device) <= t.unsqueeze(-1)  # [B, S]
        similarity = similarity.masked_fill(~past.unsqueeze(1), -math.inf)
        k = min(self.top_k, span)
        weights, steps = similarity.topk(k, dim=-1)  # [B, R, k]
        valid = torch.isfinite(weights)
        return dict(
            **self._pad_reads(weights, steps, steps, valid),
            write_slots=t.unsqueeze(-1).expand(-1, write_keys.shape[1]),
            slots_in_use=torch.full_like(t, math.nan, dtype=keys.dtype),
            **{
                name: value.to(torch.float16)
                for name, value in (("write_keys", write_keys), ("write_values", write_values))
                if value is not None
            },
        )

    def _pad_reads(
        self, weights: Tensor, slots: Tensor, sources: Tensor, valid: Tensor
    ) -> dict[str, Tensor]:
        """Mark invalid entries (-1, weight 0) and pad the last dim from k to ``top_k``."""
        weights = weights.masked_fill(~valid, 0.0)
        slots = slots.masked_fill(~valid, -1)
        sources = sources.masked_fill(~valid, -1)
        missing = self.top_k - weights.shape[-1]
        if missing:
            weights = F.pad(weights, (0, missing), value=0.0)
            slots = F.pad(slots, (0, missing), value=-1)
            sources = F.pad(sources, (0, missing), value=-1)
        return dict(read_slots=slots, read_weights=weights, source_steps=sources)

    # --- host side ---------------------------------------------------------------------------

    def _store_host(self, actions: Any, rewards: Any, frames: Any, labels: Any) -> None:
        action_rows = host_array(actions) if actions is not None else None
        reward_rows = (
            host_array(rewards).reshape(-1).astype(np.float64)
            if rewards is not None
            else np.zeros(self.n_envs)
        )
        if reward_rows.shape[0] != self.n_envs:
            raise ValueError(f"rewards must have shape [{self.n_envs}], got {reward_rows.shape}")
        if action_rows is not None and (action_rows.ndim == 0 or len(action_rows) != self.n_envs):
            raise ValueError(
                f"actions must have a first dimension of {self.n_envs}, got {action_rows.shape}"
            )
        if frames is not None and len(frames) != self.n_envs:
            raise ValueError(f"frames must hold {self.n_envs} frames, got {len(frames)}")
        if labels is not None and len(labels) != self.n_envs:
            raise ValueError(f"labels must hold {self.n_envs} labels, got {len(labels)}")
        for i in range(self.n_envs):
            self._actions[i].append(action_rows[i] if action_rows is not None else np.int64(0))
            self._rewards[i].append(float(reward_rows[i]))
            if frames is not None:
                self._frames[i].append(np.asarray(frames[i], dtype=np.uint8))
            self._labels[i].append("" if labels is None or labels[i] is None else str(labels[i]))

    def _finish(self, env: int) -> EpisodeRecord:
        """Build env ``env``'s record from the history and its host lists; close the episode."""
        length = int(self._steps[env])
        first = int(self._begin[env]) - self._history_offset
        arrays: dict[str, np.ndarray] = {}
        if self.kind in ("slots", "keys"):
            steps = self._history[first : first + length]
            for name in steps[0]:
                arrays[name] = torch.stack([s[name] for s in steps])[:, env].cpu().numpy()
        else:
            arrays = dict(
                read_slots=np.zeros((length, 0, 0), dtype=np.int32),
                read_weights=np.zeros((length, 0, 0), dtype=np.float32),
                source_steps=np.zeros((length, 0, 0), dtype=np.int32),
                write_slots=np.zeros((length, 0), dtype=np.int32),
                slots_in_use=np.full(length, np.nan, dtype=np.float32),
            )
        rewards = np.asarray(self._rewards[env], dtype=np.float32)
        frames = np.stack(self._frames[env]) if len(self._frames[env]) == length > 0 else None
        labels = np.array(self._labels[env], dtype=str) if any(self._labels[env]) else None
        metadata = {
            **self.metadata,
            "env_index": int(env),
            "recall_kind": self.kind,
            "top_k": self.top_k,
            "length": length,
            "episode_return": float(np.sum(np.asarray(self._rewards[env], dtype=np.float64))),
            "write_threshold": self.write_threshold,
            **self._sizes,
        }
        for key in ("core", "core_kwargs", "env_id", "seed"):
            metadata.setdefault(key, {} if key == "core_kwargs" else None)
        metadata["recall_stats"] = episode_summary(self.kind, arrays)
        record = EpisodeRecord(
            actions=np.stack([np.asarray(a) for a in self._actions[env]]),
            rewards=rewards,
            read_slots=arrays["read_slots"].astype(np.int32),
            read_weights=arrays["read_weights"].astype(np.float32),
            source_steps=arrays["source_steps"].astype(np.int32),
            write_slots=arrays["write_slots"].astype(np.int32),
            slots_in_use=arrays["slots_in_use"].astype(np.float32),
            frames=frames,
            metadata=metadata,
            write_keys=arrays.get("write_keys"),
            write_values=arrays.get("write_values"),
            labels=labels,
        )
        self._in_episode[env] = False
        self._actions[env], self._rewards[env], self._frames[env] = [], [], []
        self._labels[env] = []
        return record

    def _trim_history(self) -> None:
        """Drop per-step outputs no open episode needs."""
        oldest = self._begin[self._in_episode].min() if self._in_episode.any() else None
        keep_from = self._global_step if oldest is None else int(oldest)
        drop = keep_from - self._history_offset
        if drop > 0:
            del self._history[:drop]
            self._history_offset = keep_from

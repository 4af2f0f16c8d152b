"""End-to-end memory network (Sukhbaatar et al. 2015, "End-To-End Memory Networks") as an
episodic recurrent core.

Each step t embeds the observation x_t into a memory key ``m = A x_t`` and a value
``c = C x_t`` and writes the pair into a ring buffer of N slots, at slot ``t mod N``
(the step counter of the episode is part of the state). The read is then K hops of
attention over the *filled* slots, with the paper's learned temporal encoding indexed
by the age of each slot's content (``t - step at which the slot was written``)::

    u^1     = B x_t + F y_{t-1}
    p^k_i   = softmax_i over filled slots ( u^k . (m_i + T_A[age_i]) )
    o^k     = sum_i p^k_i (c_i + T_C[age_i])
    u^{k+1} = H u^k + o^k
    y_t     = u^{K+1}                                  (output_size = key_size = D)

Design choices (where the paper, written for question answering, is silent):

- Write, then read: the current step is always in memory, so the softmax over filled
  slots never runs over an empty set (no NaN), and the read can compare the present with
  the past.
- Layer-wise (RNN-like) weight tying: every hop reads the same keys and values (a slot is
  written once), and, as the paper recommends for that tying, hops are joined by a learned
  linear map H. H starts as the identity, so an untrained core is the residual
  ``u^{k+1} = u^k + o^k`` with good gradient flow.
- Feedback ``F y_{t-1}`` in the first query (as in the feedback-recurrent memory
  Q-network of Oh et al. 2016): without it the core would forget everything older than N
  steps; with it information can be carried forward step to step. The previous output is
  kept in the state (field ``output``).
- ``read_addressing="gumbel"`` makes the attention of every hop one-hot over the filled
  slots (``addressing.hard_read``): a straight-through Gumbel-softmax sample in training
  mode (temperature: the ``gumbel_tau`` buffer, annealed with
  ``memrl.memory.schedules.set_gumbel_tau``), the argmax in eval mode.

Slot i holds exactly the step recorded in ``write_step[:, i]``, so a recorder maps read
weights over slots straight to past steps.

Einsum letters: b batch (B), n memory slots (N), d embedding size (D = key_size).
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from memrl.checks import check_choice, check_int, check_number
from memrl.memory import addressing
from memrl.memory.base import MemoryCore, Recall, module_device_dtype
from memrl.memory.registry import register_core

READ_ADDRESSING = ("soft", "gumbel")
# Initial scale of the temporal encodings T_A, T_C (the paper initialises every weight from
# N(0, 0.1^2)).
_TEMPORAL_INIT_STD = 0.1


class MemNetState(NamedTuple):
    """State of the MemNet core (all fields batch-first).

    Attributes:
        keys: ``[B, N, D]`` memory keys ``m_i = A x_s`` (without temporal encoding).
        values: ``[B, N, D]`` memory values ``c_i = C x_s`` (without temporal encoding).
        write_step: ``[B, N]`` episode step s at which each slot was last written (float).
        filled: ``[B, N]`` 1.0 for slots written in this episode, 0.0 for empty ones.
        step: ``[B]`` number of steps taken in the episode (the next write goes to slot
            ``step mod N``); a float counter, exact up to 2^24 steps in float32.
        read_weights: ``[B, 1, N]`` attention p of the last hop of the last step.
        write_weights: ``[B, 1, N]`` one-hot of the slot written at the last step.
        output: ``[B, D]`` the last output y_{t-1}, fed back into the next query.
    """

    keys: Tensor
    values: Tensor
    write_step: Tensor
    filled: Tensor
    step: Tensor
    read_weights: Tensor
    write_weights: Tensor
    output: Tensor


@register_core("memnet")
class MemNet(MemoryCore):
    """End-to-end memory network over the episode's last ``memory_slots`` steps.

    Args:
        input_size: F, features per step.
        memory_slots: N, slots of the ring buffer (the last N steps are kept).
        key_size: D, size of keys, values, queries and of the output.
        hops: K, attention hops per step.
        read_addressing: ``"soft"`` (softmax attention) or ``"gumbel"`` (one-hot reads:
            straight-through Gumbel-softmax in training mode, argmax in eval mode).
        gumbel_tau: initial Gumbel-softmax temperature (> 0), kept in the ``gumbel_tau``
            buffer (registered in both addressing modes, so state dicts are interchangeable;
            only used when ``read_addressing="gumbel"``).
    """

    def __init__(
        self,
        input_size: int,
        memory_slots: int = 32,
        key_size: int = 64,
        hops: int = 2,
        read_addressing: Literal["soft", "gumbel"] = "soft",
        gumbel_tau: float = 1.0,
    ) -> None:
        super().__init__()
        input_size = check_int("input_size", input_size, minimum=1)
        memory_slots = check_int("memory_slots", memory_slots, minimum=1)
        key_size = check_int("key_size", key_size, minimum=1)
        hops = check_int("hops", hops, minimum=1)
        read_addressing = check_choice("read_addressing", read_addressing, READ_ADDRESSING)
        gumbel_tau = check_number("gumbel_tau", gumbel_tau, positive=True)
        self.input_size = input_size
        self.output_size = key_size
        self.memory_slots = memory_slots
        self.key_size = key_size
        self.hops = hops
        self.read_addressing = read_addressing

        self.embed_key = nn.Linear(input_size, key_size, bias=False)  # A
        self.embed_value = nn.Linear(input_size, key_size, bias=False)  # C
        self.embed_query = nn.Linear(input_size, key_size, bias=False)  # B
        self.feedback = nn.Linear(key_size, key_size, bias=False)  # F
        self.hop_map = nn.Linear(key_size, key_size, bias=False)  # H
        nn.init.eye_(self.hop_map.weight)
        # T_A, T_C: row a is added to the key / value of a slot whose content is a steps old.
        self.temporal_keys = nn.Parameter(torch.randn(memory_slots, key_size) * _TEMPORAL_INIT_STD)
        self.temporal_values = nn.Parameter(
            torch.randn(memory_slots, key_size) * _TEMPORAL_INIT_STD
        )
        self.register_buffer("gumbel_tau", torch.tensor(gumbel_tau))

    def extra_repr(self) -> str:
        return (
            f"memory_slots={self.memory_slots}, key_size={self.key_size}, hops={self.hops}, "
            f"read_addressing={self.read_addressing!r}"
        )

    def initial_state(
        self, batch_size: int, device: torch.device | str | None = None
    ) -> MemNetState:
        """An empty memory at step 0 (all fields zero)."""
        default_device, dtype = module_device_dtype(self)
        device = device or default_device
        n, d = self.memory_slots, self.key_size

        def zeros(*shape: int) -> Tensor:
            return torch.zeros(batch_size, *shape, device=device, dtype=dtype)

        return MemNetState(
            keys=zeros(n, d),
            values=zeros(n, d),
            write_step=zeros(n),
            filled=zeros(n),
            step=zeros(),
            read_weights=zeros(1, n),
            write_weights=zeros(1, n),
            output=zeros(d),
        )

    def _attend(self, logits: Tensor) -> Tensor:
        """Attention ``[B, N]`` from masked logits ``[B, N]`` (``-inf`` on empty slots)."""
        if self.read_addressing == "soft":
            return torch.softmax(logits, dim=-1)
        return addressing.hard_read(logits, self.gumbel_tau, self.training)

    def step(self, x: Tensor, state: MemNetState) -> tuple[Tensor, MemNetState]:
        """Write ``(A x_t, C x_t)`` at slot ``t mod N``, then read with K hops.

        Args:
            x: ``[B, F]`` observation features x_t.
            state: the state after step t-1.
        Returns:
            ``(y_t [B, D], state after step t)``.
        """
        slots = torch.arange(self.memory_slots, device=x.device, dtype=x.dtype)
        write_slot = torch.remainder(state.step, self.memory_slots)
        write_weights = (slots == write_slot.unsqueeze(-1)).to(x.dtype)  # [B, N] one-hot
        keep = 1.0 - write_weights
        keys = state.keys * keep.unsqueeze(-1) + torch.einsum(
            "bn,bd->bnd", write_weights, self.embed_key(x)
        )
        values = state.values * keep.unsqueeze(-1) + torch.einsum(
            "bn,bd->bnd", write_weights, self.embed_value(x)
        )
        write_step = state.write_step * keep + write_weights * state.step.unsqueeze(-1)
        filled = torch.maximum(state.filled, write_weights)

        # Empty slots have write_step 0 and may look older than N - 1 steps: clipping keeps
        # the index valid (they are masked out of the attention anyway).
        age = (state.step.unsqueeze(-1) - write_step).clamp(0, self.memory_slots - 1).long()
        keys_in_time = keys + F.embedding(age, self.temporal_keys)  # gathers T_A[age]
        values_in_time = values + F.embedding(age, self.temporal_values)  # gathers T_C[age]
        empty = filled < 0.5

        query = self.embed_query(x) + self.feedback(state.output)
        attention = write_weights  # replaced by the first hop (hops >= 1)
        for _ in range(self.hops):
            logits = torch.einsum("bd,bnd->bn", query, keys_in_time)
            attention = self._attend(logits.masked_fill(empty, -math.inf))
            read = torch.einsum("bn,bnd->bd", attention, values_in_time)
            query = self.hop_map(query) + read

        new_state = MemNetState(
            keys=keys,
            values=values,
            write_step=write_step,
            filled=filled,
            step=state.step + 1.0,
            read_weights=attention.unsqueeze(1),
            write_weights=write_weights.unsqueeze(1),
            output=query,
        )
        return query, new_state

    def read_trace(self, state: MemNetState) -> Recall:
        """The last hop's attention and the one-hot write of the step that produced ``state``.

        Slot i of both maps to episode step ``state.write_step[:, i]``.
        """
        return Recall(read_weights=state.read_weights, write_weights=state.write_weights)

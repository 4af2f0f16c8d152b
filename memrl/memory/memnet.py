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
  kept in the state (field ``output``). ``feedback=False`` drops the term (and F): then
  no step depends on an earlier step's output, and a whole sequence is read at once.
- ``read_addressing="gumbel"`` makes the attention of every hop one-hot over the filled
  slots (``addressing.hard_read``): a straight-through Gumbel-softmax sample in training
  mode (temperature: the ``gumbel_tau`` buffer, annealed with
  ``memrl.memory.schedules.set_gumbel_tau``), the argmax in eval mode.

Slot i holds exactly the step recorded in ``write_step[:, i]``, so a recorder maps read
weights over slots straight to past steps.

The core is in sequence form. Which past step each slot holds at each step of a sequence
depends only on the step counter and the episode starts, never on the inputs: seen in age
order, the memory of step t is the window of the last N entries of the state's slots
(oldest first) followed by the sequence's own steps. An unroll lays that out once
(``_layout``: which window positions are filled), builds every step's keys and values
with their temporal encodings at once (a window view plus T_A, T_C by position), and
only then reads. With feedback the reads run step by step (one hand-differentiated
autograd node per step for soft reads, ``_SoftRead``); without, all steps are read in
one go as a batch of ``T x B`` independent queries. ``step`` is the unroll over one step.
The unroll finds the state's entries by its step counter (slot i holds episode step
``step - 1 - ((step - 1 - i) mod N)``), which every state this core returns satisfies.

Shapes: T steps, B batch, N memory slots, D embedding size (= key_size).
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import torch
from torch import Tensor, nn

from memrl.checks import check_choice, check_int, check_number
from memrl.memory import addressing
from memrl.memory.base import MemoryCore, Recall, module_device_dtype, steps_with_starts
from memrl.memory.registry import register_core

READ_ADDRESSING = ("soft", "gumbel")
# Initial scale of the temporal encodings T_A, T_C (the paper initialises every weight from
# N(0, 0.1^2)).
_TEMPORAL_INIT_STD = 0.1
# Gathered keys and values take T x B x N x 2D numbers: longer sequences are unrolled in
# chunks of at most this many numbers (64 MiB in float32).
_MAX_LAYOUT_NUMBERS = 2**24


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


class _Layout(NamedTuple):
    """The ring buffer of one unrolled chunk of T steps without its data (``MemNet._layout``).

    The memory is seen in age order: the entries ``[B, N + T]`` are the state's N slots
    oldest first, then the chunk's T steps, and step t reads the window of entries
    ``t + 1 .. t + N`` (window position j has age ``N - 1 - j``). Slot i of the state
    after the last step is window position ``last_position[:, i]`` of the last window.

    Attributes:
        state_slots: ``[B, N]`` the state's slot at each of the first N entries (long).
        mask: ``[B, T, 1, N]`` 0 where the window position holds a step of the current
            episode, ``-inf`` where it is empty (earlier episode or never written).
        last_position: ``[B, N]`` window position of each slot after the last step (long).
        write_step, filled, step, write_weights: the state's fields after the last step.
    """

    state_slots: Tensor
    mask: Tensor
    last_position: Tensor
    write_step: Tensor
    filled: Tensor
    step: Tensor
    write_weights: Tensor


class _SoftRead(torch.autograd.Function):
    """The read of one step with soft attention (``MemNet._read``) as one autograd node.

    Forward: ``u^1 = q + y_{t-1} F^T`` (without feedback ``u^1 = q``), then K hops.
    The backward is derived by hand: per hop, from ``g = dL/du^{k+1}``,
    ``dL/dp = g V^T``, ``dL/dlogits = p * (dL/dp - <p, dL/dp>)``,
    ``dL/du^k = g H + dL/dlogits K``. The gradients of H, the keys and the values sum
    over the hops and are taken once, as batched products over all K hops. Autograd would
    run some 60 small operations per step here (views and gradient accumulations
    included); this runs about 20.
    """

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        query: Tensor,
        output: Tensor | None,
        feedback_weight: Tensor | None,
        keys_t: Tensor,
        values: Tensor,
        mask: Tensor,
        hop_weight: Tensor,
        hops: int,
    ) -> tuple[Tensor, Tensor]:
        batch = query.shape[0]
        if output is not None:
            query = torch.baddbmm(query, output, feedback_weight.expand(batch, -1, -1))
        hop_batched = hop_weight.expand(batch, -1, -1)
        inputs, attentions = [], []
        for _ in range(hops):
            inputs.append(query)
            attention = torch.softmax(torch.baddbmm(mask, query, keys_t), dim=-1)
            attentions.append(attention)
            query = torch.baddbmm(torch.bmm(attention, values), query, hop_batched)
        # [M, K, D] and [M, K, N]: the hops side by side for the batched weight gradients.
        ctx.save_for_backward(
            torch.cat(inputs, dim=1),
            torch.cat(attentions, dim=1),
            keys_t,
            values,
            hop_weight,
            output,
            feedback_weight,
        )
        ctx.set_materialize_grads(False)
        return query, attention

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(
        ctx: torch.autograd.function.FunctionCtx,
        grad_query: Tensor | None,
        grad_attention: Tensor | None,
    ) -> tuple[Tensor | None, ...]:
        inputs, attentions, keys_t, values, hop_weight, output, feedback_weight = ctx.saved_tensors
        batch, hops = attentions.shape[:2]
        keys, values_t = keys_t.transpose(1, 2), values.transpose(1, 2)
        hop_t = hop_weight.t().expand(batch, -1, -1)
        grad = torch.zeros_like(inputs[:, :1]) if grad_query is None else grad_query
        grads_query, grads_logits = [None] * hops, [None] * hops
        for k in reversed(range(hops)):
            attention = attentions[:, k : k + 1]  # [M, 1, N]
            grads_query[k] = grad
            grad_attention_k = torch.bmm(grad, values_t)
            if k == hops - 1 and grad_attention is not None:
                grad_attention_k = grad_attention_k + grad_attention
            grad_logits = torch._softmax_backward_data(
                grad_attention_k, attention, -1, attention.dtype
            )
            grads_logits[k] = grad_logits
            grad = torch.baddbmm(torch.bmm(grad, hop_t), grad_logits, keys)
        grads_query = torch.cat(grads_query, dim=1)  # [M, K, D]
        grads_logits = torch.cat(grads_logits, dim=1)  # [M, K, N]
        grad_keys = torch.bmm(inputs.transpose(1, 2), grads_logits)  # [M, D, N]
        grad_values = torch.bmm(attentions.transpose(1, 2), grads_query)  # [M, N, D]
        grad_hop = torch.mm(inputs.flatten(0, 1).t(), grads_query.flatten(0, 1))
        grad_output = grad_feedback = None
        if output is not None:
            grad_output = torch.bmm(grad, feedback_weight.t().expand(batch, -1, -1))
            grad_feedback = torch.mm(output.flatten(0, 1).t(), grad.flatten(0, 1))
        return grad, grad_output, grad_feedback, grad_keys, grad_values, None, grad_hop, None


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
        feedback: add ``F y_{t-1}`` to the first query (default). ``False``: no F, each
            query depends on its own input only, and an unroll reads all steps at once
            (what each step sees is the same as stepping: see ``_layout``).
    """

    def __init__(
        self,
        input_size: int,
        memory_slots: int = 32,
        key_size: int = 64,
        hops: int = 2,
        read_addressing: Literal["soft", "gumbel"] = "soft",
        gumbel_tau: float = 1.0,
        feedback: bool = True,
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
        # F; None without feedback (the flag is ``feedback is not None``).
        self.feedback = nn.Linear(key_size, key_size, bias=False) if feedback else None
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
            f"read_addressing={self.read_addressing!r}, feedback={self.feedback is not None}"
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

    def unroll(
        self,
        x: Tensor,
        state: MemNetState,
        episode_starts: Tensor | None = None,
        with_loss: bool = False,
    ) -> tuple[Tensor, MemNetState, None]:
        """Write ``(A x_t, C x_t)`` at slot ``t mod N``, then read with K hops, for every t.

        Args:
            x: ``[T, B, F]`` inputs.
            state: the state before the first step.
            episode_starts: ``[T, B]``, 1 where an episode begins (the memory is emptied
                and the fed-back output zeroed before that step), or ``None``.
            with_loss: ignored (MemNet has no auxiliary loss).
        Returns:
            ``(y [T, B, D], state after the last step, None)``.
        """
        self.check_sequence(x, episode_starts)
        steps, batch = x.shape[:2]
        per_step = batch * self.memory_slots * 2 * self.key_size
        chunk = max(1, _MAX_LAYOUT_NUMBERS // per_step)
        if steps <= chunk:
            y, state = self._unroll_chunk(x, state, episode_starts)
            return y, state, None
        outputs = []
        for start in range(0, steps, chunk):
            starts = None if episode_starts is None else episode_starts[start : start + chunk]
            y, state = self._unroll_chunk(x[start : start + chunk], state, starts)
            outputs.append(y)
        return torch.cat(outputs), state, None

    def _unroll_chunk(
        self, x: Tensor, state: MemNetState, episode_starts: Tensor | None
    ) -> tuple[Tensor, MemNetState]:
        """``unroll`` over ``x [T, B, F]`` with the memory of all T steps laid out at once."""
        steps, batch = x.shape[:2]
        n, d = self.memory_slots, self.key_size
        layout = self._layout(state, episode_starts, steps)
        # One product for all three embeddings (A, C and B) of all steps: [B, T, 3D].
        weight = torch.cat(
            [self.embed_key.weight, self.embed_value.weight, self.embed_query.weight]
        )
        embedded = torch.matmul(x.transpose(0, 1), weight.t())
        queries = embedded[..., 2 * d :]
        state_entries = torch.cat([state.keys, state.values], dim=-1).gather(
            1, layout.state_slots.unsqueeze(-1).expand(batch, n, 2 * d)
        )
        entries = torch.cat([state_entries, embedded[..., : 2 * d]], dim=1)  # [B, N + T, 2D]
        # Windows of N entries (a view) plus T_A | T_C by age: [B, T, 2D, N], i.e. the
        # keys transposed on top of the values transposed.
        temporal = torch.cat([self.temporal_keys, self.temporal_values], dim=-1).flip(0).t()
        in_time = entries.unfold(1, n, 1)[:, 1:] + temporal
        keys_t, values = in_time[:, :, :d], in_time[:, :, d:].transpose(-1, -2)
        hop_weight = self.hop_map.weight.t()
        read = self.compiled("_read")

        if self.feedback is None:
            y, attention = read(
                queries.flatten(0, 1).unsqueeze(1),
                None,
                None,
                keys_t.flatten(0, 1),
                values.flatten(0, 1),
                layout.mask.flatten(0, 1),
                hop_weight,
            )
            y = y.view(batch, steps, d).transpose(0, 1)
            attention = attention.view(batch, steps, 1, n)[:, -1]
        else:
            resets = steps_with_starts(episode_starts, steps)
            feedback_weight = self.feedback.weight.t()
            output = state.output.unsqueeze(1)
            outputs = []
            # unbind, not [t]: one backward node per tensor instead of one per step.
            per_step = zip(
                queries.unsqueeze(2).unbind(1),
                keys_t.unbind(1),
                values.unbind(1),
                layout.mask.unbind(1),
                strict=True,
            )
            for t, (query, step_keys, step_values, mask) in enumerate(per_step):
                if resets[t]:
                    output = output.masked_fill(episode_starts[t].bool().view(-1, 1, 1), 0.0)
                output, attention = read(
                    query, output, feedback_weight, step_keys, step_values, mask, hop_weight
                )
                outputs.append(output)
            y = torch.cat(outputs, dim=1).transpose(0, 1)

        # Slots that are empty after the last step hold zeros, as after a reset.
        last = entries.gather(
            1, (layout.last_position + steps).unsqueeze(-1).expand(batch, n, 2 * d)
        ) * layout.filled.unsqueeze(-1)
        return y, MemNetState(
            keys=last[..., :d],
            values=last[..., d:],
            write_step=layout.write_step,
            filled=layout.filled,
            step=layout.step,
            read_weights=attention.gather(-1, layout.last_position.unsqueeze(1)),
            write_weights=layout.write_weights,
            output=y[-1],
        )

    def _read(
        self,
        query: Tensor,
        output: Tensor | None,
        feedback_weight: Tensor | None,
        keys_t: Tensor,
        values: Tensor,
        mask: Tensor,
        hop_weight: Tensor,
    ) -> tuple[Tensor, Tensor]:
        """The first query, then K hops of attention, for a batch of queries over their slots.

        Args:
            query: ``[M, 1, D]`` the queries' input part ``B x`` (M: batch, or batch x steps).
            output: ``[M, 1, D]`` the previous output fed back, or ``None`` (no feedback).
            feedback_weight: ``[D, D]`` F transposed, or ``None``.
            keys_t: ``[M, D, N]`` keys with temporal encoding, transposed.
            values: ``[M, N, D]`` values with temporal encoding.
            mask: ``[M, 1, N]`` 0 on filled slots, ``-inf`` on empty ones.
            hop_weight: ``[D, D]`` H transposed.
        Returns:
            ``(u^{K+1} [M, 1, D], attention of the last hop [M, 1, N])``.
        """
        if self.read_addressing == "soft":
            return _SoftRead.apply(
                query, output, feedback_weight, keys_t, values, mask, hop_weight, self.hops
            )
        batch = query.shape[0]
        if output is not None:
            query = torch.baddbmm(query, output, feedback_weight.expand(batch, -1, -1))
        hop_batched = hop_weight.expand(batch, -1, -1)
        attention = mask  # replaced by the first hop (hops >= 1)
        for _ in range(self.hops):
            attention = addressing.hard_read(
                torch.baddbmm(mask, query, keys_t), self.gumbel_tau, self.training
            )
            query = torch.baddbmm(torch.bmm(attention, values), query, hop_batched)
        return query, attention

    @torch.no_grad()
    def _layout(self, state: MemNetState, episode_starts: Tensor | None, steps: int) -> _Layout:
        """The ring buffer of ``steps`` steps from ``state``, in age order (see ``_Layout``).

        Step t of element b has the episode step counter c (the state's ``step`` plus t,
        or t minus the chunk step of the element's last episode start) and writes slot
        ``c mod N``; slot i then holds episode step ``c - ((c - i) mod N)``. So the entry
        of age a at step t is chunk step ``t - a`` if that is in the chunk, else the
        state's entry of age ``a - t`` (the state's slot ``(step - a + t) mod N``). It is
        visible when it belongs to the episode of step t and is filled: a chunk step
        after the element's last episode start, or, while no episode has started in the
        chunk, a chunk step or a filled slot of the state.
        """
        n = self.memory_slots
        device, dtype = state.step.device, state.step.dtype
        time = torch.arange(steps, device=device, dtype=dtype).unsqueeze(-1)  # [T, 1]
        positions = torch.arange(n, device=device, dtype=dtype)  # window position j
        state_slots = torch.remainder(state.step.unsqueeze(-1) + positions, n).long()  # [B, N]
        # Window position j at step t is entry t + 1 + j, chunk step t + 1 + j - N.
        chunk_step = (time + 1.0 - n + positions).unsqueeze(1)  # [T, 1, N]
        state_filled = state.filled.gather(1, state_slots) > 0.5  # [B, N] by entry
        entry = (time + 1.0 + positions).clamp(max=n - 1).long().unsqueeze(1)  # [T, 1, N]
        from_state = (chunk_step < 0) & state_filled.expand(steps, -1, -1).gather(
            2, entry.expand(-1, state_filled.shape[0], -1)
        )
        if episode_starts is None:
            counter = state.step + time  # [T, B]
            visible = (chunk_step >= 0) | from_state
        else:
            marks = torch.where(episode_starts.bool(), time, -1.0)
            last_start = marks.cummax(dim=0).values  # [T, B], -1 before any start
            same_episode = last_start < 0  # still the episode the state belongs to
            counter = torch.where(same_episode, state.step + time, time - last_start)
            first_step = last_start.clamp(min=0.0).unsqueeze(-1)
            visible = (chunk_step >= first_step) | (from_state & same_episode.unsqueeze(-1))
        mask = torch.zeros_like(visible, dtype=dtype).masked_fill(~visible, -math.inf)

        last_counter = counter[-1]  # [B], the episode step written by the last step
        slots = torch.arange(n, device=device, dtype=dtype)
        age = torch.remainder(last_counter.unsqueeze(-1) - slots, n)  # [B, N] by slot
        last_position = (n - 1 - age).long()
        filled = visible[-1].gather(1, last_position).to(dtype)
        return _Layout(
            state_slots=state_slots,
            mask=mask.transpose(0, 1).unsqueeze(2),
            last_position=last_position,
            write_step=(last_counter.unsqueeze(-1) - age) * filled,
            filled=filled,
            step=last_counter + 1.0,
            write_weights=(age == 0).to(dtype).unsqueeze(1),
        )

    def read_trace(self, state: MemNetState) -> Recall:
        """The last hop's attention and the one-hot write of the step that produced ``state``.

        Slot i of both maps to episode step ``state.write_step[:, i]``.
        """
        return Recall(read_weights=state.read_weights, write_weights=state.write_weights)

"""Neural Turing Machine core (Graves et al. 2014, "Neural Turing Machines").

A controller (LSTM cell by default, or a one-layer tanh MLP) reads ``[x_t; r_{t-1}]`` and
emits the parameters of every head through one linear layer. Each head addresses the
N x W memory with the paper's pipeline (``memrl.memory.addressing``)::

    content (key k, strength beta) -> interpolation (gate g) -> shift (kernel s)
    -> sharpening (gamma)

Order within one step t (the same for every step, documented because NTM variants differ):

1. controller: ``h_t = controller([x_t; r_{t-1}], h_{t-1})``; head parameters from h_t;
2. write: the write heads address M_{t-1} (previous weighting w^w_{t-1}), then all write
   heads erase and add at once: ``M_t = M_{t-1} * prod_h (1 - w_h e_h^T) + sum_h w_h a_h^T``;
3. read: the read heads address the *updated* memory M_t (previous weighting
   w^r_{t-1}) and read ``r_t = w^r_t M_t``, so a read can see this step's write;
4. output: ``y_t = [h_t; r_t]`` (the policy heads do the projection).

With ``read_addressing="gumbel"`` the read weighting after sharpening is made one-hot
(``addressing.hard_read``): a straight-through Gumbel-softmax sample at temperature
``gumbel_tau`` in training mode, the argmax in eval mode. The one-hot weighting is used
for the read and carried as w^r_t to the next step.

Episode start: the memory is the constant ``memory_init`` (fastest training in Collier &
Beel 2018, "Implementing Neural Turing Machines"); the initial read and write weightings
(softmax of learned logits, initially focused on one slot per head to break the symmetry
of a constant memory) and the initial read vectors are learned; the controller starts at 0.

Shape legend (einsum letters):
    b batch (B)    n memory slots (N)    w slot size (W)    r read heads (R)
    C controller size    S = 2 * shift_range + 1 shift kernel size    Wh write heads
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from memrl.checks import check_choice, check_int, check_number
from memrl.memory import addressing, lstm_kernels
from memrl.memory.base import (
    MemoryCore,
    Recall,
    module_device_dtype,
    unroll_steps,
)
from memrl.memory.dnc_kernels import content_weights
from memrl.memory.ntm_kernels import circular_shift, erase_and_add
from memrl.memory.registry import register_core

CONTROLLERS = ("lstm", "mlp")
READ_ADDRESSINGS = ("soft", "gumbel")


class NTMState(NamedTuple):
    """State of the NTM core after step t (symbols of Graves et al. 2014).

    Attributes:
        h: ``[B, C]`` controller output h_t (the LSTM hidden state, or the MLP output).
        c: ``[B, C]`` LSTM cell state (the MLP controller carries zeros here, unchanged).
        memory: ``[B, N, W]`` memory matrix M_t.
        read_weights: ``[B, R, N]`` read weightings w^r_t (one-hot with Gumbel reads).
        write_weights: ``[B, Wh, N]`` write weightings w^w_t.
        reads: ``[B, R, W]`` read vectors r_t.
    """

    h: Tensor
    c: Tensor
    memory: Tensor
    read_weights: Tensor
    write_weights: Tensor
    reads: Tensor


class _HeadParameters(NamedTuple):
    """Addressing parameters of a group of H heads, already squashed to their ranges.

    Attributes:
        key: ``[B, H, W]`` key k.
        strength: ``[B, H]`` key strength beta > 0.
        gate: ``[B, H]`` interpolation gate g in (0, 1).
        shift: ``[B, H, S]`` shift kernel s (softmax; index j is the shift j - S // 2).
        sharpening: ``[B, H]`` sharpening exponent gamma >= 1.
    """

    key: Tensor
    strength: Tensor
    gate: Tensor
    shift: Tensor
    sharpening: Tensor


# Weight of its start slot in each head's initial weighting.
_INITIAL_FOCUS = 0.9


def _focused_logits(heads: int, slots: int) -> Tensor:
    """Initial weighting logits ``[H, N]``: head h puts 0.9 of its weight on slot h * N // H.

    Uniform initial weightings would never be broken: the memory starts constant, so every
    content weighting is uniform, and interpolation, circular shift and sharpening all map
    a uniform weighting to itself. Every write would then add the same vector to every row
    and the memory could hold nothing. A focused start (like a tape head at its first cell)
    breaks that symmetry; heads of one kind start spread over the memory.
    """
    logits = torch.zeros(heads, slots)
    if slots > 1:
        focus = math.log(_INITIAL_FOCUS / (1.0 - _INITIAL_FOCUS) * (slots - 1))
        starts = torch.arange(heads) * slots // heads
        logits[torch.arange(heads), starts] = focus
    return logits


@register_core("ntm")
class NTM(MemoryCore):
    """Neural Turing Machine with read and write heads over an N x W memory.

    Args:
        input_size: F, features of x_t.
        memory_slots: N, number of memory rows.
        slot_size: W, width of each row.
        read_heads: R.
        write_heads: Wh.
        controller_size: C, hidden size of the controller.
        controller: ``"lstm"`` (an LSTM cell) or ``"mlp"`` (one tanh layer, no recurrence
            except through the memory and the read vectors).
        shift_range: largest shift of the location addressing; the kernel has
            S = 2 * shift_range + 1 entries (S <= N).
        memory_init: the constant every memory cell starts each episode with (a small
            constant trained fastest in Collier & Beel 2018).
        read_addressing: ``"soft"`` (the paper's weightings) or ``"gumbel"`` (one-hot reads:
            straight-through Gumbel-softmax in training, argmax in eval).
        gumbel_tau: initial Gumbel-softmax temperature, kept in the buffer ``gumbel_tau``
            (saved with the model; an annealing callback does ``core.gumbel_tau.fill_(t)``).

    ``output_size`` is ``C + R * W``: ``y_t = [h_t; r_t]``.

    The linear layer ``head_parameters`` maps h_t to the raw head parameters, read heads
    first, then write heads, each head contiguous: key k (W), strength beta, gate g,
    sharpening gamma (1 each), shift kernel s (S); a write head then has erase e (W) and
    add a (W). Squashing: beta = softplus, g = sigmoid, gamma = 1 + softplus,
    s = softmax, e = sigmoid; k and a are used as they are.
    """

    def __init__(
        self,
        input_size: int,
        memory_slots: int = 32,
        slot_size: int = 16,
        read_heads: int = 1,
        write_heads: int = 1,
        controller_size: int = 128,
        controller: str = "lstm",
        shift_range: int = 1,
        memory_init: float = 1e-6,
        read_addressing: str = "soft",
        gumbel_tau: float = 1.0,
    ) -> None:
        super().__init__()
        input_size = check_int("input_size", input_size, minimum=1)
        memory_slots = check_int("memory_slots", memory_slots, minimum=1)
        slot_size = check_int("slot_size", slot_size, minimum=1)
        read_heads = check_int("read_heads", read_heads, minimum=1)
        write_heads = check_int("write_heads", write_heads, minimum=1)
        controller_size = check_int("controller_size", controller_size, minimum=1)
        shift_range = check_int("shift_range", shift_range, minimum=0)
        if 2 * shift_range + 1 > memory_slots:
            raise ValueError(
                f"shift_range must satisfy 2 * shift_range + 1 <= memory_slots "
                f"(= {memory_slots}), got {shift_range}"
            )
        controller = check_choice("controller", controller, CONTROLLERS)
        read_addressing = check_choice("read_addressing", read_addressing, READ_ADDRESSINGS)
        memory_init = check_number("memory_init", memory_init)
        gumbel_tau = check_number("gumbel_tau", gumbel_tau, positive=True)

        self.input_size = input_size
        self.memory_slots = memory_slots
        self.slot_size = slot_size
        self.read_heads = read_heads
        self.write_heads = write_heads
        self.controller_size = controller_size
        self.controller_kind = controller
        self.shift_range = shift_range
        self.memory_init = memory_init
        self.read_addressing = read_addressing
        self.output_size = controller_size + read_heads * slot_size

        controller_input = input_size + read_heads * slot_size
        if controller == "lstm":
            self.controller: nn.Module = nn.LSTMCell(controller_input, controller_size)
        else:
            self.controller = nn.Linear(controller_input, controller_size)

        shift_size = 2 * shift_range + 1
        # Per head: key (W), strength, gate, sharpening (1 each), shift kernel (S);
        # write heads add erase and add vectors (W each).
        self._addressing_size = slot_size + 3 + shift_size
        self._write_head_size = self._addressing_size + 2 * slot_size
        self.head_parameters = nn.Linear(
            controller_size,
            read_heads * self._addressing_size + write_heads * self._write_head_size,
        )

        # Learned initial values: focused weightings (see _focused_logits) and zero reads.
        self.initial_read_logits = nn.Parameter(_focused_logits(read_heads, memory_slots))
        self.initial_write_logits = nn.Parameter(_focused_logits(write_heads, memory_slots))
        self.initial_reads = nn.Parameter(torch.zeros(read_heads, slot_size))
        self.register_buffer("gumbel_tau", torch.tensor(gumbel_tau))

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> NTMState:
        """Zero controller state, constant memory, learned initial weightings and reads."""
        default_device, dtype = module_device_dtype(self)
        device = torch.device(device) if device is not None else default_device
        zeros = torch.zeros(batch_size, self.controller_size, device=device, dtype=dtype)
        memory = torch.full(
            (batch_size, self.memory_slots, self.slot_size),
            self.memory_init,
            device=device,
            dtype=dtype,
        )
        read_weights = torch.softmax(self.initial_read_logits.to(device), dim=-1)
        write_weights = torch.softmax(self.initial_write_logits.to(device), dim=-1)
        return NTMState(
            h=zeros,
            c=zeros,
            memory=memory,
            read_weights=read_weights.expand(batch_size, -1, -1),
            write_weights=write_weights.expand(batch_size, -1, -1),
            reads=self.initial_reads.to(device).expand(batch_size, -1, -1),
        )

    def step(self, x: Tensor, state: NTMState) -> tuple[Tensor, NTMState]:
        """One NTM step (order in the module docstring).

        Args:
            x: ``[B, F]`` input x_t.
            state: the state after step t - 1.
        Returns:
            ``y_t [B, C + R * W]`` and the state after step t.
        """
        return self._step(self._input_part(x), self._recurrent_weight(), state)

    def unroll(
        self,
        x: Tensor,
        state: NTMState,
        episode_starts: Tensor | None = None,
        with_loss: bool = False,
    ) -> tuple[Tensor, NTMState, None]:
        """``MemoryCore.unroll`` with the controller's input projection of all T steps as
        one matrix product and its recurrent weight assembled once (the NTM has no
        auxiliary loss)."""
        self.check_sequence(x, episode_starts)
        recurrent_weight = self._recurrent_weight()
        step = self.compiled("_step")
        y, state = unroll_steps(
            lambda input_part, state: step(input_part, recurrent_weight, state),
            # unbind, not [t]: one backward node for all steps' slices.
            self._input_part(x).unbind(0),
            state,
            episode_starts,
            self.initial_reset(x.shape[1], x.device),
        )
        return y, state, None

    def _input_part(self, x: Tensor) -> Tensor:
        """The controller's pre-activations from ``x [..., F]`` alone, biases included:
        ``[..., 4 C]`` (LSTM gates) or ``[..., C]`` (MLP)."""
        if self.controller_kind == "lstm":
            return lstm_kernels.input_gates(self.controller, x)
        return F.linear(x, self.controller.weight[:, : self.input_size], self.controller.bias)

    def _recurrent_weight(self) -> Tensor:
        """The controller weights applied to ``[r_{t-1}; h_{t-1}]`` (LSTM) or to ``r_{t-1}``
        (MLP)."""
        if self.controller_kind == "lstm":
            return lstm_kernels.recurrent_weight(self.controller, self.input_size)
        return self.controller.weight[:, self.input_size :]

    def _step(
        self, input_part: Tensor, recurrent_weight: Tensor, state: NTMState
    ) -> tuple[Tensor, NTMState]:
        """The step of ``step`` after the controller's input projection."""
        batch = input_part.shape[0]
        reads = state.reads.reshape(batch, -1)
        if self.controller_kind == "lstm":
            recurrent_input = torch.cat([reads, state.h], dim=-1)
            h, c = lstm_kernels.lstm_step(input_part, recurrent_input, recurrent_weight, state.c)
        else:
            h, c = torch.tanh(torch.addmm(input_part, reads, recurrent_weight.t())), state.c

        read_size = self.read_heads * self._addressing_size
        parameters = self.head_parameters(h)
        read_raw = parameters[:, :read_size].reshape(batch, self.read_heads, -1)
        write_raw = parameters[:, read_size:].reshape(batch, self.write_heads, -1)

        write_addressing_raw, erase_raw, add = write_raw.split(
            [self._addressing_size, self.slot_size, self.slot_size], dim=-1
        )
        write_weights = self._address(
            state.memory, self._squash(write_addressing_raw), state.write_weights
        )
        memory = erase_and_add(state.memory, write_weights, torch.sigmoid(erase_raw), add)

        read_weights = self._address(memory, self._squash(read_raw), state.read_weights)
        if self.read_addressing == "gumbel":
            logits = addressing.safe_log(read_weights)
            read_weights = addressing.hard_read(logits, self.gumbel_tau, self.training)
        reads = torch.bmm(read_weights, memory)

        y = torch.cat([h, reads.reshape(batch, -1)], dim=-1)
        return y, NTMState(h, c, memory, read_weights, write_weights, reads)

    def read_trace(self, state: NTMState) -> Recall:
        """Read and write weightings of the step that produced ``state``."""
        return Recall(read_weights=state.read_weights, write_weights=state.write_weights)

    def _squash(self, raw: Tensor) -> _HeadParameters:
        """Map raw controller outputs ``[B, H, W + 3 + S]`` to the heads' parameter ranges."""
        key, strength, gate, sharpening, shift = raw.split(
            [self.slot_size, 1, 1, 1, 2 * self.shift_range + 1], dim=-1
        )
        return _HeadParameters(
            key=key,
            strength=F.softplus(strength.squeeze(-1)),
            gate=torch.sigmoid(gate.squeeze(-1)),
            shift=torch.softmax(shift, dim=-1),
            sharpening=1.0 + F.softplus(sharpening.squeeze(-1)),
        )

    @staticmethod
    def _address(memory: Tensor, head: _HeadParameters, previous: Tensor) -> Tensor:
        """NTM addressing of H heads: M ``[B, N, W]`` and w_{t-1} ``[B, H, N]`` -> w_t."""
        content = content_weights(memory, head.key, head.strength)
        gated = torch.lerp(previous, content, head.gate.unsqueeze(-1))
        shifted = circular_shift(gated, head.shift)
        return addressing.sharpen(shifted, head.sharpening)

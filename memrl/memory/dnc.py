"""Differentiable Neural Computer core (Graves et al. 2016, "Hybrid computing using a
neural network with dynamic external memory"), after DeepMind's ``dnc`` (access.py,
addressing.py), batch-first.

An LSTM cell controller reads ``[x_t; r_{t-1}]``; one linear layer maps its output h_t to
the interface vector xi_t (paper, Methods "Interface parameters"):

    read keys k^r (R x W), read strengths beta^r (R, oneplus), write keys k^w (Wh x W),
    write strengths beta^w (Wh, oneplus), erase vectors e (Wh x W, sigmoid), write
    vectors v (Wh x W), free gates f (R, sigmoid), allocation gates g^a (Wh, sigmoid),
    write gates g^w (Wh, sigmoid), read modes pi (R x (1 + 2 Wh), softmax: Wh backward,
    Wh forward, 1 content; the order of DeepMind's code).

Order within one step t (DeepMind's ``MemoryAccess._build``):

1. usage ``u_t`` from u_{t-1}, the previous write weightings (gradient stopped, as in
   DeepMind's ``Freeness``), the free gates and the previous read weightings;
2. write weightings ``w^w_t = g^w (g^a a_t + (1 - g^a) c^w_t)``, with content weights c^w
   on M_{t-1}; several write heads allocate one after the other, each head's allocation
   raising the usage seen by the next (``u += (1 - u) g^w g^a a``), so two heads do not
   pick the same free slot;
3. erase then add: ``M_t = M_{t-1} * prod_h (1 - w^w_h e_h^T) + sum_h w^w_h v_h^T``;
4. temporal links ``L_t`` from L_{t-1}, p_{t-1} and w^w_t, then precedence p_t;
5. read weightings ``w^r_t = sum_h pi^b_h b_h + sum_h pi^f_h f_h + pi^c c^r_t`` with
   ``f = L_t w^r_{t-1}``, ``b = L_t^T w^r_{t-1}`` and content weights c^r on M_t;
6. reads ``r_t = w^r_t M_t``; output ``y_t = [h_t; r_t]``.

With ``read_addressing="gumbel"`` the read weighting of step 5 is made one-hot
(``addressing.hard_read``): a straight-through Gumbel-softmax sample at temperature
``gumbel_tau`` in training mode, the argmax in eval mode. The one-hot weighting is used
for the read and carried as w^r_t to the next step.

Speed. Per step the work is a few dozen small tensor operations, so on CPU the cost is
mostly per-operation overhead and memory traffic, not arithmetic. Hence: the interface is
laid out so that each squashing function runs once; the two hot spots, content
addressing (twice per step) and the temporal links with both directional reads (the only
``[B, Wh, N, N]`` tensors), are ``autograd.Function``s with hand-written backward passes
(``memrl.memory.dnc_kernels``); the read modes are folded into w^r_{t-1} before the link
products, which are linear in it; batched matmuls put their small dimension in the output
rows (MKL is several times slower on ``[N, small]`` outputs); and ``unroll`` computes the
input part of the controller gates for all T steps in one product.

Shape legend:
    B batch    N memory slots    W slot size    R read heads    Wh write heads
    C controller size    I interface size
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from memrl.checks import check_choice, check_int, check_number
from memrl.memory import addressing, lstm_kernels
from memrl.memory.access_kernels import DNCRead, DNCWrite, SplitInterface
from memrl.memory.base import (
    MemoryCore,
    Recall,
    module_device_dtype,
    unroll_steps,
)
from memrl.memory.dnc_kernels import apply, content_weights, temporal_linkage
from memrl.memory.registry import register_core
from memrl.memory.sparse_link import (
    SparseLink,
    SparsePrecedence,
    initial_sparse_link,
    sparse_temporal_linkage,
)

READ_ADDRESSINGS = ("soft", "gumbel")


class DNCState(NamedTuple):
    """State of the DNC core after step t (symbols of Graves et al. 2016).

    Attributes:
        h: ``[B, C]`` controller output h_t (LSTM hidden state).
        c: ``[B, C]`` LSTM cell state.
        memory: ``[B, N, W]`` memory matrix M_t.
        usage: ``[B, N]`` usage u_t.
        link: ``[B, Wh, N, N]`` temporal link matrices L_t (one per write head),
            ``L[i, j]`` ~ slot i was written right after slot j.
        precedence: ``[B, Wh, N]`` precedence weightings p_t.
            With ``link_top_k=K`` both are sparse (``SparseLink``: top-K indices and values
            per row and column, ``[B, Wh, N, K]``; ``SparsePrecedence``: ``[B, Wh, K]``).
        read_weights: ``[B, R, N]`` read weightings w^r_t (one-hot with Gumbel reads).
        write_weights: ``[B, Wh, N]`` write weightings w^w_t.
        reads: ``[B, R, W]`` read vectors r_t.
    """

    h: Tensor
    c: Tensor
    memory: Tensor
    usage: Tensor
    link: Tensor | SparseLink
    precedence: Tensor | SparsePrecedence
    read_weights: Tensor
    write_weights: Tensor
    reads: Tensor


class _Interface(NamedTuple):
    """The interface vector xi_t split and squashed to its ranges.

    Attributes:
        read_keys: ``[B, R, W]`` k^r.
        read_strengths: ``[B, R]`` beta^r >= 1.
        write_keys: ``[B, Wh, W]`` k^w.
        write_strengths: ``[B, Wh]`` beta^w >= 1.
        erase: ``[B, Wh, W]`` erase vectors e in (0, 1).
        write_vectors: ``[B, Wh, W]`` v.
        free_gates: ``[B, R]`` f in (0, 1).
        allocation_gates: ``[B, Wh]`` g^a in (0, 1).
        write_gates: ``[B, Wh]`` g^w in (0, 1).
        read_modes: ``[B, R, 1 + 2 Wh]`` pi (Wh backward, Wh forward, content).
    """

    read_keys: Tensor
    read_strengths: Tensor
    write_keys: Tensor
    write_strengths: Tensor
    erase: Tensor
    write_vectors: Tensor
    free_gates: Tensor
    allocation_gates: Tensor
    write_gates: Tensor
    read_modes: Tensor


def _update_usage(
    usage: Tensor, write_weights: Tensor, free_gates: Tensor, read_weights: Tensor
) -> Tensor:
    """``addressing.update_usage`` (same values) in fewer operations, with the gradient
    through the write weightings stopped, as in DeepMind's ``Freeness``.

    ``u_t = (u + w - u w) psi`` is written ``lerp(u, 1, w) psi`` and the retention
    ``psi = prod_i (1 - f_i w^r_i)`` with one fused multiply-subtract.

    Args:
        usage: ``[B, N]`` u_{t-1}.
        write_weights: ``[B, Wh, N]`` w^w_{t-1}.
        free_gates: ``[B, R]`` f_t.
        read_weights: ``[B, R, N]`` w^r_{t-1}.
    Returns:
        ``[B, N]`` u_t.
    """
    one = usage.new_ones(())
    write_weights = write_weights.detach()
    if write_weights.shape[1] == 1:
        written = write_weights.squeeze(1)
    else:
        written = 1.0 - torch.prod(1.0 - write_weights, dim=1)
    retention = torch.prod(
        torch.addcmul(one, free_gates.unsqueeze(-1), read_weights, value=-1.0), dim=1
    )
    return torch.lerp(usage, one, written) * retention


@register_core("dnc")
class DNC(MemoryCore):
    """Differentiable Neural Computer: LSTM controller + DNC memory access.

    Args:
        input_size: F, features per step.
        memory_slots: N, number of memory slots (>= 1).
        slot_size: W, size of each slot (>= 1).
        read_heads: R (>= 1).
        write_heads: Wh (>= 1).
        controller_size: C, LSTM hidden size.
        read_addressing: ``"soft"`` (the paper's weightings) or ``"gumbel"`` (one-hot reads:
            straight-through Gumbel-softmax in training, argmax in eval mode).
        gumbel_tau: initial Gumbel-softmax temperature (> 0), kept in the buffer
            ``gumbel_tau`` (saved with the model; an annealing callback may ``fill_`` it).
        link_top_k: ``None`` (dense links, O(N^2) per step) or K: the sparse top-K links of
            the Sparse DNC (Rae et al. 2016, ``memrl.memory.sparse_link``), O(N K) per step.
            Faster from about N = 256 (K = 8; ``scripts/bench_links.py``).

    The output is ``y_t = [h_t; r_t]``: ``output_size = C + R * W``.
    """

    def __init__(
        self,
        input_size: int,
        memory_slots: int = 32,
        slot_size: int = 16,
        read_heads: int = 4,
        write_heads: int = 1,
        controller_size: int = 128,
        read_addressing: str = "soft",
        gumbel_tau: float = 1.0,
        link_top_k: int | None = None,
    ) -> None:
        super().__init__()
        self.link_top_k = None if link_top_k is None else check_int("link_top_k", link_top_k, 1)
        self.input_size = check_int("input_size", input_size, minimum=1)
        self.memory_slots = check_int("memory_slots", memory_slots, minimum=1)
        self.slot_size = check_int("slot_size", slot_size, minimum=1)
        self.read_heads = check_int("read_heads", read_heads, minimum=1)
        self.write_heads = check_int("write_heads", write_heads, minimum=1)
        self.controller_size = check_int("controller_size", controller_size, minimum=1)
        self.read_addressing = check_choice("read_addressing", read_addressing, READ_ADDRESSINGS)
        gumbel_tau = check_number("gumbel_tau", gumbel_tau, positive=True)
        self.register_buffer("gumbel_tau", torch.tensor(gumbel_tau))

        n_read, n_write, w = self.read_heads, self.write_heads, self.slot_size
        self.read_modes = 1 + 2 * n_write
        self.output_size = self.controller_size + n_read * w
        self.controller = nn.LSTMCell(self.input_size + n_read * w, self.controller_size)
        # The interface is laid out by squashing function so that each one runs once:
        # linear (keys, write vectors) | oneplus (strengths) | sigmoid (erase, gates) | modes.
        self._group_sizes = [
            n_read * w + 2 * n_write * w,
            n_read + n_write,
            n_write * w + n_read + 2 * n_write,
            n_read * self.read_modes,
        ]
        self.interface = nn.Linear(self.controller_size, sum(self._group_sizes))

    def extra_repr(self) -> str:
        return (
            f"input_size={self.input_size}, memory_slots={self.memory_slots}, "
            f"slot_size={self.slot_size}, read_heads={self.read_heads}, "
            f"write_heads={self.write_heads}, controller_size={self.controller_size}, "
            f"read_addressing={self.read_addressing!r}, link_top_k={self.link_top_k}"
        )

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> DNCState:
        """All-zero state: empty memory, no usage, no links, no previous reads or writes."""
        default_device, dtype = module_device_dtype(self)
        device = device if device is not None else default_device
        b, n, w = batch_size, self.memory_slots, self.slot_size
        n_read, n_write = self.read_heads, self.write_heads

        def zeros(*shape: int) -> Tensor:
            return torch.zeros(shape, device=device, dtype=dtype)

        if self.link_top_k is None:
            link, precedence = zeros(b, n_write, n, n), zeros(b, n_write, n)
        else:
            link, precedence = initial_sparse_link(b, n_write, n, self.link_top_k, device, dtype)
        return DNCState(
            h=zeros(b, self.controller_size),
            c=zeros(b, self.controller_size),
            memory=zeros(b, n, w),
            usage=zeros(b, n),
            link=link,
            precedence=precedence,
            read_weights=zeros(b, n_read, n),
            write_weights=zeros(b, n_write, n),
            reads=zeros(b, n_read, w),
        )

    def split_interface(self, xi: Tensor) -> _Interface:
        """Split the raw interface vector ``xi [B, I]`` and squash each part to its range."""
        return _Interface(
            *apply(SplitInterface, xi, self.read_heads, self.write_heads, self.slot_size)
        )

    def _input_gates(self, x: Tensor) -> Tensor:
        """The controller's gate pre-activations from ``x [..., F]`` alone, biases included.

        Returns ``[..., 4 C]``. Over a sequence this is one matrix product for all steps
        instead of one per step.
        """
        return lstm_kernels.input_gates(self.controller, x)

    def _recurrent_weight(self) -> Tensor:
        """``[4 C, R W + C]``: the controller weights applied to ``[r_{t-1}; h_{t-1}]``."""
        return lstm_kernels.recurrent_weight(self.controller, self.input_size)

    def _controller(
        self, input_gates: Tensor, recurrent_weight: Tensor, state: DNCState
    ) -> tuple[Tensor, Tensor]:
        """``nn.LSTMCell`` on ``[x_t; r_{t-1}]`` (same parameters and values), with the input
        part of the gates precomputed: ``(h_t [B, C], c_t [B, C])``."""
        recurrent_input = torch.cat([state.reads.flatten(1), state.h], dim=-1)
        return lstm_kernels.lstm_step(input_gates, recurrent_input, recurrent_weight, state.c)

    def step(self, x: Tensor, state: DNCState) -> tuple[Tensor, DNCState]:
        """One step: ``x [B, F]`` and the state after step t-1 -> ``(y_t [B, C + R W], state)``."""
        return self._step(self._input_gates(x), self._recurrent_weight(), state)

    def unroll(
        self,
        x: Tensor,
        state: DNCState,
        episode_starts: Tensor | None = None,
        with_loss: bool = False,
    ) -> tuple[Tensor, DNCState, None]:
        """``MemoryCore.unroll`` with the loop-invariant controller work done once.

        The input part of the controller gates is one matrix product over all T steps and
        the recurrent weight is assembled once; ``unbind`` gives each step its slice with a
        single backward node (indexing ``x[t]`` would materialise a ``[T, B, 4C]`` gradient
        per step). The DNC has no auxiliary loss.
        """
        self.check_sequence(x, episode_starts)
        recurrent_weight = self._recurrent_weight()
        step = self.compiled("_step")
        y, state = unroll_steps(
            lambda gates, state: step(gates, recurrent_weight, state),
            self._input_gates(x).unbind(0),
            state,
            episode_starts,
            self.initial_reset(x.shape[1], x.device),
        )
        return y, state, None

    def _step(
        self, input_gates: Tensor, recurrent_weight: Tensor, state: DNCState
    ) -> tuple[Tensor, DNCState]:
        """The step of ``step`` after the controller's input projection."""
        h, c = self._controller(input_gates, recurrent_weight, state)
        xi = self.split_interface(self.interface(h))

        usage = _update_usage(state.usage, state.write_weights, xi.free_gates, state.read_weights)
        if self.write_heads == 1:
            write_weights, memory = apply(
                DNCWrite,
                state.memory,
                usage,
                xi.write_keys,
                xi.write_strengths,
                xi.allocation_gates,
                xi.write_gates,
                xi.erase,
                xi.write_vectors,
            )
        else:
            write_weights = self.write_weighting(state.memory, usage, xi)
            memory = self.erase_and_add(state.memory, write_weights, xi.erase, xi.write_vectors)
        # [B, 2 Wh, R, N]: w^r_{t-1} weighted by each directional read mode.
        n_write = self.write_heads
        directional_modes = xi.read_modes[:, :, : 2 * n_write].transpose(1, 2)
        queries = directional_modes.unsqueeze(-1) * state.read_weights.unsqueeze(1)
        linkage = temporal_linkage if self.link_top_k is None else sparse_temporal_linkage
        link, precedence, directional = linkage(
            state.link, state.precedence, write_weights, queries[:, :n_write], queries[:, n_write:]
        )
        if self.read_addressing == "soft":
            read_weights, reads = apply(
                DNCRead,
                memory,
                xi.read_keys,
                xi.read_strengths,
                xi.read_modes[:, :, -1:],
                directional,
            )
        else:
            read_weights = self.read_weighting(memory, directional, xi)
            reads = torch.bmm(read_weights, memory)

        y = torch.cat([h, reads.flatten(1)], dim=-1)
        return y, DNCState(
            h=h,
            c=c,
            memory=memory,
            usage=usage,
            link=link,
            precedence=precedence,
            read_weights=read_weights,
            write_weights=write_weights,
            reads=reads,
        )

    def write_weighting(self, memory: Tensor, usage: Tensor, xi: _Interface) -> Tensor:
        """Write weightings ``w^w_t [B, Wh, N]`` from M_{t-1} ``[B, N, W]`` and u_t ``[B, N]``."""
        content = content_weights(memory, xi.write_keys, xi.write_strengths)
        allocation = self.write_allocation_weights(usage, xi.allocation_gates * xi.write_gates)
        # g^a a + (1 - g^a) c as a single lerp.
        mixed = torch.lerp(content, allocation, xi.allocation_gates.unsqueeze(-1))
        return xi.write_gates.unsqueeze(-1) * mixed

    def write_allocation_weights(self, usage: Tensor, write_gates: Tensor) -> Tensor:
        """Allocation weightings ``a_t [B, Wh, N]`` of the write heads, one after the other.

        Args:
            usage: ``[B, N]`` u_t.
            write_gates: ``[B, Wh]`` g^a g^w: how much each head writes to its allocation.
        """
        if self.write_heads == 1:
            return addressing.allocation_weights(usage).unsqueeze(1)
        allocations = []
        for head in range(self.write_heads):
            allocation = addressing.allocation_weights(usage)
            allocations.append(allocation)
            # The next head sees the slot this head is about to fill as used.
            usage = usage + (1.0 - usage) * write_gates[:, head : head + 1] * allocation
        return torch.stack(allocations, dim=1)

    def erase_and_add(
        self, memory: Tensor, write_weights: Tensor, erase: Tensor, write_vectors: Tensor
    ) -> Tensor:
        """``M_t = M_{t-1} * prod_h (1 - w_h e_h^T) + sum_h w_h v_h^T``, shapes ``[B, N, W]``."""
        if self.write_heads > 1:
            return addressing.erase_and_add(memory, write_weights, erase, write_vectors)
        # One head: M (1 - w e^T) + w v^T = M + w (v - M e), broadcast over slots and slot
        # elements. Elementwise ops beat a batched matmul here, whose inner dimension is 1.
        weights = write_weights.squeeze(1).unsqueeze(-1)
        return torch.addcmul(memory, weights, write_vectors - memory * erase)

    def read_weighting(self, memory: Tensor, directional: Tensor, xi: _Interface) -> Tensor:
        """Read weightings ``w^r_t [B, R, N]``: the mode mix, made one-hot for Gumbel reads.

        Args:
            memory: ``[B, N, W]`` M_t (after this step's write).
            directional: ``[B, R, N]`` the mode-weighted backward and forward reads.
        """
        content = content_weights(memory, xi.read_keys, xi.read_strengths)
        weights = torch.addcmul(directional, xi.read_modes[:, :, -1:], content)
        if self.read_addressing == "soft":
            return weights
        return addressing.hard_read(addressing.safe_log(weights), self.gumbel_tau, self.training)

    def read_trace(self, state: DNCState) -> Recall:
        """The read and write weightings and the usage of the step that produced ``state``."""
        return Recall(
            read_weights=state.read_weights,
            write_weights=state.write_weights,
            usage=state.usage,
        )

"""Fused memory-access kernels of the DNC (one write head, soft reads) and the NTM's memory
write: chains of small operations as single autograd nodes with closed-form backward passes.

A core step at RL sizes (B ~ 8) is some hundred tensor operations of a few microseconds of
arithmetic each, so the time goes to per-operation overhead, most of it in autograd's
backward nodes. Each ``autograd.Function`` here has the values of the formula it replaces
(the same operations in the same order in its forward pass) and one backward node; the
unit tests compare values with the reference formulas of ``memrl.memory.addressing`` and
gradients with ``gradcheck`` in float64.

- ``allocation_forward`` / ``allocation_backward``: ``addressing.allocation_weights``;
  the exclusive cumulative product's gradient is a reverse cumulative sum.
- ``erase_add_forward`` / ``erase_add_backward``: one head's erase and add,
  ``M (1 - w e^T) + w v^T = M + w (v - M e)`` (shared with the NTM).
- ``DNCWrite``: content weights on M_{t-1}, allocation, write weighting and the write.
- ``DNCRead``: content weights on M_t, the read-mode mix and the read vectors.
- ``SplitInterface``: the DNC's interface vector split and squashed to its ranges.

Shape legend:
    B batch    N memory slots    W slot size    R read heads    Wh write heads
    I interface size    M read modes (1 + 2 Wh)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from memrl.memory.addressing import _USAGE_EPS, sorted_allocation
from memrl.memory.dnc_kernels import content_backward, content_forward


def allocation_forward(usage: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
    """``addressing.allocation_weights(usage [B, N])`` and what its backward needs."""
    return sorted_allocation(usage)


def allocation_backward(saved: tuple[Tensor, ...], grad: Tensor) -> Tensor:
    """Gradient of the usage ``[B, N]`` from that of the allocation weights ``grad [B, N]``.

    In sorted order ``a_j = (1 - s_j) P_j`` with ``P_j = prod_{i<j} s_i``, so
    ``da_j / ds_k`` is ``-P_k`` for j = k and ``a_j / s_k`` for j > k (s >= 1e-6 > 0).
    """
    sorted_usage, order, exclusive_product, sorted_allocation = saved
    grad_sorted = grad.gather(-1, order)
    weighted = grad_sorted * sorted_allocation
    # sum over j > k of grad_j a_j: a reverse cumulative sum, the term j = k removed.
    later = weighted.flip(-1).cumsum(-1).flip(-1) - weighted
    grad_sorted_usage = later / sorted_usage - grad_sorted * exclusive_product
    grad_usage = torch.zeros_like(grad).scatter(-1, order, grad_sorted_usage)
    return grad_usage * (1.0 - _USAGE_EPS)


def erase_add_forward(
    memory: Tensor, weights: Tensor, erase: Tensor, vectors: Tensor
) -> tuple[Tensor, Tensor]:
    """One head's write ``M + w (v - M e)``: memory ``[B, N, W]``, weights ``[B, N]``,
    erase and vectors ``[B, 1, W]`` -> ``(M_t, v - M e)``; the second is saved for the
    backward pass."""
    delta = vectors - memory * erase
    return torch.addcmul(memory, weights.unsqueeze(-1), delta), delta


def erase_add_backward(
    memory: Tensor, weights: Tensor, erase: Tensor, delta: Tensor, grad: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Gradients ``(memory [B, N, W], weights [B, N], erase [B, 1, W], vectors [B, 1, W])``
    of ``erase_add_forward`` from the gradient ``grad [B, N, W]`` of M_t."""
    weighted = weights.unsqueeze(-1) * grad
    grad_memory = torch.addcmul(grad, weighted, erase, value=-1.0)
    grad_weights = (grad * delta).sum(dim=-1)
    grad_erase = -(weighted * memory).sum(dim=1, keepdim=True)
    grad_vectors = weighted.sum(dim=1, keepdim=True)
    return grad_memory, grad_weights, grad_erase, grad_vectors


class DNCWrite(torch.autograd.Function):
    """The DNC's write with one write head: ``(w^w_t [B, 1, N], M_t [B, N, W])``.

    ``c = content(M_{t-1}, k^w, beta^w)``, ``a = allocation(u_t)``,
    ``w^w = g^w lerp(c, a, g^a)``, ``M_t = M_{t-1} + w^w (v - M_{t-1} e)``: the values of
    ``DNC.write_weighting`` and ``DNC.erase_and_add`` for Wh = 1.

    Inputs: memory ``[B, N, W]`` M_{t-1}; usage ``[B, N]`` u_t; keys ``[B, 1, W]``;
    strengths, allocation_gates, write_gates ``[B, 1]``; erase, vectors ``[B, 1, W]``.
    """

    @staticmethod
    def forward(
        ctx,
        memory: Tensor,
        usage: Tensor,
        keys: Tensor,
        strengths: Tensor,
        allocation_gates: Tensor,
        write_gates: Tensor,
        erase: Tensor,
        vectors: Tensor,
    ) -> tuple[Tensor, Tensor]:
        content, content_saved = content_forward(memory, keys, strengths)
        allocation, allocation_saved = allocation_forward(usage)
        allocation = allocation.unsqueeze(1)
        mixed = torch.lerp(content, allocation, allocation_gates.unsqueeze(-1))
        write_weights = write_gates.unsqueeze(-1) * mixed
        new_memory, delta = erase_add_forward(memory, write_weights.squeeze(1), erase, vectors)
        ctx.content_saved = content_saved
        ctx.allocation_saved = allocation_saved
        ctx.save_for_backward(
            content, allocation, mixed, allocation_gates, write_gates, write_weights, erase, delta
        )
        return write_weights, new_memory

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_weights: Tensor, grad_memory: Tensor) -> tuple[Tensor, ...]:
        content, allocation, mixed, allocation_gates, write_gates, write_weights, erase, delta = (
            ctx.saved_tensors
        )
        memory = ctx.content_saved[0]
        grad_prev_memory, grad_from_write, grad_erase, grad_vectors = erase_add_backward(
            memory, write_weights.squeeze(1), erase, delta, grad_memory
        )
        grad_weights = grad_weights + grad_from_write.unsqueeze(1)
        grad_write_gates = (grad_weights * mixed).sum(dim=-1)
        grad_mixed = grad_weights * write_gates.unsqueeze(-1)
        grad_allocation_gates = (grad_mixed * (allocation - content)).sum(dim=-1)
        gate = allocation_gates.unsqueeze(-1)
        grad_allocation = grad_mixed * gate
        grad_content = grad_mixed - grad_allocation
        grad_usage = allocation_backward(ctx.allocation_saved, grad_allocation.squeeze(1))
        grad_from_content, grad_keys, grad_strengths = content_backward(
            ctx.content_saved, grad_content
        )
        return (
            grad_prev_memory + grad_from_content,
            grad_usage,
            grad_keys,
            grad_strengths,
            grad_allocation_gates,
            grad_write_gates,
            grad_erase,
            grad_vectors,
        )


class DNCRead(torch.autograd.Function):
    """The DNC's soft reads: ``(w^r_t [B, R, N], r_t [B, R, W])``.

    ``w^r = directional + pi^c content(M_t, k^r, beta^r)`` and ``r = w^r M_t``: the values
    of ``DNC.read_weighting`` (soft) and the read product.

    Inputs: memory ``[B, N, W]`` M_t; keys ``[B, R, W]``; strengths ``[B, R]``;
    content_modes ``[B, R, 1]`` pi^c; directional ``[B, R, N]`` the mode-weighted reads
    through the links.
    """

    @staticmethod
    def forward(
        ctx,
        memory: Tensor,
        keys: Tensor,
        strengths: Tensor,
        content_modes: Tensor,
        directional: Tensor,
    ) -> tuple[Tensor, Tensor]:
        content, content_saved = content_forward(memory, keys, strengths)
        read_weights = torch.addcmul(directional, content_modes, content)
        reads = torch.bmm(read_weights, memory)
        ctx.content_saved = content_saved
        ctx.save_for_backward(content, content_modes, read_weights)
        return read_weights, reads

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_weights: Tensor, grad_reads: Tensor) -> tuple[Tensor, ...]:
        content, content_modes, read_weights = ctx.saved_tensors
        memory = ctx.content_saved[0]
        grad_weights = torch.baddbmm(grad_weights, grad_reads, memory.transpose(1, 2))
        grad_content_modes = (grad_weights * content).sum(dim=-1, keepdim=True)
        grad_memory, grad_keys, grad_strengths = content_backward(
            ctx.content_saved, grad_weights * content_modes
        )
        grad_memory.baddbmm_(read_weights.transpose(1, 2), grad_reads)
        return grad_memory, grad_keys, grad_strengths, grad_content_modes, grad_weights


class SplitInterface(torch.autograd.Function):
    """The DNC's interface vector ``xi [B, I]`` split and squashed, as one autograd node.

    The layout of ``xi`` is by squashing function: linear (read keys ``R W``, write keys
    ``Wh W``, write vectors ``Wh W``) | oneplus (read strengths ``R``, write strengths
    ``Wh``) | sigmoid (erase ``Wh W``, free gates ``R``, allocation gates ``Wh``, write gates
    ``Wh``) | softmax (read modes ``R x M``). Returns the ten parts in the field order of
    ``dnc._Interface`` as contiguous tensors: ``[B, R, W]``, ``[B, R]``, ``[B, Wh, W]``,
    ``[B, Wh]``, ``[B, Wh, W]``, ``[B, Wh, W]``, ``[B, R]``, ``[B, Wh]``, ``[B, Wh]``,
    ``[B, R, M]``.
    """

    @staticmethod
    def forward(ctx, xi: Tensor, read_heads: int, write_heads: int, slot_size: int):
        b, (r, wh, w) = xi.shape[0], (read_heads, write_heads, slot_size)
        modes = 1 + 2 * wh
        linear, strengths, gates, mode_logits = torch.split(
            xi, [(r + 2 * wh) * w, r + wh, wh * w + r + 2 * wh, r * modes], dim=-1
        )
        linear_r, linear_wk, linear_wv = torch.split(linear, [r * w, wh * w, wh * w], dim=-1)
        strengths = 1.0 + F.softplus(strengths)
        gates = torch.sigmoid(gates)
        read_modes = torch.softmax(mode_logits.reshape(b, r, modes), dim=-1)
        ctx.save_for_backward(xi, gates, read_modes)
        ctx.sizes = (r, wh, w)
        erase, free, alloc, gate = torch.split(gates, [wh * w, r, wh, wh], dim=-1)
        return (
            linear_r.reshape(b, r, w).clone(),
            strengths[:, :r].contiguous(),
            linear_wk.reshape(b, wh, w).clone(),
            strengths[:, r:].contiguous(),
            erase.reshape(b, wh, w).contiguous(),
            linear_wv.reshape(b, wh, w).clone(),
            free.contiguous(),
            alloc.contiguous(),
            gate.contiguous(),
            read_modes,
        )

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, *grads: Tensor) -> tuple[Tensor | None, ...]:
        xi, gates, read_modes = ctx.saved_tensors
        r, wh, w = ctx.sizes
        g_rk, g_rs, g_wk, g_ws, g_erase, g_wv, g_free, g_alloc, g_gate, g_modes = grads
        grad = torch.cat(
            [
                g_rk.flatten(1),
                g_wk.flatten(1),
                g_wv.flatten(1),
                g_rs,
                g_ws,
                g_erase.flatten(1),
                g_free,
                g_alloc,
                g_gate,
                torch._softmax_backward_data(g_modes, read_modes, -1, read_modes.dtype).flatten(1),
            ],
            dim=-1,
        )
        start = (r + 2 * wh) * w
        stop = start + r + wh
        grad[:, start:stop] = torch.ops.aten.softplus_backward(
            grad[:, start:stop], xi[:, start:stop], 1.0, 20.0
        )
        end = stop + gates.shape[-1]
        grad[:, stop:end] = torch.ops.aten.sigmoid_backward(grad[:, stop:end], gates)
        return grad, None, None, None

"""An ``nn.LSTMCell`` controller split for speed: the input part of its gates once per
sequence, and the rest of a step as two operations with one autograd node each.

The DNC and NTM controllers read ``[x_t; r_{t-1}]``. Over a sequence x_t is known in advance,
so the gate pre-activations ``W_x x_t + b`` are one matrix product for all T steps
(``input_gates``); a step adds ``[r_{t-1}; h_{t-1}] W_rh^T`` with one ``addmm`` and applies
the LSTM's pointwise maths (``LSTMPointwise``: a dozen autograd nodes of the formula, one
here). Values are those of ``nn.LSTMCell`` with the same parameters (checked in the tests).

Shape legend:
    B batch    C cell size    F input features seen by ``input_gates``
    E the rest of the cell's input (e.g. R W previous reads)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from memrl.memory.dnc_kernels import apply


def input_gates(cell: nn.LSTMCell, x: Tensor) -> Tensor:
    """The gate pre-activations ``[..., 4 C]`` of ``x [..., F]``, the first F inputs of
    ``cell``, with both biases included."""
    weight_x = cell.weight_ih[:, : x.shape[-1]]
    return F.linear(x, weight_x, cell.bias_ih + cell.bias_hh)


def recurrent_weight(cell: nn.LSTMCell, input_size: int) -> Tensor:
    """``[4 C, E + C]``: the weights of ``cell`` applied to ``[rest of input; h_{t-1}]``,
    where the first ``input_size`` inputs are those of ``input_gates``."""
    return torch.cat([cell.weight_ih[:, input_size:], cell.weight_hh], dim=1)


class LSTMPointwise(torch.autograd.Function):
    """``(h_t, c_t)`` from the gate pre-activations ``[B, 4 C]`` (order input, forget, cell
    candidate, output, as ``nn.LSTMCell``) and ``c_{t-1} [B, C]``, with a closed-form
    backward pass: ``c_t = f c + i z``, ``h_t = o tanh(c_t)``."""

    @staticmethod
    def forward(ctx, gates: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        size = c.shape[-1]
        # One sigmoid over all four gate blocks (the candidate's block is not used).
        squashed = torch.sigmoid(gates)
        candidate = torch.tanh(gates[:, 2 * size : 3 * size])
        input_gate, forget_gate = squashed[:, :size], squashed[:, size : 2 * size]
        new_c = torch.addcmul(forget_gate * c, input_gate, candidate)
        tanh_c = torch.tanh(new_c)
        h = squashed[:, 3 * size :] * tanh_c
        ctx.save_for_backward(squashed, candidate, c, tanh_c)
        return h, new_c

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_h: Tensor, grad_c: Tensor) -> tuple[Tensor, Tensor]:
        squashed, candidate, c, tanh_c = ctx.saved_tensors
        size = c.shape[-1]
        output_gate = squashed[:, 3 * size :]
        # Total gradient of c_t: its own and the one through h_t = o tanh(c_t).
        grad_new_c = torch.ops.aten.tanh_backward(grad_h * output_gate, tanh_c) + grad_c
        # d(gate block) = upstream x the factor the block multiplies, then the squashing's
        # derivative: [dc z, dc c_{t-1}, dc i, dh tanh(c_t)].
        upstream = torch.cat([grad_new_c, grad_new_c, grad_new_c, grad_h], dim=1)
        factors = torch.cat([candidate, c, squashed[:, :size], tanh_c], dim=1)
        grad_gates = torch.ops.aten.sigmoid_backward(upstream * factors, squashed)
        grad_gates[:, 2 * size : 3 * size] = torch.ops.aten.tanh_backward(
            grad_new_c * squashed[:, :size], candidate
        )
        return grad_gates, grad_new_c * squashed[:, size : 2 * size]


def lstm_step(
    input_gates: Tensor, recurrent_input: Tensor, weight: Tensor, c: Tensor
) -> tuple[Tensor, Tensor]:
    """One ``nn.LSTMCell`` step with the input part of the gates precomputed.

    Args:
        input_gates: ``[B, 4 C]`` from ``input_gates`` (biases included).
        recurrent_input: ``[B, E + C]`` ``[rest of input; h_{t-1}]``.
        weight: ``[4 C, E + C]`` from ``recurrent_weight``.
        c: ``[B, C]`` c_{t-1}.
    Returns:
        ``(h_t, c_t)``, each ``[B, C]``.
    """
    gates = torch.addmm(input_gates, recurrent_input, weight.t())
    return apply(LSTMPointwise, gates, c)

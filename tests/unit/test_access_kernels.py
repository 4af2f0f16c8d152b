"""The fused kernels of the DNC, the NTM and their LSTM controller: values equal to the
reference formulas (``memrl.memory.addressing``, ``nn.LSTMCell``), gradients checked with
``gradcheck`` in float64, and the allocation gradient by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from memrl.memory import addressing
from memrl.memory.access_kernels import (
    DNCRead,
    DNCWrite,
    SplitInterface,
    allocation_backward,
    allocation_forward,
)
from memrl.memory.dnc_kernels import content_weights
from memrl.memory.lstm_kernels import input_gates, lstm_step, recurrent_weight
from memrl.memory.ntm_kernels import circular_shift, erase_and_add

F64 = torch.float64


def randn(*shape: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(*shape, generator=generator, dtype=F64)


def write_inputs(b: int = 2, n: int = 5, w: int = 3, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    inputs = (
        randn(b, n, w, generator=g),  # memory
        torch.rand(b, n, generator=g, dtype=F64),  # usage
        randn(b, 1, w, generator=g),  # keys
        1.0 + torch.rand(b, 1, generator=g, dtype=F64),  # strengths
        torch.rand(b, 1, generator=g, dtype=F64),  # allocation gates
        torch.rand(b, 1, generator=g, dtype=F64),  # write gates
        torch.rand(b, 1, w, generator=g, dtype=F64),  # erase
        randn(b, 1, w, generator=g),  # write vectors
    )
    return tuple(t.requires_grad_() for t in inputs)


def reference_write(memory, usage, keys, strengths, allocation_gates, write_gates, erase, vectors):
    content = addressing.content_weights(memory, keys, strengths)
    allocation = addressing.allocation_weights(usage).unsqueeze(1)
    gate = allocation_gates.unsqueeze(-1)
    weights = write_gates.unsqueeze(-1) * (gate * allocation + (1 - gate) * content)
    return weights, addressing.erase_and_add(memory, weights, erase, vectors)


def test_allocation_forward_matches_addressing():
    usage = torch.rand(3, 7, generator=torch.Generator().manual_seed(1), dtype=F64)
    allocation, _ = allocation_forward(usage)
    torch.testing.assert_close(allocation, addressing.allocation_weights(usage), rtol=0, atol=0)


def test_allocation_gradient_by_hand():
    # Two slots, slot 0 less used: sorted s = (s0, s1), a0 = 1 - s0, a1 = (1 - s1) s0.
    # d(g0 a0 + g1 a1)/ds0 = -g0 + g1 (1 - s1), d/ds1 = -g1 s0; ds/du = 1 - eps.
    eps = 1e-6
    usage = torch.tensor([[0.2, 0.5]], dtype=F64)
    grad = torch.tensor([[0.7, -1.3]], dtype=F64)
    _, saved = allocation_forward(usage)
    s0, s1 = eps + (1 - eps) * 0.2, eps + (1 - eps) * 0.5
    expected = (1 - eps) * torch.tensor([[-0.7 + (-1.3) * (1 - s1), 1.3 * s0]], dtype=F64)
    torch.testing.assert_close(allocation_backward(saved, grad), expected)


def test_dnc_write_matches_the_reference_formulas_and_passes_gradcheck():
    inputs = write_inputs()
    weights, memory = DNCWrite.apply(*inputs)
    ref_weights, ref_memory = reference_write(*inputs)
    torch.testing.assert_close(weights, ref_weights)
    torch.testing.assert_close(memory, ref_memory)
    assert torch.autograd.gradcheck(DNCWrite.apply, inputs)
    # each output alone: the other's gradient arrives as zeros
    assert torch.autograd.gradcheck(lambda *a: DNCWrite.apply(*a)[0], inputs)
    assert torch.autograd.gradcheck(lambda *a: DNCWrite.apply(*a)[1], inputs)


def test_dnc_read_matches_the_reference_formulas_and_passes_gradcheck():
    g = torch.Generator().manual_seed(2)
    b, n, w, r = 2, 5, 3, 3
    inputs = (
        randn(b, n, w, generator=g),
        randn(b, r, w, generator=g),
        1.0 + torch.rand(b, r, generator=g, dtype=F64),
        torch.rand(b, r, 1, generator=g, dtype=F64),
        torch.rand(b, r, n, generator=g, dtype=F64),
    )
    inputs = tuple(t.requires_grad_() for t in inputs)
    memory, keys, strengths, modes, directional = inputs
    weights, reads = DNCRead.apply(*inputs)
    expected = directional + modes * addressing.content_weights(memory, keys, strengths)
    torch.testing.assert_close(weights, expected)
    torch.testing.assert_close(reads, torch.einsum("brn,bnw->brw", expected, memory))
    assert torch.autograd.gradcheck(DNCRead.apply, inputs)
    assert torch.autograd.gradcheck(lambda *a: DNCRead.apply(*a)[0], inputs)


@pytest.mark.parametrize("write_heads", [1, 2])
def test_split_interface_squashes_each_part_and_passes_gradcheck(write_heads):
    r, wh, w = 2, write_heads, 3
    modes = 1 + 2 * wh
    size = r * w + 2 * wh * w + r + wh + wh * w + r + 2 * wh + r * modes
    xi = torch.randn(2, size, generator=torch.Generator().manual_seed(3), dtype=F64)
    parts = SplitInterface.apply(xi, r, wh, w)
    linear, strengths, gates, mode_logits = torch.split(
        xi, [r * w + 2 * wh * w, r + wh, wh * w + r + 2 * wh, r * modes], dim=-1
    )
    strengths = 1 + torch.nn.functional.softplus(strengths)
    gates = torch.sigmoid(gates)
    expected = [
        linear[:, : r * w].reshape(2, r, w),
        strengths[:, :r],
        linear[:, r * w : (r + wh) * w].reshape(2, wh, w),
        strengths[:, r:],
        gates[:, : wh * w].reshape(2, wh, w),
        linear[:, (r + wh) * w :].reshape(2, wh, w),
        gates[:, wh * w : wh * w + r],
        gates[:, wh * w + r : wh * w + r + wh],
        gates[:, wh * w + r + wh :],
        torch.softmax(mode_logits.reshape(2, r, modes), dim=-1),
    ]
    for got, want in zip(parts, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    xi.requires_grad_()
    assert torch.autograd.gradcheck(lambda x: SplitInterface.apply(x, r, wh, w), (xi,))


def test_lstm_step_is_an_lstm_cell_in_values_and_gradients():
    torch.manual_seed(4)
    cell = nn.LSTMCell(5, 4).double()
    x = torch.randn(3, 3, dtype=F64, requires_grad=True)
    extra = torch.randn(3, 2, dtype=F64, requires_grad=True)
    h = torch.randn(3, 4, dtype=F64, requires_grad=True)
    c = torch.randn(3, 4, dtype=F64, requires_grad=True)

    def ours(x, extra, h, c):
        return lstm_step(
            input_gates(cell, x), torch.cat([extra, h], -1), recurrent_weight(cell, 3), c
        )

    for got, want in zip(
        ours(x, extra, h, c), cell(torch.cat([x, extra], -1), (h, c)), strict=True
    ):
        torch.testing.assert_close(got, want)
    assert torch.autograd.gradcheck(ours, (x, extra, h, c))
    assert torch.autograd.gradcheck(lambda *a: ours(*a)[0], (x, extra, h, c))
    assert torch.autograd.gradcheck(lambda *a: ours(*a)[1], (x, extra, h, c))


@pytest.mark.parametrize("size", [1, 3, 5])
def test_circular_shift_matches_addressing(size):
    g = torch.Generator().manual_seed(5)
    weights = torch.rand(2, 3, 6, generator=g, dtype=F64, requires_grad=True)
    shifts = torch.softmax(randn(2, 3, size, generator=g), -1).requires_grad_()
    torch.testing.assert_close(circular_shift(weights, shifts), addressing.shift(weights, shifts))
    assert torch.autograd.gradcheck(circular_shift, (weights, shifts))


def test_circular_shift_by_hand():
    weights = torch.tensor([[[1.0, 2.0, 3.0, 4.0]]], dtype=F64)
    plus_one = torch.tensor([[[0.0, 0.0, 1.0]]], dtype=F64)  # all weight moves one slot up
    assert circular_shift(weights, plus_one).tolist() == [[[4.0, 1.0, 2.0, 3.0]]]


@pytest.mark.parametrize("write_heads", [1, 2])
def test_erase_and_add_matches_addressing(write_heads):
    g = torch.Generator().manual_seed(6)
    inputs = (
        randn(2, 5, 3, generator=g),
        torch.rand(2, write_heads, 5, generator=g, dtype=F64),
        torch.rand(2, write_heads, 3, generator=g, dtype=F64),
        randn(2, write_heads, 3, generator=g),
    )
    torch.testing.assert_close(erase_and_add(*inputs), addressing.erase_and_add(*inputs))


def test_content_weights_kernel_is_the_ntm_content_addressing():
    g = torch.Generator().manual_seed(7)
    memory, keys = randn(2, 5, 3, generator=g), randn(2, 4, 3, generator=g)
    strengths = torch.rand(2, 4, generator=g, dtype=F64)
    torch.testing.assert_close(
        content_weights(memory, keys, strengths),
        addressing.content_weights(memory, keys, strengths),
    )

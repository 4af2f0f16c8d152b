"""Faster forms of two NTM operations, with the values of the reference formulas in
``memrl.memory.addressing`` (checked in the unit tests).

Shape legend:
    B batch    N memory slots    W slot size    H heads    Wh write heads
    S = 2 r + 1 shift kernel size
"""

from __future__ import annotations

import torch
from torch import Tensor

from memrl.memory import addressing
from memrl.memory.access_kernels import erase_add_forward


def circular_shift(weights: Tensor, shifts: Tensor) -> Tensor:
    """``addressing.shift`` (circular convolution with the shift kernel) in a few operations.

    The weightings are padded circularly by r on each side; the S windows of length N of
    the padded row are views (``unfold``), window k holding ``w[n + k - r]``. Kernel index
    j (shift j - r) takes ``w[n - (j - r)]``, window ``2 r - j``: the kernel is flipped and
    the windows are mixed with one matrix product.

    Args:
        weights: ``[B, H, N]``.
        shifts: ``[B, H, S]``, S odd and S <= N.
    Returns:
        ``[B, H, N]``.
    """
    b, h, n = weights.shape
    size = shifts.shape[-1]
    radius = size // 2
    if radius == 0:
        return weights * shifts
    padded = torch.cat([weights[..., n - radius :], weights, weights[..., :radius]], dim=-1)
    windows = padded.view(b * h, n + 2 * radius).unfold(-1, n, 1)  # [B H, S, N]
    kernel = shifts.flip(-1).view(b * h, 1, size)
    return torch.bmm(kernel, windows).view(b, h, n)


def erase_and_add(memory: Tensor, write_weights: Tensor, erase: Tensor, add: Tensor) -> Tensor:
    """``addressing.erase_and_add``; one write head as ``M + w (a - M e)`` (three
    elementwise operations instead of two products and a batched outer product).

    Shapes: memory ``[B, N, W]``, write_weights ``[B, Wh, N]``, erase and add
    ``[B, Wh, W]`` -> ``[B, N, W]``.
    """
    if write_weights.shape[1] > 1:
        return addressing.erase_and_add(memory, write_weights, erase, add)
    return erase_add_forward(memory, write_weights.squeeze(1), erase, add)[0]

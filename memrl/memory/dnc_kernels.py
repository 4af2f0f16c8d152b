"""The DNC's two hot spots as ``autograd.Function``s with hand-written backward passes.

Content addressing (twice per step) and the temporal links with both directional reads
(the only ``[B, Wh, N, N]`` tensors of a step) dominate the DNC's step. Here each is one
autograd node with the values of the reference formulas in ``memrl.memory.addressing``
(``content_weights``; ``update_link``, ``update_precedence`` and ``directional_weights``),
checked against them and with ``gradcheck`` in the unit tests.

Shape legend:
    B batch    N memory slots    W slot size    R read heads    Wh write heads
    H heads (any kind)    K = B * Wh (batch and write heads flattened)
"""

from __future__ import annotations

import torch
from torch import Tensor

from memrl.memory.addressing import NORM_EPS


class _NoGradContext:
    """Stands in for an autograd context when a Function's forward runs without autograd."""

    def save_for_backward(self, *tensors: Tensor) -> None:
        pass

    def set_materialize_grads(self, value: bool) -> None:
        pass


def apply(function: type[torch.autograd.Function], *args):
    """``function.apply(*args)``, or with gradients off (rollouts) its forward alone: the
    same values without the cost of building an autograd node."""
    if torch.is_grad_enabled():
        return function.apply(*args)
    return function.forward(_NoGradContext(), *args)


def content_forward(
    memory: Tensor, keys: Tensor, strengths: Tensor
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """The forward pass of ``ContentWeights``: ``(weights [B, H, N], saved)``, where
    ``saved`` is what ``content_backward`` needs (for kernels that fuse content addressing
    with more of a step)."""
    key_scale = torch.rsqrt((keys * keys).sum(dim=-1) + NORM_EPS)
    slot_scale = torch.rsqrt((memory * memory).sum(dim=-1) + NORM_EPS)
    # [B, H, N]: the small H in the output rows, the fast layout for MKL's batched gemm.
    similarity = torch.bmm(keys, memory.transpose(1, 2))
    similarity *= key_scale.unsqueeze(-1)
    similarity *= slot_scale.unsqueeze(1)
    weights = torch.softmax(strengths.unsqueeze(-1) * similarity, dim=-1)
    return weights, (memory, keys, strengths, key_scale, slot_scale, similarity, weights)


def content_backward(
    saved: tuple[Tensor, ...],
    grad: Tensor,
    need_memory: bool = True,
    need_keys: bool = True,
    need_strengths: bool = True,
) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    """The backward pass of ``ContentWeights``: gradients of memory, keys and strengths
    from ``grad [B, H, N]`` and the ``saved`` tensors of ``content_forward``."""
    memory, keys, strengths, key_scale, slot_scale, similarity, weights = saved
    # Softmax backward, then the logits beta * similarity.
    grad_logits = weights * (grad - (grad * weights).sum(dim=-1, keepdim=True))
    grad_strengths = (grad_logits * similarity).sum(dim=-1) if need_strengths else None
    grad_similarity = grad_logits * strengths.unsqueeze(-1)
    # similarity = dots * key_scale * slot_scale; the scales r = (|x|^2 + eps)^(-1/2)
    # contribute -r^2 (sum of grad_similarity * similarity) x to the gradient of x.
    weighted = grad_similarity * similarity
    grad_dots = grad_similarity * key_scale.unsqueeze(-1) * slot_scale.unsqueeze(1)
    grad_memory = grad_keys = None
    if need_memory:
        grad_memory = torch.bmm(grad_dots.transpose(1, 2), keys)
        grad_memory -= (slot_scale * slot_scale * weighted.sum(dim=1)).unsqueeze(-1) * memory
    if need_keys:
        grad_keys = torch.bmm(grad_dots, memory)
        grad_keys -= (key_scale * key_scale * weighted.sum(dim=-1)).unsqueeze(-1) * keys
    return grad_memory, grad_keys, grad_strengths


class ContentWeights(torch.autograd.Function):
    """``addressing.content_weights`` (same values) with a hand-written backward pass.

    Content addressing runs twice per step (write keys on M_{t-1}, read keys on M_t); as
    one autograd node it costs about half of the twenty-odd nodes of the formula. The
    similarity ``k . M[n] / (sqrt(|k|^2 + eps) sqrt(|M[n]|^2 + eps))`` is scaled from the raw
    dot products, so no normalised copy of the memory is made. Checked against
    ``addressing.content_weights`` and with ``gradcheck`` in the unit tests.

    Shapes: memory ``[B, N, W]``, keys ``[B, H, W]``, strengths ``[B, H]`` -> ``[B, H, N]``.
    """

    @staticmethod
    def forward(ctx, memory: Tensor, keys: Tensor, strengths: Tensor) -> Tensor:
        weights, saved = content_forward(memory, keys, strengths)
        ctx.save_for_backward(*saved)
        return weights

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        return content_backward(ctx.saved_tensors, grad, *ctx.needs_input_grad)


def content_weights(memory: Tensor, keys: Tensor, strengths: Tensor) -> Tensor:
    """Content weighting ``[B, H, N]``: softmax over N of beta x cosine similarity.

    Args:
        memory: ``[B, N, W]`` M.
        keys: ``[B, H, W]`` k.
        strengths: ``[B, H]`` beta.
    """
    return apply(ContentWeights, memory, keys, strengths)


class TemporalLinkage(torch.autograd.Function):
    """Link and precedence update and both directional reads, with a hand-written backward.

    The link matrices are the only ``[B, Wh, N, N]`` tensors of a step. Autograd of the
    elementwise formulas keeps about a dozen temporaries of that size per step and
    accumulates the link gradient from three places; here the forward makes two and the
    backward gathers the link gradient in a single batched matmul. Values are those of
    ``addressing.update_link``, ``update_precedence`` and ``directional_weights`` (checked,
    and the gradients with ``gradcheck``, in the unit tests).

    Shapes, batch and write heads flattened to K = B * Wh:
        link ``[K, N, N]`` L_{t-1}; precedence ``[K, N]`` p_{t-1}; write_weights ``[K, N]``
        w^w_t; backward_queries, forward_queries ``[K, R, N]``: the previous read weightings
        times the backward and forward read modes of the head, pi^b w^r_{t-1} and
        pi^f w^r_{t-1} (the link products are linear in them, so the mode mix happens first).
    Returns:
        L_t ``[K, N, N]`` (zero diagonal), p_t ``[K, N]``, and ``[K, R, N]`` the sum of the
        mode-weighted backward reads ``b[j] = sum_i L_t[i, j] q^b[i]`` and forward reads
        ``f[i] = sum_j L_t[i, j] q^f[j]``.
    """

    @staticmethod
    def forward(
        ctx,
        link: Tensor,
        precedence: Tensor,
        write_weights: Tensor,
        backward_queries: Tensor,
        forward_queries: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        ctx.set_materialize_grads(False)
        w_i, w_j = write_weights.unsqueeze(-1), write_weights.unsqueeze(-2)
        new_link = ((1.0 - w_i) - w_j) * link
        new_link.addcmul_(w_i, precedence.unsqueeze(-2))
        new_link.diagonal(dim1=-2, dim2=-1).zero_()
        written = write_weights.sum(dim=-1, keepdim=True)
        new_precedence = (1.0 - written) * precedence + write_weights
        # Every batched matmul here puts the small dimension (R or 1) in the output rows:
        # MKL is several times slower on [N, small] outputs of the same size.
        directional = torch.baddbmm(
            torch.bmm(forward_queries, new_link.transpose(1, 2)), backward_queries, new_link
        )
        ctx.save_for_backward(
            link, precedence, write_weights, backward_queries, forward_queries, new_link
        )
        return new_link, new_precedence, directional

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(
        ctx, grad_link: Tensor | None, grad_precedence: Tensor | None, grad_reads: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        link, precedence, write_weights, backward_q, forward_q, new_link = ctx.saved_tensors
        need_link, need_precedence, need_write, need_bq, need_fq = ctx.needs_input_grad
        grad_write = torch.zeros_like(write_weights) if need_write else None
        grad_prev_precedence = None

        if grad_precedence is not None:
            written = write_weights.sum(dim=-1, keepdim=True)
            if need_precedence:
                grad_prev_precedence = grad_precedence * (1.0 - written)
            if need_write:
                grad_write += grad_precedence - (grad_precedence * precedence).sum(
                    dim=-1, keepdim=True
                )

        grad_bq = grad_fq = None
        if grad_reads is not None:
            if need_bq:
                grad_bq = torch.bmm(grad_reads, new_link.transpose(1, 2))
            if need_fq:
                grad_fq = torch.bmm(grad_reads, new_link)
            # dL_t = q^b^T g + g^T q^f as one matmul over the stacked R dimension.
            left = torch.cat([backward_q, grad_reads], dim=1).transpose(1, 2)
            right = torch.cat([grad_reads, forward_q], dim=1)
            if grad_link is None:
                grad_link = torch.bmm(left, right)
            else:
                grad_link = torch.baddbmm(grad_link, left, right)
        elif grad_link is not None:
            grad_link = grad_link.clone()

        grad_prev_link = None
        if grad_link is not None:
            # The diagonal of L_t is set to zero: no gradient flows through it.
            grad_link.diagonal(dim1=-2, dim2=-1).zero_()
            if need_link:
                w_i, w_j = write_weights.unsqueeze(-1), write_weights.unsqueeze(-2)
                grad_prev_link = ((1.0 - w_i) - w_j) * grad_link
            if need_precedence:
                from_link = torch.bmm(write_weights.unsqueeze(1), grad_link).squeeze(1)
                grad_prev_precedence = (
                    from_link if grad_prev_precedence is None else grad_prev_precedence + from_link
                )
            if need_write:
                grad_times_link = grad_link * link
                grad_write += (
                    torch.bmm(precedence.unsqueeze(1), grad_link.transpose(1, 2)).squeeze(1)
                    - grad_times_link.sum(dim=-1)
                    - grad_times_link.sum(dim=-2)
                )
        return grad_prev_link, grad_prev_precedence, grad_write, grad_bq, grad_fq


def temporal_linkage(
    link: Tensor,
    precedence: Tensor,
    write_weights: Tensor,
    backward_queries: Tensor,
    forward_queries: Tensor,
) -> tuple[Tensor, Tensor, Tensor]:
    """L_t, p_t and the mode-weighted directional reads (see ``TemporalLinkage``).

    Args:
        link: ``[B, Wh, N, N]`` L_{t-1}.
        precedence: ``[B, Wh, N]`` p_{t-1}.
        write_weights: ``[B, Wh, N]`` w^w_t.
        backward_queries: ``[B, Wh, R, N]`` pi^b_h w^r_{t-1} per write head h.
        forward_queries: ``[B, Wh, R, N]`` pi^f_h w^r_{t-1}.
    Returns:
        L_t ``[B, Wh, N, N]``, p_t ``[B, Wh, N]``, and ``[B, R, N]``
        ``sum_h pi^b_h L_h^T w^r_{t-1} + pi^f_h L_h w^r_{t-1}``.
    """
    b, n_write, n_read, n = backward_queries.shape
    k = b * n_write
    new_link, new_precedence, directional = apply(
        TemporalLinkage,
        link.reshape(k, n, n),
        precedence.reshape(k, n),
        write_weights.reshape(k, n),
        backward_queries.reshape(k, n_read, n),
        forward_queries.reshape(k, n_read, n),
    )
    directional = directional.view(b, n_write, n_read, n)
    directional = directional.squeeze(1) if n_write == 1 else directional.sum(dim=1)
    return (
        new_link.view(b, n_write, n, n),
        new_precedence.view(b, n_write, n),
        directional,
    )

"""Sparse temporal links of the DNC (Rae et al. 2016, "Scaling Memory-Augmented Neural
Networks with Sparse Reads and Writes", the Sparse DNC), with fixed-shape tensors.

The dense links (``memrl.memory.dnc_kernels.temporal_linkage``) keep ``L [B, Wh, N, N]``:
O(N^2) time and state per step. Here, as in the Sparse DNC, each write head keeps

* a forward matrix, the K largest entries of each row i of L (``L[i, j]``: slot i was
  written right after slot j), used by the forward reads ``f = L w``;
* a backward matrix, the K largest entries of each column j of L, used by the backward
  reads ``b = L^T w``;
* the precedence p, truncated to its K largest entries;

each as indices and values of shape ``[B, Wh, N, K]`` (``[B, Wh, K]`` for p), so every step
costs O(N K) and the shapes never change (no Python loop over batch elements or slots; fine
for ``torch.compile`` and CUDA).

Update rule (the dense formulas of ``addressing.update_link`` / ``update_precedence``
applied to the truncated state, then truncated again to the top K)::

    L_t[i, j] = (1 - w[i] - w[j]) L_{t-1}[i, j] + w[i] p_{t-1}[j]     (diagonal zero)
    forward row i:     keep the K largest L_t[i, :]
    backward column j: keep the K largest L_t[:, j]
    p_t = topK((1 - sum_i w[i]) p_{t-1} + w)

computed on candidates only: a forward row's new entries can only be at the K slots of
p_{t-1}; a backward column j's new entries are ``w[i] p[j]``, so (entries being
non-negative, as ``w[i] + w[j] <= 1`` for DNC write weightings) its top K lies among the
old K entries and the K + 1 slots of largest w (one more, in case one is j itself). Equal
values (zeros) may be kept at other slots than a dense top K would keep; the matrices are
the same. With K >= N nothing is truncated and the result is the dense one.

Each row's indices stay distinct and off the diagonal: candidates that repeat an old index
or sit on the diagonal get the value -inf, below any kept entry.

Shape legend:
    B batch    N memory slots    R read heads    Wh write heads
    K link entries kept per row (``min(k, N - 1)``)    P precedence entries (``min(k, N)``)
    M = B * Wh (batch and write heads flattened)
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from memrl.checks import check_int


class SparseLink(NamedTuple):
    """The K largest temporal links per row and per column, per write head.

    Attributes:
        forward_index: ``[B, Wh, N, K]`` long: for row i, the slots j of the kept ``L[i, j]``.
        forward_value: ``[B, Wh, N, K]`` those ``L[i, j]``.
        backward_index: ``[B, Wh, N, K]`` long: for column j, the slots i of the kept
            ``L[i, j]``.
        backward_value: ``[B, Wh, N, K]`` those ``L[i, j]``.
    """

    forward_index: Tensor
    forward_value: Tensor
    backward_index: Tensor
    backward_value: Tensor


class SparsePrecedence(NamedTuple):
    """The K largest precedence weights per write head.

    Attributes:
        index: ``[B, Wh, P]`` long: slots, distinct.
        value: ``[B, Wh, P]`` p at those slots.
    """

    index: Tensor
    value: Tensor


def link_widths(slots: int, k: int) -> tuple[int, int]:
    """``(K, P)``: the link entries kept per row/column and the precedence entries kept.

    A row has at most N - 1 off-diagonal entries and p at most N.
    """
    slots = check_int("memory_slots", slots, minimum=1)
    k = check_int("link_top_k", k, minimum=1)
    return min(k, slots - 1), min(k, slots)


def initial_sparse_link(
    batch: int,
    heads: int,
    slots: int,
    k: int,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> tuple[SparseLink, SparsePrecedence]:
    """No links and no precedence: all values zero.

    The zero entries still name distinct off-diagonal slots (row n: slots n + 1, ..., n + K
    modulo N; precedence: slots 0, ..., P - 1), the invariant the update relies on.

    Returns:
        ``SparseLink`` of ``[batch, heads, slots, K]`` and ``SparsePrecedence`` of
        ``[batch, heads, P]`` (see ``link_widths``).
    """
    width, precedence_width = link_widths(slots, k)
    rows = torch.arange(slots, device=device).unsqueeze(-1)
    offsets = torch.arange(1, width + 1, device=device)
    index = ((rows + offsets) % slots).expand(batch, heads, slots, width)
    value = torch.zeros(batch, heads, slots, width, device=device, dtype=dtype)
    precedence_index = torch.arange(precedence_width, device=device)
    precedence_value = torch.zeros(batch, heads, precedence_width, device=device, dtype=dtype)
    return (
        SparseLink(index, value, index, value),
        SparsePrecedence(precedence_index.expand(batch, heads, -1), precedence_value),
    )


def _update_rows(
    index: Tensor,
    value: Tensor,
    write: Tensor,
    row: Tensor,
    column: Tensor,
    new_index: Tensor,
    new_value: Tensor,
) -> tuple[Tensor, Tensor]:
    """One sparse matrix S (rows n, K entries each) of ``S_t[n, m] = (1 - w[n] - w[m])
    S_{t-1}[n, m] + row[n] column[m]``, zero diagonal, truncated to the K largest per row.

    The forward matrix is L (row = w, column = p), the backward one L^T (row = p,
    column = w); ``column`` is zero outside ``new_index``, where it is ``new_value``.

    Args:
        index, value: ``[M, N, K]`` S_{t-1}.
        write: ``[M, N]`` w.
        row: ``[M, N]`` the row factor.
        column: ``[M, N]`` the column factor, dense.
        new_index, new_value: ``[M, C]`` the slots where ``column`` may be non-zero, and
            its values there.
    Returns:
        ``[M, N, K]`` indices and values of S_t.
    """
    m, n, k = index.shape
    flat = index.reshape(m, 1, n * k).expand(m, 2, n * k)
    at_index = torch.stack([write, column], dim=1).gather(-1, flat).view(m, 2, n, k)
    decay = (1.0 - write.unsqueeze(-1)) - at_index[:, 0]
    old = torch.addcmul(decay * value, row.unsqueeze(-1), at_index[:, 1])

    # Candidates already among the old entries (their new part is in ``old``) or on the
    # diagonal are never kept. They are found in O(N K) through the candidate position of
    # each slot (c, or c = C for slots that are no candidate).
    c = new_index.shape[-1]
    positions = torch.arange(c, device=index.device).expand(m, c)
    position_of = torch.full((m, n), c, device=index.device).scatter(-1, new_index, positions)
    hits = torch.cat(
        [position_of.gather(-1, index.reshape(m, n * k)).view(m, n, k), position_of.unsqueeze(-1)],
        dim=-1,
    )
    repeated = torch.zeros(m, n, c + 1, dtype=torch.bool, device=index.device)
    repeated = repeated.scatter(-1, hits, True)[..., :c]
    fresh = (row.unsqueeze(-1) * new_value.unsqueeze(1)).masked_fill(repeated, -torch.inf)

    candidates = torch.cat([old, fresh], dim=-1)
    candidate_index = torch.cat([index, new_index.unsqueeze(1).expand(m, n, -1)], dim=-1)
    kept, position = candidates.topk(k, dim=-1, sorted=False)
    return candidate_index.gather(-1, position), kept


def _sparse_reads(index: Tensor, value: Tensor, queries: Tensor) -> Tensor:
    """``out[r, n] = sum_k value[n, k] queries[r, index[n, k]]``: ``[M, R, N]``.

    Args:
        index, value: ``[M, N, K]`` a row-sparse matrix.
        queries: ``[M, R, N]``.
    """
    m, n, k = index.shape
    r = queries.shape[1]
    gathered = queries.gather(-1, index.reshape(m, 1, n * k).expand(m, r, n * k))
    return (gathered.view(m, r, n, k) * value.unsqueeze(1)).sum(dim=-1)


def sparse_temporal_linkage(
    link: SparseLink,
    precedence: SparsePrecedence,
    write_weights: Tensor,
    backward_queries: Tensor,
    forward_queries: Tensor,
) -> tuple[SparseLink, SparsePrecedence, Tensor]:
    """Sparse L_t, p_t and the mode-weighted directional reads.

    The contract of ``dnc_kernels.temporal_linkage`` with the sparse state: with K >= N - 1
    the same values and gradients.

    Args:
        link: ``SparseLink`` of ``[B, Wh, N, K]``, L_{t-1}.
        precedence: ``SparsePrecedence`` of ``[B, Wh, P]``, p_{t-1}.
        write_weights: ``[B, Wh, N]`` w^w_t (non-negative, ``w[i] + w[j] <= 1``).
        backward_queries: ``[B, Wh, R, N]`` pi^b_h w^r_{t-1} per write head h.
        forward_queries: ``[B, Wh, R, N]`` pi^f_h w^r_{t-1}.
    Returns:
        L_t (``SparseLink``), p_t (``SparsePrecedence``) and ``[B, R, N]``
        ``sum_h pi^b_h L_h^T w^r_{t-1} + pi^f_h L_h w^r_{t-1}`` with the kept entries.
    """
    b, n_write, n_read, n = backward_queries.shape
    k = link.forward_index.shape[-1]
    m = b * n_write
    write = write_weights.reshape(m, n)
    old_index = precedence.index.reshape(m, -1)
    old_value = precedence.value.reshape(m, -1)
    dense_precedence = write.new_zeros(m, n).scatter(-1, old_index, old_value)

    def flat(x: Tensor) -> Tensor:
        return x.reshape(m, n, k)

    forward_index, forward_value = _update_rows(
        flat(link.forward_index),
        flat(link.forward_value),
        write,
        write,
        dense_precedence,
        old_index,
        old_value,
    )
    top_write, top_write_index = write.topk(min(k + 1, n), dim=-1, sorted=False)
    backward_index, backward_value = _update_rows(
        flat(link.backward_index),
        flat(link.backward_value),
        write,
        dense_precedence,
        write,
        top_write_index,
        top_write,
    )

    written = write.sum(dim=-1, keepdim=True)
    new_precedence = torch.addcmul(write, 1.0 - written, dense_precedence)
    precedence_value, precedence_index = new_precedence.topk(
        old_index.shape[-1], dim=-1, sorted=False
    )

    directional = _sparse_reads(
        forward_index, forward_value, forward_queries.reshape(m, n_read, n)
    ) + _sparse_reads(backward_index, backward_value, backward_queries.reshape(m, n_read, n))
    directional = directional.view(b, n_write, n_read, n)
    directional = directional.squeeze(1) if n_write == 1 else directional.sum(dim=1)

    def shaped(x: Tensor) -> Tensor:
        return x.view(b, n_write, n, k)

    return (
        SparseLink(
            shaped(forward_index),
            shaped(forward_value),
            shaped(backward_index),
            shaped(backward_value),
        ),
        SparsePrecedence(
            precedence_index.view(b, n_write, -1), precedence_value.view(b, n_write, -1)
        ),
        directional,
    )


def dense_link(link: SparseLink) -> tuple[Tensor, Tensor]:
    """The forward and backward matrices as dense ``[B, Wh, N, N]`` L (for tests and
    inspection; O(N^2)): entries not kept are zero."""
    forward = torch.zeros(
        *link.forward_value.shape[:-1],
        link.forward_value.shape[-2],
        dtype=link.forward_value.dtype,
        device=link.forward_value.device,
    )
    backward = forward.scatter(-1, link.backward_index, link.backward_value).transpose(-1, -2)
    return forward.scatter(-1, link.forward_index, link.forward_value), backward


def dense_precedence(precedence: SparsePrecedence, slots: int) -> Tensor:
    """p as a dense ``[B, Wh, N]`` (zero where not kept)."""
    zeros = precedence.value.new_zeros(*precedence.value.shape[:-1], slots)
    return zeros.scatter(-1, precedence.index, precedence.value)

"""The sparse temporal links (``memrl.memory.sparse_link``): equal to the dense
``temporal_linkage`` when nothing is truncated, and to the dense formulas with the same
top-K truncation (a slow reference written here) when K < N - 1; values and gradients, over
several steps of random writes, in float64."""

from __future__ import annotations

import pytest
import torch

from memrl.memory import addressing
from memrl.memory.dnc_kernels import temporal_linkage
from memrl.memory.sparse_link import (
    SparseLink,
    dense_link,
    dense_precedence,
    initial_sparse_link,
    link_widths,
    sparse_temporal_linkage,
)

F64 = torch.float64


def random_steps(steps: int, b: int, heads: int, r: int, n: int, seed: int):
    """Per step: write weights (a gated softmax: positive, summing to < 1) and both queries,
    all leaves that require gradients."""
    generator = torch.Generator().manual_seed(seed)

    def leaf(x):
        return x.requires_grad_()

    out = []
    for _ in range(steps):
        logits = 2.0 * torch.randn(b, heads, n, generator=generator, dtype=F64)
        gate = torch.rand(b, heads, 1, generator=generator, dtype=F64)
        write = leaf((gate * torch.softmax(logits, dim=-1)).detach())
        backward_q = leaf(torch.rand(b, heads, r, n, generator=generator, dtype=F64))
        forward_q = leaf(torch.rand(b, heads, r, n, generator=generator, dtype=F64))
        out.append((write, backward_q, forward_q))
    return out


def keep_top(x: torch.Tensor, k: int, dim: int) -> torch.Tensor:
    """``x`` with all but its k largest entries along ``dim`` set to zero (gradient masked)."""
    index = x.topk(k, dim=dim).indices
    mask = torch.zeros_like(x).scatter(dim, index, 1.0)
    return x * mask


def reference_step(forward, backward, precedence, write, backward_q, forward_q, k):
    """The dense formulas on the truncated state, then top-k per row of the forward L, per
    column of the backward L and of p. All ``[B, Wh, N, N]`` / ``[B, Wh, N]``."""
    width, precedence_width = link_widths(write.shape[-1], k)
    forward = keep_top(addressing.update_link(forward, precedence, write), width, dim=-1)
    backward = keep_top(addressing.update_link(backward, precedence, write), width, dim=-2)
    precedence = keep_top(addressing.update_precedence(precedence, write), precedence_width, dim=-1)
    reads = torch.einsum("bhij,bhrj->bri", forward, forward_q)
    reads = reads + torch.einsum("bhij,bhri->brj", backward, backward_q)
    return forward, backward, precedence, reads


def run_sparse(inputs, b, heads, n, k):
    link, precedence = initial_sparse_link(b, heads, n, k, dtype=F64)
    reads = []
    for write, backward_q, forward_q in inputs:
        link, precedence, directional = sparse_temporal_linkage(
            link, precedence, write, backward_q, forward_q
        )
        reads.append(directional)
    forward, backward = dense_link(link)
    return forward, backward, dense_precedence(precedence, n), reads


def run_dense(inputs, b, heads, n):
    link = torch.zeros(b, heads, n, n, dtype=F64)
    precedence = torch.zeros(b, heads, n, dtype=F64)
    reads = []
    for write, backward_q, forward_q in inputs:
        link, precedence, directional = temporal_linkage(
            link, precedence, write, backward_q, forward_q
        )
        reads.append(directional)
    return link, link, precedence, reads


def run_reference(inputs, b, heads, n, k):
    forward = torch.zeros(b, heads, n, n, dtype=F64)
    backward = torch.zeros_like(forward)
    precedence = torch.zeros(b, heads, n, dtype=F64)
    reads = []
    for write, backward_q, forward_q in inputs:
        forward, backward, precedence, directional = reference_step(
            forward, backward, precedence, write, backward_q, forward_q, k
        )
        reads.append(directional)
    return forward, backward, precedence, reads


def values_and_gradients(run, inputs, seed: int = 7):
    """All outputs of a run, and the gradients of a random projection of them with respect
    to every write weighting and query."""
    forward, backward, precedence, reads = run(inputs)
    outputs = [forward, backward, precedence, *reads]
    generator = torch.Generator().manual_seed(seed)
    loss = sum(
        (torch.randn(out.shape, generator=generator, dtype=F64) * out).sum() for out in outputs
    )
    leaves = [x for step in inputs for x in step]
    return outputs, torch.autograd.grad(loss, leaves)


@pytest.mark.parametrize(("heads", "k_over_n"), [(1, 0), (2, 0), (1, 3)])
def test_untruncated_equals_dense_temporal_linkage(heads, k_over_n):
    b, r, n = 2, 3, 6
    inputs = random_steps(6, b, heads, r, n, seed=heads)
    k = n + k_over_n
    sparse, sparse_grads = values_and_gradients(lambda i: run_sparse(i, b, heads, n, k), inputs)
    dense, dense_grads = values_and_gradients(lambda i: run_dense(i, b, heads, n), inputs)
    for got, expected in zip(sparse, dense, strict=True):
        torch.testing.assert_close(got, expected)
    for got, expected in zip(sparse_grads, dense_grads, strict=True):
        torch.testing.assert_close(got, expected)


@pytest.mark.parametrize(("heads", "n", "k"), [(1, 9, 3), (2, 8, 2), (1, 12, 1), (2, 7, 5)])
def test_truncated_equals_dense_reference_with_top_k(heads, n, k):
    b, r = 3, 2
    inputs = random_steps(8, b, heads, r, n, seed=10 + n)
    sparse, sparse_grads = values_and_gradients(lambda i: run_sparse(i, b, heads, n, k), inputs)
    expected, expected_grads = values_and_gradients(
        lambda i: run_reference(i, b, heads, n, k), inputs
    )
    for got, want in zip(sparse, expected, strict=True):
        torch.testing.assert_close(got, want)
    for got, want in zip(sparse_grads, expected_grads, strict=True):
        torch.testing.assert_close(got, want)
    # the truncation is real: the dense links differ
    dense, _ = values_and_gradients(lambda i: run_dense(i, b, heads, n), inputs)
    assert not torch.allclose(sparse[0], dense[0])


def test_state_shapes_and_invariants():
    b, heads, n, k = 2, 2, 10, 4
    inputs = random_steps(5, b, heads, 3, n, seed=3)
    link, precedence = initial_sparse_link(b, heads, n, k, dtype=F64)
    for write, backward_q, forward_q in inputs:
        link, precedence, directional = sparse_temporal_linkage(
            link, precedence, write, backward_q, forward_q
        )
        assert directional.shape == (b, 3, n)
        assert precedence.index.shape == precedence.value.shape == (b, heads, k)
        rows = torch.arange(n).view(1, 1, n, 1)
        matrices = [link.forward_index, link.forward_value]
        matrices += [link.backward_index, link.backward_value]
        for index, value in zip(matrices[::2], matrices[1::2], strict=True):
            assert index.shape == value.shape == (b, heads, n, k)
            assert index.dtype == torch.long and value.dtype == F64
            assert not (index == rows).any()  # off the diagonal
            distinct = index.sort(dim=-1).values.diff(dim=-1)
            assert (distinct > 0).all()
            assert (value >= 0).all()


def test_gradcheck_one_step_from_a_random_state():
    b, heads, r, n, k = 2, 2, 2, 7, 3
    generator = torch.Generator().manual_seed(11)
    link, precedence = initial_sparse_link(b, heads, n, k, dtype=F64)
    for write, backward_q, forward_q in random_steps(4, b, heads, r, n, seed=12):
        link, precedence, _ = sparse_temporal_linkage(
            link, precedence, write.detach(), backward_q.detach(), forward_q.detach()
        )
    index = (link.forward_index, link.backward_index, precedence.index)
    # Positive values away from each other: no ties where the top-K selection could flip
    # under gradcheck's perturbations (the reached indices are kept).
    values = [
        0.1 + 0.1 * torch.rand(x.shape, generator=generator, dtype=F64)
        for x in (link.forward_value, link.backward_value, precedence.value)
    ]
    write = 0.5 * torch.softmax(torch.randn(b, heads, n, generator=generator, dtype=F64), -1)
    queries = torch.rand(2, b, heads, r, n, generator=generator, dtype=F64)
    inputs = (*values, write, *queries.unbind(0))
    inputs = tuple(x.detach().requires_grad_() for x in inputs)

    def step(forward_value, backward_value, precedence_value, write, backward_q, forward_q):
        state = SparseLink(index[0], forward_value, index[1], backward_value)
        new_link, new_precedence, directional = sparse_temporal_linkage(
            state,
            precedence._replace(value=precedence_value),
            write,
            backward_q,
            forward_q,
        )
        return new_link.forward_value, new_link.backward_value, new_precedence.value, directional

    assert torch.autograd.gradcheck(step, inputs)


def test_one_slot_has_no_links():
    link, precedence = initial_sparse_link(2, 1, 1, 4)
    assert link.forward_index.shape == (2, 1, 1, 0) and precedence.index.shape == (2, 1, 1)
    write = torch.full((2, 1, 1), 0.5)
    query = torch.ones(2, 1, 3, 1)
    link, precedence, directional = sparse_temporal_linkage(link, precedence, write, query, query)
    assert torch.equal(directional, torch.zeros(2, 3, 1))
    assert torch.equal(precedence.value, torch.full((2, 1, 1), 0.5))


def test_bad_k_is_rejected():
    with pytest.raises(ValueError, match="link_top_k must be an integer >= 1"):
        initial_sparse_link(1, 1, 4, 0)

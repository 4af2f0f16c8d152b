"""memrl.memory.addressing: hand-computed values (numpy), properties, gradcheck, NaN safety."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from memrl.memory import addressing

F64 = torch.float64


def t(values, dtype=F64, requires_grad=False) -> torch.Tensor:
    return torch.tensor(np.asarray(values), dtype=dtype, requires_grad=requires_grad)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def np_softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def random_simplex(*shape: int, seed: int = 0) -> np.ndarray:
    return np_softmax(rng(seed).normal(size=shape))


# ----------------------------------------------------------------------------- content


def np_content_weights(memory, keys, strengths):
    batch, heads = keys.shape[:2]
    out = np.zeros((batch, heads, memory.shape[1]))
    for b in range(batch):
        for h in range(heads):
            k = keys[b, h]
            cosine = memory[b] @ k / (np.linalg.norm(memory[b], axis=-1) * np.linalg.norm(k))
            out[b, h] = np_softmax(strengths[b, h] * cosine)
    return out


def test_content_weights_written_out():
    memory = [[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]]
    keys = [[[2.0, 0.0]]]  # cosine with the rows: 1, 0, 1/sqrt(2)
    strengths = [[2.0]]
    logits = 2.0 * np.array([1.0, 0.0, 1.0 / np.sqrt(2.0)])
    expected = np.exp(logits) / np.exp(logits).sum()
    got = addressing.content_weights(t(memory), t(keys), t(strengths))
    np.testing.assert_allclose(got.numpy()[0, 0], expected, rtol=1e-7)


def test_content_weights_match_numpy():
    r = rng(1)
    memory, keys = r.normal(size=(2, 4, 3)), r.normal(size=(2, 3, 3))
    strengths = r.uniform(0.5, 5.0, size=(2, 3))
    got = addressing.content_weights(t(memory), t(keys), t(strengths))
    np.testing.assert_allclose(got.numpy(), np_content_weights(memory, keys, strengths), rtol=1e-6)
    torch.testing.assert_close(got.sum(-1), torch.ones(2, 3, dtype=F64))


def test_content_weights_prefer_the_matching_row_more_with_higher_strength():
    memory = t([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]])
    keys = t([[[0.0, 3.0, 0.0]]])
    weak = addressing.content_weights(memory, keys, t([[1.0]]))[0, 0]
    strong = addressing.content_weights(memory, keys, t([[50.0]]))[0, 0]
    assert weak.argmax() == 1 and strong.argmax() == 1
    assert strong[1] > weak[1] and strong[1] > 1 - 1e-12


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_content_weights_zero_memory_and_zero_keys_are_nan_free(dtype):
    memory = torch.zeros(2, 4, 3, dtype=dtype, requires_grad=True)
    keys = torch.zeros(2, 2, 3, dtype=dtype, requires_grad=True)
    strengths = torch.full((2, 2), 10.0, dtype=dtype, requires_grad=True)
    weights = addressing.content_weights(memory, keys, strengths)
    torch.testing.assert_close(weights, torch.full_like(weights, 0.25))
    (weights * torch.arange(4, dtype=dtype)).sum().backward()
    for tensor in (memory, keys, strengths):
        assert torch.isfinite(tensor.grad).all()


def test_content_weights_one_zero_row_among_others_is_nan_free():
    memory = torch.tensor([[[0.0, 0.0], [1.0, 2.0], [3.0, -1.0]]], dtype=F64, requires_grad=True)
    keys = torch.tensor([[[1.0, 1.0]]], dtype=F64, requires_grad=True)
    weights = addressing.content_weights(memory, keys, t([[3.0]]))
    weights[..., 1].sum().backward()
    assert torch.isfinite(weights).all()
    assert torch.isfinite(memory.grad).all() and torch.isfinite(keys.grad).all()


def test_content_weights_gradcheck():
    r = rng(2)
    inputs = (
        t(r.normal(size=(2, 4, 3)), requires_grad=True),
        t(r.normal(size=(2, 2, 3)), requires_grad=True),
        t(r.uniform(0.5, 3.0, size=(2, 2)), requires_grad=True),
    )
    assert torch.autograd.gradcheck(addressing.content_weights, inputs)


# ----------------------------------------------------------------------------- interpolate


def test_interpolate_written_out():
    w_content = [[[0.7, 0.2, 0.1]]]
    w_prev = [[[0.0, 0.0, 1.0]]]
    got = addressing.interpolate(t(w_content), t(w_prev), t([[0.25]]))
    # 0.25 * content + 0.75 * previous
    np.testing.assert_allclose(got.numpy()[0, 0], [0.175, 0.05, 0.775], rtol=1e-12)


def test_interpolate_keeps_normalisation_and_gate_extremes():
    w_content, w_prev = t(random_simplex(2, 3, 5, seed=3)), t(random_simplex(2, 3, 5, seed=4))
    gate = t(rng(5).uniform(size=(2, 3)))
    mixed = addressing.interpolate(w_content, w_prev, gate)
    torch.testing.assert_close(mixed.sum(-1), torch.ones(2, 3, dtype=F64))
    ones, zeros = torch.ones_like(gate), torch.zeros_like(gate)
    torch.testing.assert_close(addressing.interpolate(w_content, w_prev, ones), w_content)
    torch.testing.assert_close(addressing.interpolate(w_content, w_prev, zeros), w_prev)


def test_interpolate_gradcheck():
    inputs = (
        t(random_simplex(2, 2, 4, seed=6), requires_grad=True),
        t(random_simplex(2, 2, 4, seed=7), requires_grad=True),
        t(rng(8).uniform(size=(2, 2)), requires_grad=True),
    )
    assert torch.autograd.gradcheck(addressing.interpolate, inputs)


# ----------------------------------------------------------------------------- shift


def np_shift(weights, kernel):
    """Graves et al. eq. 8: w~(i) = sum_j w(j) s(i - j), kernel index k is the shift k - S//2."""
    n, size = weights.shape[-1], kernel.shape[-1]
    out = np.zeros_like(weights)
    for i in range(n):
        for k in range(size):
            offset = k - size // 2
            out[..., i] += weights[..., (i - offset) % n] * kernel[..., k]
    return out


def test_shift_written_out():
    weights = [[[0.1, 0.2, 0.3, 0.4]]]
    kernel = [[[0.5, 0.3, 0.2]]]  # shift -1 with 0.5, stay with 0.3, +1 with 0.2
    got = addressing.shift(t(weights), t(kernel))[0, 0].numpy()
    # slot i receives 0.5 * w[i+1] + 0.3 * w[i] + 0.2 * w[i-1] (circular)
    expected = [
        0.5 * 0.2 + 0.3 * 0.1 + 0.2 * 0.4,
        0.5 * 0.3 + 0.3 * 0.2 + 0.2 * 0.1,
        0.5 * 0.4 + 0.3 * 0.3 + 0.2 * 0.2,
        0.5 * 0.1 + 0.3 * 0.4 + 0.2 * 0.3,
    ]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("size", [1, 3, 5])
def test_shift_matches_numpy(size):
    weights, kernel = random_simplex(2, 3, 6, seed=9), random_simplex(2, 3, size, seed=10)
    got = addressing.shift(t(weights), t(kernel)).numpy()
    np.testing.assert_allclose(got, np_shift(weights, kernel), rtol=1e-12)
    np.testing.assert_allclose(got.sum(-1), 1.0, rtol=1e-12)


def test_shift_kernel_plus_one_moves_each_slot_forward_circularly():
    weights = torch.eye(4, dtype=F64).unsqueeze(0)  # head i has all weight on slot i
    kernel = t([[[0.0, 0.0, 1.0]] * 4])
    moved = addressing.shift(weights, kernel)
    torch.testing.assert_close(moved[0], torch.roll(torch.eye(4, dtype=F64), 1, dims=-1))
    assert moved[0, 3, 0] == 1.0  # slot 3 wraps to slot 0


def test_shift_identity_kernel_changes_nothing():
    weights = t(random_simplex(1, 2, 5, seed=11))
    torch.testing.assert_close(addressing.shift(weights, t([[[0.0, 1.0, 0.0]] * 2])), weights)


def test_shift_even_kernel_is_refused():
    with pytest.raises(ValueError, match="odd"):
        addressing.shift(torch.ones(1, 1, 4), torch.ones(1, 1, 2) / 2)


def test_shift_gradcheck():
    inputs = (
        t(random_simplex(2, 2, 5, seed=12), requires_grad=True),
        t(random_simplex(2, 2, 3, seed=13), requires_grad=True),
    )
    assert torch.autograd.gradcheck(addressing.shift, inputs)


# ----------------------------------------------------------------------------- sharpen


def test_sharpen_written_out():
    got = addressing.sharpen(t([[[0.5, 0.25, 0.25]]]), t([[2.0]]))
    # squares 0.25, 0.0625, 0.0625 over their sum 0.375
    np.testing.assert_allclose(got[0, 0].numpy(), [2 / 3, 1 / 6, 1 / 6], rtol=1e-12)


def test_sharpen_matches_numpy():
    weights, gamma = random_simplex(2, 3, 4, seed=14), rng(15).uniform(1.0, 6.0, size=(2, 3))
    expected = weights ** gamma[..., None]
    expected /= expected.sum(-1, keepdims=True)
    got = addressing.sharpen(t(weights), t(gamma)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_sharpen_gamma_one_keeps_a_normalised_weighting():
    weights = t(random_simplex(2, 2, 5, seed=16))
    torch.testing.assert_close(addressing.sharpen(weights, torch.ones(2, 2, dtype=F64)), weights)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_sharpen_is_stable_for_huge_gamma_and_tiny_weights(dtype):
    weights = torch.tensor(
        [[[1e-30, 0.0, 0.6, 0.4], [0.0, 0.0, 0.0, 0.0], [1e-30, 1e-30, 0.0, 1e-35]]],
        dtype=dtype,
        requires_grad=True,
    )
    gamma = torch.full((1, 3), 1e4, dtype=dtype, requires_grad=True)
    sharp = addressing.sharpen(weights, gamma)
    assert torch.isfinite(sharp).all()
    torch.testing.assert_close(sharp.sum(-1), torch.ones(1, 3, dtype=dtype))
    assert sharp[0, 0, 2] == 1.0  # 0.6 ** 1e4 dominates 0.4 ** 1e4 completely
    torch.testing.assert_close(sharp[0, 1], torch.full((4,), 0.25, dtype=dtype))
    (sharp * torch.arange(4, dtype=dtype)).sum().backward()
    assert torch.isfinite(weights.grad).all() and torch.isfinite(gamma.grad).all()


def test_sharpen_gradcheck():
    inputs = (
        t(random_simplex(2, 2, 4, seed=17), requires_grad=True),
        t(rng(18).uniform(1.0, 4.0, size=(2, 2)), requires_grad=True),
    )
    assert torch.autograd.gradcheck(addressing.sharpen, inputs)


# ----------------------------------------------------------------------------- DNC usage


def np_update_usage(usage, write_weights, free_gates, read_weights):
    written = 1.0 - np.prod(1.0 - write_weights, axis=1)
    usage = usage + written - usage * written
    retention = np.ones_like(usage)
    for i in range(read_weights.shape[1]):
        retention *= 1.0 - free_gates[:, i : i + 1] * read_weights[:, i]
    return usage * retention


def test_update_usage_written_out():
    usage = [[0.5, 0.0, 1.0]]
    write_weights = [[[0.5, 0.5, 0.0]]]
    free_gates = [[1.0]]
    read_weights = [[[0.0, 0.0, 0.5]]]
    got = addressing.update_usage(t(usage), t(write_weights), t(free_gates), t(read_weights))
    # slot 0: 0.5 + 0.5 - 0.25 = 0.75; slot 1: 0.5; slot 2: 1.0 freed by half -> 0.5
    np.testing.assert_allclose(got[0].numpy(), [0.75, 0.5, 0.5], rtol=1e-12)


def test_update_usage_matches_numpy_and_stays_in_unit_interval():
    r = rng(19)
    args = (
        r.uniform(size=(2, 5)),
        random_simplex(2, 2, 5, seed=20),
        r.uniform(size=(2, 3)),
        random_simplex(2, 3, 5, seed=21),
    )
    got = addressing.update_usage(*map(t, args)).numpy()
    np.testing.assert_allclose(got, np_update_usage(*args), rtol=1e-12)
    assert (got >= 0).all() and (got <= 1).all()


def test_update_usage_gradcheck():
    r = rng(22)
    inputs = (
        t(r.uniform(size=(2, 4)), requires_grad=True),
        t(random_simplex(2, 2, 4, seed=23), requires_grad=True),
        t(r.uniform(size=(2, 2)), requires_grad=True),
        t(random_simplex(2, 2, 4, seed=24), requires_grad=True),
    )
    assert torch.autograd.gradcheck(addressing.update_usage, inputs)


# ----------------------------------------------------------------------------- allocation


def test_allocation_weights_written_out():
    # free list (ascending usage): slot 1 (0.1), slot 0 (0.4), slot 2 (0.7)
    got = addressing.allocation_weights(t([[0.4, 0.1, 0.7]]))[0].numpy()
    expected = [0.6 * 0.1, 0.9, 0.3 * 0.1 * 0.4]
    np.testing.assert_allclose(got, expected, atol=1e-5)  # usage is squeezed by 1e-6


def test_allocation_weights_match_numpy_formula():
    usage = rng(25).uniform(size=(3, 6))
    expected = np.zeros_like(usage)
    for b in range(3):
        running = 1.0
        for slot in np.argsort(usage[b]):
            expected[b, slot] = (1 - usage[b, slot]) * running
            running *= usage[b, slot]
    got = addressing.allocation_weights(t(usage)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_allocation_weights_properties():
    usage = t(rng(26).uniform(size=(4, 6)))
    alloc = addressing.allocation_weights(usage)
    assert (alloc >= 0).all() and (alloc.sum(-1) <= 1 + 1e-12).all()
    assert torch.equal(alloc.argmax(-1), usage.argmin(-1)), "least used slot gets the most"
    full = addressing.allocation_weights(torch.ones(2, 5, dtype=F64))
    assert full.abs().max() < 1e-6, "a fully used memory has nothing to allocate"
    empty = addressing.allocation_weights(torch.zeros(1, 5, dtype=F64))
    assert empty.sum() == pytest.approx(1.0, abs=1e-5)


def test_allocation_weights_gradcheck():
    usage = t([[0.1, 0.5, 0.3, 0.8], [0.9, 0.2, 0.6, 0.4]], requires_grad=True)  # distinct
    assert torch.autograd.gradcheck(addressing.allocation_weights, (usage,))


# ----------------------------------------------------------------------------- precedence


def test_update_precedence_written_out():
    precedence = [[[0.2, 0.6, 0.0]]]
    write_weights = [[[0.0, 0.25, 0.5]]]
    got = addressing.update_precedence(t(precedence), t(write_weights))
    # (1 - 0.75) * p + w
    np.testing.assert_allclose(got[0, 0].numpy(), [0.05, 0.4, 0.5], rtol=1e-12)


def test_update_precedence_matches_numpy_and_stays_a_sub_distribution():
    precedence = random_simplex(2, 2, 5, seed=27) * 0.8
    write_weights = random_simplex(2, 2, 5, seed=28) * 0.6
    got = addressing.update_precedence(t(precedence), t(write_weights)).numpy()
    expected = (1 - write_weights.sum(-1, keepdims=True)) * precedence + write_weights
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert (got.sum(-1) <= 1 + 1e-12).all()


def test_update_precedence_gradcheck():
    inputs = (
        t(random_simplex(2, 2, 4, seed=29) * 0.5, requires_grad=True),
        t(random_simplex(2, 2, 4, seed=30) * 0.9, requires_grad=True),
    )
    assert torch.autograd.gradcheck(addressing.update_precedence, inputs)


# ----------------------------------------------------------------------------- link


def np_update_link(link, precedence, write_weights):
    out = np.zeros_like(link)
    n = link.shape[-1]
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            w_i, w_j = write_weights[..., i], write_weights[..., j]
            out[..., i, j] = (1 - w_i - w_j) * link[..., i, j] + w_i * precedence[..., j]
    return out


def test_update_link_written_out():
    link = np.zeros((1, 1, 3, 3))
    precedence = [[[1.0, 0.0, 0.0]]]  # slot 0 was written last
    write_weights = [[[0.0, 1.0, 0.0]]]  # now slot 1 is written
    got = addressing.update_link(t(link), t(precedence), t(write_weights))[0, 0].numpy()
    expected = np.zeros((3, 3))
    expected[1, 0] = 1.0  # slot 1 written right after slot 0
    np.testing.assert_allclose(got, expected, atol=0)


def test_update_link_matches_numpy_with_zero_diagonal():
    r = rng(31)
    link = r.uniform(size=(2, 2, 4, 4)) * 0.3
    precedence = random_simplex(2, 2, 4, seed=32)
    write_weights = random_simplex(2, 2, 4, seed=33)
    got = addressing.update_link(t(link), t(precedence), t(write_weights)).numpy()
    np.testing.assert_allclose(got, np_update_link(link, precedence, write_weights), rtol=1e-12)
    assert np.all(np.diagonal(got, axis1=-2, axis2=-1) == 0.0)


def test_update_link_gradcheck():
    inputs = (
        t(rng(34).uniform(size=(1, 2, 3, 3)) * 0.3, requires_grad=True),
        t(random_simplex(1, 2, 3, seed=35), requires_grad=True),
        t(random_simplex(1, 2, 3, seed=36), requires_grad=True),
    )
    assert torch.autograd.gradcheck(addressing.update_link, inputs)


# ----------------------------------------------------------------------------- directional


def test_directional_weights_written_out():
    link = np.zeros((1, 1, 3, 3))
    link[0, 0, 1, 0] = 1.0  # 0 -> 1
    link[0, 0, 2, 1] = 1.0  # 1 -> 2
    read = t([[[0.0, 1.0, 0.0]]])  # reading slot 1
    forward = addressing.directional_weights(t(link), read, forward=True)
    backward = addressing.directional_weights(t(link), read, forward=False)
    np.testing.assert_allclose(forward[0, 0, 0].numpy(), [0.0, 0.0, 1.0])  # next: slot 2
    np.testing.assert_allclose(backward[0, 0, 0].numpy(), [1.0, 0.0, 0.0])  # previous: 0


def test_directional_weights_match_numpy():
    link = rng(37).uniform(size=(2, 2, 4, 4))
    read = random_simplex(2, 3, 4, seed=38)
    expected_forward = np.einsum("bwij,brj->brwi", link, read)
    expected_backward = np.zeros((2, 3, 2, 4))
    for b in range(2):
        for r in range(3):
            for w in range(2):
                expected_forward[b, r, w] = link[b, w] @ read[b, r]
                expected_backward[b, r, w] = link[b, w].T @ read[b, r]
    for forward, expected in [(True, expected_forward), (False, expected_backward)]:
        got = addressing.directional_weights(t(link), t(read), forward=forward).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("forward", [True, False])
def test_directional_weights_gradcheck(forward):
    inputs = (
        t(rng(39).uniform(size=(1, 2, 3, 3)), requires_grad=True),
        t(random_simplex(1, 2, 3, seed=40), requires_grad=True),
    )
    assert torch.autograd.gradcheck(
        lambda link, read: addressing.directional_weights(link, read, forward), inputs
    )


# ----------------------------------------------------------------------------- erase and add


def test_erase_and_add_written_out():
    memory = [[[1.0, 2.0], [3.0, 4.0]]]
    write_weights = [[[0.5, 0.25]]]
    erase = [[[1.0, 0.0]]]
    add = [[[10.0, 20.0]]]
    got = addressing.erase_and_add(t(memory), t(write_weights), t(erase), t(add))[0].numpy()
    # row 0: [1 * (1 - 0.5), 2] + 0.5 * [10, 20]; row 1: [3 * (1 - 0.25), 4] + 0.25 * [10, 20]
    np.testing.assert_allclose(got, [[5.5, 12.0], [4.75, 9.0]], rtol=1e-12)


def test_erase_and_add_matches_sequential_heads_in_numpy():
    """Graves et al. 2014: erasures commute, additions commute; erase all, then add all."""
    r = rng(41)
    memory = r.normal(size=(2, 4, 3))
    write_weights = random_simplex(2, 3, 4, seed=42)
    erase, add = r.uniform(size=(2, 3, 3)), r.normal(size=(2, 3, 3))
    expected = memory.copy()
    for h in range(3):
        expected = expected * (1 - write_weights[:, h, :, None] * erase[:, h, None, :])
    for h in range(3):
        expected = expected + write_weights[:, h, :, None] * add[:, h, None, :]
    got = addressing.erase_and_add(t(memory), t(write_weights), t(erase), t(add)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_erase_and_add_full_erase_replaces_the_slot():
    memory = torch.arange(6, dtype=F64).view(1, 3, 2)
    write_weights = t([[[0.0, 1.0, 0.0]]])
    got = addressing.erase_and_add(
        memory, write_weights, torch.ones(1, 1, 2, dtype=F64), t([[[7.0, 8.0]]])
    )
    torch.testing.assert_close(got, t([[[0.0, 1.0], [7.0, 8.0], [4.0, 5.0]]]))


def test_erase_and_add_gradcheck():
    r = rng(43)
    inputs = (
        t(r.normal(size=(2, 3, 2)), requires_grad=True),
        t(random_simplex(2, 2, 3, seed=44), requires_grad=True),
        t(r.uniform(size=(2, 2, 2)), requires_grad=True),
        t(r.normal(size=(2, 2, 2)), requires_grad=True),
    )
    assert torch.autograd.gradcheck(addressing.erase_and_add, inputs)


# ----------------------------------------------------------------------------- Gumbel / argmax


def test_gumbel_softmax_hard_is_exactly_one_hot():
    torch.manual_seed(0)
    for dtype in (torch.float32, F64):
        logits = torch.randn(500, 7, dtype=dtype)
        sample = addressing.gumbel_softmax(logits, 0.7, hard=True)
        assert ((sample == 0) | (sample == 1)).all()
        assert (sample.sum(-1) == 1).all()


def test_gumbel_softmax_samples_follow_the_softmax_of_the_logits():
    probabilities = np.array([0.2, 0.3, 0.5])
    torch.manual_seed(1)
    logits = t(np.log(probabilities)).expand(20000, 3)
    frequencies = addressing.gumbel_softmax(logits, 1.0, hard=True).mean(0).numpy()
    # 20000 draws: the standard error of each frequency is below 0.0036; 0.02 is > 5 sigma.
    np.testing.assert_allclose(frequencies, probabilities, atol=0.02)


def test_gumbel_softmax_hard_has_the_straight_through_gradient_of_the_soft_sample():
    logits = torch.randn(4, 5, dtype=F64, requires_grad=True)
    direction = torch.randn(4, 5, dtype=F64)
    torch.manual_seed(3)
    (grad_hard,) = torch.autograd.grad(
        (addressing.gumbel_softmax(logits, 0.5, hard=True) * direction).sum(), logits
    )
    torch.manual_seed(3)
    (grad_soft,) = torch.autograd.grad(
        (addressing.gumbel_softmax(logits, 0.5, hard=False) * direction).sum(), logits
    )
    assert grad_hard.abs().sum() > 0
    torch.testing.assert_close(grad_hard, grad_soft)


def test_gumbel_softmax_soft_is_normalised_and_gradcheck():
    logits = torch.randn(3, 4, dtype=F64, requires_grad=True)
    soft = addressing.gumbel_softmax(logits, 2.0, hard=False)
    torch.testing.assert_close(soft.sum(-1), torch.ones(3, dtype=F64))
    assert ((soft > 0) & (soft < 1)).all()

    def seeded(x: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(4)  # the same noise on every call gradcheck makes
        return addressing.gumbel_softmax(x, 2.0, hard=False)

    assert torch.autograd.gradcheck(seeded, (logits,))


def test_gumbel_softmax_accepts_a_tensor_temperature_and_minus_inf_logits():
    logits = t([[0.0, float("-inf"), 1.0, float("-inf")]]).expand(200, 4).requires_grad_(True)
    sample = addressing.gumbel_softmax(logits, torch.tensor(0.3, dtype=F64), hard=True)
    assert (sample[:, [1, 3]] == 0).all(), "an impossible slot is never drawn"
    sample[:, 0].sum().backward()
    assert torch.isfinite(logits.grad).all()


def test_straight_through_has_hard_values_and_the_soft_gradient():
    # logits ln 1, ln 3 at tau 1: soft = (0.25, 0.75); d soft_1 / d logits = soft_1 (e_1 - soft)
    # = 0.75 * (-0.25, 0.25) = (-0.1875, 0.1875).
    logits = t([[0.0, np.log(3.0)]]).requires_grad_(True)
    hard = addressing.one_hot_argmax(logits)
    out = addressing.straight_through(hard, logits, 1.0)
    assert torch.equal(out.detach(), hard)
    out[0, 1].backward()
    np.testing.assert_allclose(logits.grad.numpy(), [[-0.1875, 0.1875]], atol=1e-12)
    with torch.no_grad():
        assert addressing.straight_through(hard, logits, 1.0) is hard


@pytest.mark.parametrize("tau", [0.0, -1.0])
def test_gumbel_softmax_refuses_non_positive_temperature(tau):
    with pytest.raises(ValueError, match="tau"):
        addressing.gumbel_softmax(torch.zeros(2, 3), tau)


def test_one_hot_argmax_written_out_and_deterministic():
    logits = t([[0.1, 0.7, 0.2], [-1.0, -3.0, -2.0]])
    expected = [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    first = addressing.one_hot_argmax(logits)
    np.testing.assert_array_equal(first.numpy(), expected)
    torch.manual_seed(123)  # no randomness involved: a different seed changes nothing
    assert torch.equal(addressing.one_hot_argmax(logits), first)
    assert first.dtype == logits.dtype

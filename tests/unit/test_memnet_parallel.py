"""MemNet's sequence form: the whole-sequence unroll (``feedback=False``: all steps read at
once) equals stepping one step at a time and a plain slot-by-slot reference, across
episode starts, ring wrap-around and chunks; the hand-written read kernel's gradients."""

from __future__ import annotations

import math

import pytest
import torch

from memrl.memory import MemNet, make_core
from memrl.memory.base import reset_where
from memrl.memory.memnet import MemNetState, _SoftRead

INPUT = 3


def reference_step(core: MemNet, x: torch.Tensor, state: MemNetState):
    """The ring buffer written out slot by slot, as MemNet's docstring defines it."""
    n = core.memory_slots
    slots = torch.arange(n, dtype=x.dtype)
    write = (slots == torch.remainder(state.step, n).unsqueeze(-1)).to(x.dtype)  # [B, N]
    keep = 1.0 - write
    keys = state.keys * keep.unsqueeze(-1) + write.unsqueeze(-1) * core.embed_key(x).unsqueeze(1)
    values = state.values * keep.unsqueeze(-1) + write.unsqueeze(-1) * core.embed_value(
        x
    ).unsqueeze(1)
    write_step = state.write_step * keep + write * state.step.unsqueeze(-1)
    filled = torch.maximum(state.filled, write)
    age = (state.step.unsqueeze(-1) - write_step).clamp(0, n - 1).long()
    keys_in_time = keys + core.temporal_keys[age]
    values_in_time = values + core.temporal_values[age]
    query = core.embed_query(x)
    if core.feedback is not None:
        query = query + core.feedback(state.output)
    for _ in range(core.hops):
        logits = torch.einsum("bd,bnd->bn", query, keys_in_time).masked_fill(
            filled < 0.5, -math.inf
        )
        if core.read_addressing == "soft":
            attention = torch.softmax(logits, dim=-1)
        else:
            from memrl.memory import addressing

            attention = addressing.hard_read(logits, core.gumbel_tau, core.training)
        query = core.hop_map(query) + torch.einsum("bn,bnd->bd", attention, values_in_time)
    return query, MemNetState(
        keys, values, write_step, filled, state.step + 1.0, attention.unsqueeze(1),
        write.unsqueeze(1), query,
    )  # fmt: skip


def reference(core: MemNet, x: torch.Tensor, state: MemNetState, starts: torch.Tensor):
    initial = core.initial_state(x.shape[1])
    outputs = []
    for x_t, start in zip(x, starts, strict=True):
        y, state = reference_step(core, x_t, reset_where(start, state, initial))
        outputs.append(y)
    return torch.stack(outputs), state


def stepped(core: MemNet, x: torch.Tensor, state: MemNetState, starts: torch.Tensor):
    """One forward call per step (how rollouts run the core)."""
    outputs = []
    for t in range(x.shape[0]):
        y, state = core(x[t : t + 1], state, starts[t : t + 1])
        outputs.append(y[0])
    return torch.stack(outputs), state


def build(slots: int, hops: int, feedback: bool, addressing: str = "soft") -> MemNet:
    torch.manual_seed(0)
    core = MemNet(
        INPUT, memory_slots=slots, key_size=4, hops=hops, read_addressing=addressing,
        feedback=feedback,
    ).double()  # fmt: skip
    with torch.no_grad():
        core.hop_map.weight.add_(0.3 * torch.randn(4, 4, dtype=torch.float64))
    return core


def episode_starts(steps: int, batch: int) -> torch.Tensor:
    starts = torch.zeros(steps, batch, dtype=torch.float64)
    starts[0, 0] = 1.0
    starts[steps // 3, 1] = 1.0
    starts[steps // 2, 2] = 1.0
    starts[steps - 1, 2] = 1.0
    return starts


def assert_states_equal(actual: MemNetState, expected: MemNetState) -> None:
    for name, a, e in zip(MemNetState._fields, actual, expected, strict=True):
        torch.testing.assert_close(a, e, msg=lambda m, name=name: f"{name}: {m}")


def warm_state(core: MemNet, steps: int, batch: int) -> MemNetState:
    """A state in the middle of episodes of different lengths (element 3 has wrapped)."""
    x = torch.randn(steps, batch, INPUT, dtype=torch.float64)
    starts = torch.zeros(steps, batch, dtype=torch.float64)
    starts[steps - 2, 1] = 1.0
    with torch.no_grad():
        return reference(core, x, core.initial_state(batch), starts)[1]


@pytest.mark.parametrize("feedback", [False, True], ids=["parallel", "feedback"])
@pytest.mark.parametrize("hops", [1, 3])
@pytest.mark.parametrize(("slots", "steps"), [(4, 11), (8, 5), (5, 5)])
def test_unroll_equals_stepping_and_the_slot_by_slot_reference(feedback, hops, slots, steps):
    core = build(slots, hops, feedback)
    batch = 4
    state = warm_state(core, 7, batch)
    x = torch.randn(steps, batch, INPUT, dtype=torch.float64)
    starts = episode_starts(steps, batch)
    expected_y, expected_state = reference(core, x, state, starts)
    for y, final in [core(x, state, starts), stepped(core, x, state, starts)]:
        torch.testing.assert_close(y, expected_y)
        assert_states_equal(final, expected_state)
        recall, expected_recall = core.read_trace(final), core.read_trace(expected_state)
        torch.testing.assert_close(recall.read_weights, expected_recall.read_weights)
        torch.testing.assert_close(recall.write_weights, expected_recall.write_weights)


def test_a_rollout_continues_from_the_state_of_a_parallel_unroll():
    core = build(4, 2, feedback=False)
    x = torch.randn(9, 3, INPUT, dtype=torch.float64)
    starts = episode_starts(9, 3)
    y_whole, state_whole = core(x, core.initial_state(3), starts)
    y_head, state = core(x[:6], core.initial_state(3), starts[:6])
    y_tail, state = stepped(core, x[6:], state, starts[6:])
    torch.testing.assert_close(torch.cat([y_head, y_tail]), y_whole)
    assert_states_equal(state, state_whole)


def test_hard_reads_in_eval_mode_equal_stepping():
    core = build(4, 2, feedback=False, addressing="gumbel").eval()
    x = torch.randn(10, 4, INPUT, dtype=torch.float64)
    starts = episode_starts(10, 4)
    state = warm_state(core, 6, 4)
    expected_y, expected_state = reference(core, x, state, starts)
    for y, final in [core(x, state, starts), stepped(core, x, state, starts)]:
        torch.testing.assert_close(y, expected_y)
        assert_states_equal(final, expected_state)
        weights = final.read_weights
        assert torch.all((weights == 0) | (weights == 1)) and torch.all(weights.sum(-1) == 1)


@pytest.mark.parametrize("addressing", ["soft", "gumbel"])
@pytest.mark.parametrize("feedback", [False, True], ids=["parallel", "feedback"])
def test_gradients_equal_those_of_stepping(feedback, addressing):
    core = build(4, 2, feedback, addressing).eval()
    x = torch.randn(9, 3, INPUT, dtype=torch.float64)
    starts = episode_starts(9, 3)
    state = warm_state(core, 5, 3)
    weights = torch.randn(9, 3, 4, dtype=torch.float64)
    params = list(core.parameters())

    def gradients(run):
        y, final = run(core, x, state, starts)
        loss = (weights * y).sum() + (final.read_weights * torch.arange(4.0).double()).sum()
        return torch.autograd.grad(loss, params)

    expected = gradients(reference)
    for run in (lambda *a: core(*a[1:]), stepped):
        for g, e in zip(gradients(run), expected, strict=True):
            torch.testing.assert_close(g, e)


@pytest.mark.parametrize("feedback", [False, True], ids=["parallel", "feedback"])
def test_long_sequences_are_unrolled_in_chunks_with_the_same_result(monkeypatch, feedback):
    core = build(4, 2, feedback)
    x = torch.randn(13, 3, INPUT, dtype=torch.float64)
    starts = episode_starts(13, 3)
    y, state = core(x, core.initial_state(3), starts)
    # batch x slots x 2 key_size numbers per step: chunks of 3 steps
    monkeypatch.setattr("memrl.memory.memnet._MAX_LAYOUT_NUMBERS", 3 * 4 * 2 * 4 * 3)
    y_chunked, state_chunked = core(x, core.initial_state(3), starts)
    torch.testing.assert_close(y_chunked, y)
    assert_states_equal(state_chunked, state)


@pytest.mark.parametrize("hops", [1, 2, 3])
def test_the_soft_read_kernel_passes_gradcheck(hops):
    torch.manual_seed(hops)
    m, d, n = 3, 4, 5

    def leaf(*shape):
        return torch.randn(*shape, dtype=torch.float64, requires_grad=True)

    query, output, feedback, keys_t, values, hop = (
        leaf(m, 1, d), leaf(m, 1, d), leaf(d, d), leaf(m, d, n), leaf(m, n, d), leaf(d, d),
    )  # fmt: skip
    mask = torch.zeros(m, 1, n, dtype=torch.float64)
    mask[0, 0, 3:] = -math.inf
    assert torch.autograd.gradcheck(
        lambda *a: _SoftRead.apply(a[0], a[1], a[2], a[3], a[4], mask, a[5], hops),
        (query, output, feedback, keys_t, values, hop),
    )
    assert torch.autograd.gradcheck(
        lambda *a: _SoftRead.apply(a[0], None, None, a[1], a[2], mask, a[3], hops)[1],
        (query, keys_t, values, hop),
    )


def test_without_feedback_there_is_no_feedback_weight_and_only_n_steps_are_seen():
    core = make_core("memnet", 2, memory_slots=2, key_size=3, feedback=False).double()
    assert core.feedback is None and "feedback.weight" not in core.state_dict()
    assert "feedback=False" in repr(core)
    x = torch.randn(6, 1, 2, dtype=torch.float64, requires_grad=True)
    y, _ = core(x, core.initial_state(1))
    (grad,) = torch.autograd.grad(y[-1].sum(), x)
    assert torch.all(grad[:4] == 0) and grad[4:].abs().sum() > 0

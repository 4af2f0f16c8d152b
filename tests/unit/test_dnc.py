"""The DNC core: its memory write, read modes, allocation, links and Gumbel reads, checked
against values computed by hand (numpy) and against ``memrl.memory.addressing``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from memrl.memory import DNC, DNCState, addressing, make_core
from memrl.memory import dnc as dnc_module
from memrl.memory.dnc import _Interface, _update_usage
from memrl.memory.dnc_kernels import content_weights as _content_weights
from memrl.memory.dnc_kernels import temporal_linkage as _temporal_linkage

F64 = torch.float64


def small_dnc(**overrides) -> DNC:
    kwargs = dict(
        input_size=3, memory_slots=5, slot_size=4, read_heads=2, write_heads=1, controller_size=6
    )
    kwargs.update(overrides)
    torch.manual_seed(0)
    return DNC(**kwargs).double()


def interface(b: int, r: int, wh: int, w: int, n_modes: int, **fields) -> _Interface:
    """An interface with neutral values, overridden by ``fields``."""
    values = dict(
        read_keys=torch.zeros(b, r, w, dtype=F64),
        read_strengths=torch.ones(b, r, dtype=F64),
        write_keys=torch.zeros(b, wh, w, dtype=F64),
        write_strengths=torch.ones(b, wh, dtype=F64),
        erase=torch.zeros(b, wh, w, dtype=F64),
        write_vectors=torch.zeros(b, wh, w, dtype=F64),
        free_gates=torch.zeros(b, r, dtype=F64),
        allocation_gates=torch.zeros(b, wh, dtype=F64),
        write_gates=torch.zeros(b, wh, dtype=F64),
        read_modes=torch.full((b, r, n_modes), 1.0 / n_modes, dtype=F64),
    )
    values.update(fields)
    return _Interface(**values)


# --- the memory write -------------------------------------------------------------------


def test_erase_then_add_one_head_by_hand():
    core = small_dnc(memory_slots=3, slot_size=2)
    memory = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.0]])
    weights = np.array([0.5, 0.0, 1.0])
    erase = np.array([1.0, 0.5])
    add = np.array([2.0, -2.0])
    # M[n, w] (1 - a[n] e[w]) + a[n] v[w], written out element by element.
    expected = np.empty_like(memory)
    for n in range(3):
        for w in range(2):
            expected[n, w] = memory[n, w] * (1 - weights[n] * erase[w]) + weights[n] * add[w]
    assert expected[0].tolist() == [1.0 * 0.5 + 1.0, 2.0 * 0.75 - 1.0]  # the hand arithmetic
    got = core.erase_and_add(
        torch.tensor(memory)[None],
        torch.tensor(weights)[None, None],
        torch.tensor(erase)[None, None],
        torch.tensor(add)[None, None],
    )
    np.testing.assert_allclose(got[0].numpy(), expected, rtol=1e-12)


def test_erase_then_add_two_heads_multiplies_erases_and_sums_adds():
    core = small_dnc(memory_slots=2, slot_size=2, write_heads=2)
    memory = np.array([[1.0, 2.0], [3.0, 4.0]])
    weights = np.array([[1.0, 0.5], [0.5, 0.0]])  # [head, slot]
    erase = np.array([[0.5, 1.0], [1.0, 0.0]])
    add = np.array([[1.0, 1.0], [2.0, 0.0]])
    keep = (1 - weights[0][:, None] * erase[0][None]) * (1 - weights[1][:, None] * erase[1][None])
    expected = memory * keep + weights[0][:, None] * add[0] + weights[1][:, None] * add[1]
    got = core.erase_and_add(
        torch.tensor(memory)[None],
        torch.tensor(weights)[None],
        torch.tensor(erase)[None],
        torch.tensor(add)[None],
    )
    np.testing.assert_allclose(got[0].numpy(), expected, rtol=1e-12)


# --- reading ----------------------------------------------------------------------------


def test_read_mode_mix_by_hand():
    """w^r = pi^b L^T w_prev + pi^f L w_prev + pi^c c, one write head, N = 3."""
    core = small_dnc(memory_slots=3, slot_size=2, read_heads=1)
    link = np.array([[0.0, 0.0, 0.0], [0.8, 0.0, 0.0], [0.1, 0.6, 0.0]])  # L[i, j]: i after j
    previous = np.array([0.2, 0.7, 0.1])
    modes = np.array([0.2, 0.5, 0.3])  # backward, forward, content
    memory = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    key, strength = np.array([1.0, 0.0]), 2.0
    cosine = memory @ key / np.linalg.norm(memory, axis=1)
    content = np.exp(strength * cosine) / np.exp(strength * cosine).sum()
    backward = np.array([sum(link[i, j] * previous[i] for i in range(3)) for j in range(3)])
    forward = np.array([sum(link[i, j] * previous[j] for j in range(3)) for i in range(3)])
    assert forward.tolist() == pytest.approx([0.0, 0.16, 0.44])  # by hand: 0.8 * 0.2, ...
    expected = modes[0] * backward + modes[1] * forward + modes[2] * content

    mode_t = torch.tensor(modes)
    previous_t = torch.tensor(previous)[None, None]
    # the link update with zero write weights leaves L unchanged
    _, _, directional = _temporal_linkage(
        torch.tensor(link)[None, None],
        torch.zeros(1, 1, 3, dtype=F64),
        torch.zeros(1, 1, 3, dtype=F64),
        (mode_t[0] * previous_t)[:, None],
        (mode_t[1] * previous_t)[:, None],
    )
    xi = interface(
        1, 1, 1, 2, 3,
        read_keys=torch.tensor(key)[None, None],
        read_strengths=torch.tensor([[strength]], dtype=F64),
        read_modes=mode_t[None, None],
    )  # fmt: skip
    got = core.read_weighting(torch.tensor(memory)[None], directional, xi)
    np.testing.assert_allclose(got[0, 0].numpy(), expected, rtol=1e-6)


def test_forward_mode_follows_the_write_order_and_backward_returns():
    n = 4
    link = torch.zeros(1, 1, n, n, dtype=F64)
    precedence = torch.zeros(1, 1, n, dtype=F64)
    no_query = torch.zeros(1, 1, 1, n, dtype=F64)
    slot_a, slot_b = 2, 0
    for slot in (slot_a, slot_b):  # write a, then b
        write = torch.nn.functional.one_hot(torch.tensor([[slot]]), n).to(F64)
        link, precedence, _ = _temporal_linkage(link, precedence, write, no_query, no_query)
    at_a = torch.nn.functional.one_hot(torch.tensor([[[slot_a]]]), n).to(F64)
    at_b = torch.nn.functional.one_hot(torch.tensor([[[slot_b]]]), n).to(F64)
    no_write = torch.zeros(1, 1, n, dtype=F64)
    _, _, forward = _temporal_linkage(link, precedence, no_write, no_query, at_a)
    _, _, backward = _temporal_linkage(link, precedence, no_write, at_b, no_query)
    assert forward[0, 0].argmax().item() == slot_b and forward[0, 0, slot_b] == 1.0
    assert backward[0, 0].argmax().item() == slot_a and backward[0, 0, slot_a] == 1.0


def test_forward_mode_of_the_whole_core_moves_from_a_to_b():
    """Through ``DNC.step`` with a rigged interface: write a, write b, read a by content,
    then the forward read mode alone lands on b."""
    torch.manual_seed(0)
    core = DNC(input_size=1, memory_slots=4, slot_size=3, read_heads=1, controller_size=2)
    core = core.double()
    vectors = torch.eye(3, dtype=F64)
    plan = [
        # (write vector, read key, modes [backward, forward, content])
        (vectors[0], vectors[0], [0.0, 0.0, 1.0]),
        (vectors[1], vectors[0], [0.0, 0.0, 1.0]),
        (None, vectors[0], [0.0, 0.0, 1.0]),
        (None, vectors[0], [0.0, 1.0, 0.0]),
    ]
    state = core.initial_state(1)
    steps = iter(plan)

    def rigged(_xi):
        write, key, modes = next(steps)
        writing = write is not None
        return interface(
            1, 1, 1, 3, 3,
            read_keys=key[None, None],
            read_strengths=torch.tensor([[50.0]], dtype=F64),
            write_vectors=(write if writing else torch.zeros(3, dtype=F64))[None, None],
            erase=torch.ones(1, 1, 3, dtype=F64),
            allocation_gates=torch.ones(1, 1, dtype=F64),
            write_gates=torch.full((1, 1), float(writing), dtype=F64),
            read_modes=torch.tensor(modes, dtype=F64)[None, None],
        )  # fmt: skip

    core.split_interface = rigged
    written = []
    with torch.no_grad():
        for _ in plan:
            _, state = core.step(torch.zeros(1, 1, dtype=F64), state)
            written.append(state.write_weights[0, 0].argmax().item())
            last_read = state.read_weights[0, 0]
    slot_a, slot_b = written[0], written[1]
    assert slot_a != slot_b
    # step 3 read slot a by content; step 4's forward mode moves the read to b
    assert last_read.argmax().item() == slot_b
    assert last_read[slot_b] > 0.99
    assert torch.allclose(state.reads[0, 0], vectors[1], atol=1e-2)


# --- allocation and usage ---------------------------------------------------------------


def test_two_write_heads_allocate_two_different_free_slots():
    core = small_dnc(memory_slots=5, write_heads=2)
    usage = torch.tensor([[0.9, 0.0, 0.95, 0.0, 0.99]], dtype=F64)  # slots 1 and 3 free
    allocation = core.write_allocation_weights(usage, torch.ones(1, 2, dtype=F64))
    picked = allocation[0].argmax(dim=-1).tolist()
    assert sorted(picked) == [1, 3]
    assert (allocation[0].max(dim=-1).values > 0.99).all()


def test_two_write_heads_on_empty_memory_do_not_collide():
    core = small_dnc(memory_slots=5, write_heads=2)
    allocation = core.write_allocation_weights(
        torch.zeros(1, 5, dtype=F64), torch.ones(1, 2, dtype=F64)
    )
    first, second = allocation[0].argmax(dim=-1).tolist()
    assert first != second
    # with the write gate closed the second head sees the same usage: same slot
    same = core.write_allocation_weights(
        torch.zeros(1, 5, dtype=F64), torch.tensor([[0.0, 1.0]], dtype=F64)
    )
    assert same[0, 0].argmax() == same[0, 1].argmax()


def test_usage_rises_on_write_and_falls_with_free_gates():
    usage = torch.tensor([[0.0, 0.5, 0.2]], dtype=F64)
    write = torch.tensor([[[1.0, 0.5, 0.0]]], dtype=F64)
    read = torch.tensor([[[0.0, 0.0, 1.0]]], dtype=F64)
    no_free = torch.zeros(1, 1, dtype=F64)
    after_write = _update_usage(usage, write, no_free, read)
    np.testing.assert_allclose(after_write[0].numpy(), [1.0, 0.75, 0.2])  # u + w - u w
    freed = _update_usage(usage, torch.zeros_like(write), torch.ones(1, 1, dtype=F64), read)
    np.testing.assert_allclose(freed[0].numpy(), [0.0, 0.5, 0.0])  # slot 2 read and freed
    half = _update_usage(usage, torch.zeros_like(write), torch.full((1, 1), 0.5, dtype=F64), read)
    assert half[0, 2].item() == pytest.approx(0.1)


def test_usage_does_not_backpropagate_into_the_previous_write_weights():
    write = torch.full((1, 1, 3), 0.3, dtype=F64, requires_grad=True)
    free = torch.full((1, 1), 0.5, dtype=F64, requires_grad=True)
    read = torch.full((1, 1, 3), 1.0 / 3, dtype=F64)
    usage = _update_usage(torch.zeros(1, 3, dtype=F64), write, free, read)
    usage.sum().backward()
    assert write.grad is None
    assert free.grad is not None and free.grad.abs().sum() > 0


def test_update_usage_matches_addressing():
    generator = torch.Generator().manual_seed(3)
    usage = torch.rand(3, 6, generator=generator, dtype=F64)
    write = torch.rand(3, 2, 6, generator=generator, dtype=F64) / 6
    free = torch.rand(3, 4, generator=generator, dtype=F64)
    read = torch.softmax(torch.randn(3, 4, 6, generator=generator, dtype=F64), -1)
    for heads in (write[:, :1], write):
        torch.testing.assert_close(
            _update_usage(usage, heads, free, read),
            addressing.update_usage(usage, heads, free, read),
        )


# --- the fused autograd functions -------------------------------------------------------


def test_content_weights_match_addressing_and_pass_gradcheck():
    generator = torch.Generator().manual_seed(0)
    memory = torch.randn(2, 5, 3, generator=generator, dtype=F64, requires_grad=True)
    keys = torch.randn(2, 3, 3, generator=generator, dtype=F64, requires_grad=True)
    strengths = (1 + 3 * torch.rand(2, 3, generator=generator, dtype=F64)).requires_grad_()
    torch.testing.assert_close(
        _content_weights(memory, keys, strengths),
        addressing.content_weights(memory, keys, strengths),
    )
    assert torch.autograd.gradcheck(_content_weights, (memory, keys, strengths))


def test_content_weights_on_zero_memory_and_zero_key_are_finite_and_match_autograd():
    memory = torch.zeros(1, 4, 3, dtype=F64, requires_grad=True)
    keys = torch.tensor([[[0.0, 0.0, 0.0], [1.0, -2.0, 0.5]]], dtype=F64, requires_grad=True)
    strengths = torch.tensor([[2.0, 5.0]], dtype=F64, requires_grad=True)
    weights = _content_weights(memory, keys, strengths)
    torch.testing.assert_close(weights, torch.full((1, 2, 4), 0.25, dtype=F64))
    upstream = torch.randn(1, 2, 4, dtype=F64)
    ours = torch.autograd.grad((weights * upstream).sum(), (memory, keys, strengths))
    reference = addressing.content_weights(memory, keys, strengths)
    theirs = torch.autograd.grad((reference * upstream).sum(), (memory, keys, strengths))
    for a, b in zip(ours, theirs, strict=True):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b)


def random_linkage_inputs(heads: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    b, r, n = 2, 3, 5

    def rand(*shape, scale=1.0):
        values = scale * torch.rand(*shape, generator=generator, dtype=F64)
        return values.requires_grad_()

    link = rand(b, heads, n, n)
    return (
        link,
        rand(b, heads, n, scale=1.0 / n),
        rand(b, heads, n, scale=1.0 / n),
        rand(b, heads, r, n),
        rand(b, heads, r, n),
    )


@pytest.mark.parametrize("heads", [1, 2])
def test_temporal_linkage_matches_addressing(heads):
    link, precedence, write, backward_q, forward_q = random_linkage_inputs(heads)
    new_link, new_precedence, directional = _temporal_linkage(
        link, precedence, write, backward_q, forward_q
    )
    expected_link = addressing.update_link(link, precedence, write)
    torch.testing.assert_close(new_link, expected_link)
    torch.testing.assert_close(new_precedence, addressing.update_precedence(precedence, write))
    # directional_weights per (read head, write head) for unit queries, weighted here
    expected = torch.zeros_like(directional)
    for h in range(heads):
        one_head = expected_link[:, h : h + 1]
        back = addressing.directional_weights(one_head, backward_q[:, h], forward=False)
        fwd = addressing.directional_weights(one_head, forward_q[:, h], forward=True)
        expected = expected + back[:, :, 0] + fwd[:, :, 0]
    torch.testing.assert_close(directional, expected)


@pytest.mark.parametrize("heads", [1, 2])
def test_temporal_linkage_gradcheck(heads):
    inputs = random_linkage_inputs(heads, seed=1)
    assert torch.autograd.gradcheck(_temporal_linkage, inputs)
    # each output alone too: the backward must cope with missing output gradients
    for index in range(3):
        assert torch.autograd.gradcheck(lambda *a, i=index: _temporal_linkage(*a)[i], inputs)


def test_controller_is_an_lstm_cell_on_input_and_previous_reads():
    core = small_dnc()
    state = core.initial_state(2)
    generator = torch.Generator().manual_seed(5)
    state = DNCState(*(torch.randn(f.shape, generator=generator, dtype=F64) for f in state))
    x = torch.randn(2, 3, generator=generator, dtype=F64)
    h, c = core._controller(core._input_gates(x), core._recurrent_weight(), state)
    h_ref, c_ref = core.controller(torch.cat([x, state.reads.flatten(1)], -1), (state.h, state.c))
    torch.testing.assert_close(h, h_ref)
    torch.testing.assert_close(c, c_ref)


# --- the whole core ---------------------------------------------------------------------


@pytest.mark.parametrize("write_heads", [1, 2])
def test_core_gradcheck(write_heads, monkeypatch):
    # Usage deliberately ignores the gradient through the previous write weights (DeepMind's
    # stop_gradient), which finite differences do see: check with the plain formula.
    monkeypatch.setattr(dnc_module, "_update_usage", addressing.update_usage)
    core = small_dnc(memory_slots=4, slot_size=3, write_heads=write_heads, controller_size=4)
    x = torch.randn(3, 2, 3, dtype=F64, requires_grad=True)

    def run(inputs):
        y, state = core(inputs, core.initial_state(2))
        return y, state.memory, state.link

    assert torch.autograd.gradcheck(run, (x,), fast_mode=True)


def test_initial_state_is_zero_with_the_core_dtype_and_the_right_shapes():
    core = small_dnc(write_heads=2)
    state = core.initial_state(3)
    shapes = dict(
        h=(3, 6), c=(3, 6), memory=(3, 5, 4), usage=(3, 5), link=(3, 2, 5, 5),
        precedence=(3, 2, 5), read_weights=(3, 2, 5), write_weights=(3, 2, 5), reads=(3, 2, 4),
    )  # fmt: skip
    assert state._fields == tuple(shapes)
    for name, field in zip(state._fields, state, strict=True):
        assert field.shape == shapes[name] and field.dtype == F64
        assert not field.any()
    assert core.output_size == 6 + 2 * 4


def test_first_step_on_zero_memory_is_finite_with_finite_gradients():
    core = small_dnc()
    x = torch.randn(1, 2, 3, dtype=F64, requires_grad=True)
    y, state = core(x, core.initial_state(2))
    assert torch.isfinite(y).all() and all(torch.isfinite(f).all() for f in state)
    (y.sum() + state.memory.sum() + state.read_weights.sum()).backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in core.parameters())


def test_weightings_stay_in_range_over_a_sequence():
    core = small_dnc(write_heads=2)
    _, state = core(torch.randn(20, 3, 3, dtype=F64), core.initial_state(3))
    assert (state.usage >= 0).all() and (state.usage <= 1).all()
    assert (state.write_weights.sum(-1) <= 1 + 1e-9).all()
    assert (state.read_weights.sum(-1) <= 1 + 1e-9).all()
    diagonal = state.link.diagonal(dim1=-2, dim2=-1)
    assert (diagonal == 0).all()


def test_read_trace_returns_the_state_weightings():
    core = small_dnc()
    _, state = core(torch.randn(4, 2, 3, dtype=F64), core.initial_state(2))
    trace = core.read_trace(state)
    assert trace.read_weights is state.read_weights
    assert trace.write_weights is state.write_weights
    assert trace.usage is state.usage


# --- Gumbel reads -----------------------------------------------------------------------


@pytest.mark.parametrize("training", [True, False])
def test_gumbel_reads_are_exactly_one_hot(training):
    core = small_dnc(read_addressing="gumbel")
    core.train(training)
    _, state = core(torch.randn(6, 3, 3, dtype=F64), core.initial_state(3))
    weights = state.read_weights
    assert ((weights == 0) | (weights == 1)).all()
    assert (weights.sum(-1) == 1).all()
    torch.testing.assert_close(state.reads, torch.bmm(weights, state.memory))


def test_gumbel_eval_is_deterministic_and_training_samples():
    core = small_dnc(read_addressing="gumbel", memory_slots=8)
    x = torch.randn(8, 4, 3, dtype=F64)
    core.eval()
    runs = [core(x, core.initial_state(4))[1].read_weights for _ in range(2)]
    torch.testing.assert_close(runs[0], runs[1], rtol=0, atol=0)
    core.train()
    torch.manual_seed(1)
    first = core(x, core.initial_state(4))[1].read_weights
    samples = [core(x, core.initial_state(4))[1].read_weights for _ in range(5)]
    assert any(not torch.equal(first, s) for s in samples), "training reads should be sampled"


def test_gumbel_training_passes_gradients_straight_through():
    core = small_dnc(read_addressing="gumbel")
    core.train()
    x = torch.randn(4, 2, 3, dtype=F64, requires_grad=True)
    y, _ = core(x, core.initial_state(2))
    y.sum().backward()
    assert core.interface.weight.grad.abs().sum() > 0
    assert torch.isfinite(x.grad).all()


def test_gumbel_tau_is_a_saved_buffer_in_both_modes():
    for mode in ("soft", "gumbel"):
        core = DNC(3, read_addressing=mode, gumbel_tau=0.7)
        assert isinstance(core.gumbel_tau, torch.Tensor) and core.gumbel_tau.dim() == 0
        assert core.state_dict()["gumbel_tau"].item() == pytest.approx(0.7)
        core.gumbel_tau.fill_(0.25)
        assert core.state_dict()["gumbel_tau"].item() == pytest.approx(0.25)
    assert "gumbel_tau" not in dict(core.named_parameters())


def test_float32_default_and_registry():
    core = make_core("dnc", 3, memory_slots=4, slot_size=2, read_heads=1, controller_size=5)
    assert isinstance(core, DNC)
    y, state = core(torch.randn(2, 2, 3), core.initial_state(2))
    assert y.dtype == torch.float32 and state.link.dtype == torch.float32


# --- constructor validation -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(input_size=0), "input_size"),
        (dict(memory_slots=0), "memory_slots"),
        (dict(memory_slots=2.5), "memory_slots"),
        (dict(slot_size=-1), "slot_size"),
        (dict(read_heads=0), "read_heads"),
        (dict(write_heads=0), "write_heads"),
        (dict(write_heads=True), "write_heads"),
        (dict(controller_size=0), "controller_size"),
        (dict(read_addressing="hard"), r"read_addressing.*'soft', 'gumbel'"),
        (dict(gumbel_tau=0.0), "gumbel_tau"),
        (dict(gumbel_tau=-1.0), "gumbel_tau"),
        (dict(gumbel_tau=float("nan")), "gumbel_tau"),
        (dict(gumbel_tau="1"), "gumbel_tau"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, message):
    arguments = dict(input_size=3)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        DNC(**arguments)

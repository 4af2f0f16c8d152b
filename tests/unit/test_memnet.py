"""MemNet core: attention by hand, ring buffer, temporal encoding, masking, hard reads."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.func import functional_call

from memrl.memory import MemNet, make_core


def set_weights(core: MemNet, **weights: np.ndarray) -> None:
    """Overwrite parameters by name (``embed_key`` -> ``embed_key.weight``)."""
    params = dict(core.named_parameters())
    with torch.no_grad():
        for name, value in weights.items():
            target = params[name if name in params else f"{name}.weight"]
            target.copy_(torch.as_tensor(value, dtype=target.dtype))


def run_steps(core: MemNet, x: torch.Tensor):
    """Step through ``x [T, B, F]`` and return the outputs ``[T, B, D]`` and every state."""
    state = core.initial_state(x.shape[1])
    outputs, states = [], []
    for t in range(x.shape[0]):
        y, state = core(x[t : t + 1], state)
        outputs.append(y[0])
        states.append(state)
    return torch.stack(outputs), states


def test_attention_of_one_hop_by_hand():
    # A = I, C = 2 I, B = I, H = I, no feedback; x_0 = e_1, x_1 = e_2; 3 slots.
    core = MemNet(2, memory_slots=3, key_size=2, hops=1).double()
    set_weights(
        core,
        embed_key=np.eye(2),
        embed_value=2 * np.eye(2),
        embed_query=np.eye(2),
        feedback=np.zeros((2, 2)),
        hop_map=np.eye(2),
        temporal_keys=[[0.0, 0.0], [0.5, 0.5], [0.0, 0.0]],  # T_A by age
        temporal_values=[[0.0, 0.0], [0.0, 1.0], [0.0, 0.0]],  # T_C by age
    )
    x = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]], dtype=torch.float64)
    y, states = run_steps(core, x)

    # Step 0: only slot 0 is filled (age 0): p = [1, 0, 0], y = B x_0 + C x_0 = [3, 0].
    torch.testing.assert_close(states[0].read_weights[0, 0], torch.tensor([1.0, 0, 0]).double())
    torch.testing.assert_close(y[0, 0], torch.tensor([3.0, 0.0]).double())

    # Step 1: u = [0, 1]; slot 0 (age 1) key [1, 0] + [0.5, 0.5], slot 1 (age 0) key [0, 1].
    # Logits 0.5 and 1, slot 2 empty. Values: slot 0 [2, 0] + [0, 1], slot 1 [0, 2].
    p0 = 1.0 / (1.0 + math.exp(0.5))
    p1 = 1.0 - p0
    torch.testing.assert_close(
        states[1].read_weights[0, 0], torch.tensor([p0, p1, 0.0], dtype=torch.float64)
    )
    expected = [0.0 + 2 * p0, 1.0 + p0 * 1 + p1 * 2]
    torch.testing.assert_close(y[1, 0], torch.tensor(expected, dtype=torch.float64))


def numpy_memnet(params: dict[str, np.ndarray], xs: np.ndarray, slots: int, hops: int):
    """Reference for one batch element, slot by slot: outputs [T, D], last attention [N]."""
    a, c, b = params["embed_key.weight"], params["embed_value.weight"], params["embed_query.weight"]
    f, h = params["feedback.weight"], params["hop_map.weight"]
    t_a, t_c = params["temporal_keys"], params["temporal_values"]
    d = a.shape[0]
    keys, values = np.zeros((slots, d)), np.zeros((slots, d))
    written_at = {}
    previous_output = np.zeros(d)
    outputs = []
    for t, x in enumerate(xs):
        slot = t % slots
        keys[slot], values[slot], written_at[slot] = a @ x, c @ x, t
        filled = sorted(written_at)
        ages = [t - written_at[i] for i in filled]
        memory_keys = np.stack([keys[i] + t_a[age] for i, age in zip(filled, ages, strict=True)])
        memory_values = np.stack(
            [values[i] + t_c[age] for i, age in zip(filled, ages, strict=True)]
        )
        u = b @ x + f @ previous_output
        for _ in range(hops):
            logits = memory_keys @ u
            p = np.exp(logits - logits.max())
            p /= p.sum()
            u = h @ u + p @ memory_values
        attention = np.zeros(slots)
        attention[filled] = p
        outputs.append(u)
        previous_output = u
    return np.stack(outputs), attention


def test_two_hops_with_wraparound_match_a_numpy_reference():
    torch.manual_seed(3)
    core = MemNet(3, memory_slots=4, key_size=5, hops=2).double()
    with torch.no_grad():
        core.hop_map.weight.add_(0.3 * torch.randn(5, 5, dtype=torch.float64))  # H != I
    params = {n: p.detach().numpy() for n, p in core.named_parameters()}
    x = torch.randn(11, 2, 3, dtype=torch.float64)
    y, states = run_steps(core, x)
    for element in range(2):
        outputs, attention = numpy_memnet(params, x[:, element].numpy(), slots=4, hops=2)
        np.testing.assert_allclose(y[:, element].detach().numpy(), outputs, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(
            states[-1].read_weights[element, 0].detach().numpy(), attention, rtol=1e-10
        )


def test_ring_buffer_wraps_and_overwrites_the_oldest_slots():
    core = MemNet(2, memory_slots=3, key_size=4).double()
    x = torch.randn(5, 2, 2, dtype=torch.float64)  # N + 2 steps
    _, states = run_steps(core, x)
    last = states[-1]
    assert last.write_step.tolist() == [[3.0, 4.0, 2.0]] * 2
    assert last.filled.tolist() == [[1.0, 1.0, 1.0]] * 2
    assert last.step.tolist() == [5.0, 5.0]
    assert last.write_weights[:, 0].tolist() == [[0.0, 1.0, 0.0]] * 2
    with torch.no_grad():
        for slot, source_step in enumerate([3, 4, 2]):
            torch.testing.assert_close(last.keys[:, slot], core.embed_key(x[source_step]))
            torch.testing.assert_close(last.values[:, slot], core.embed_value(x[source_step]))


def test_each_slot_holds_exactly_the_step_written_there():
    slots = 4
    core = MemNet(3, memory_slots=slots, key_size=4).double()
    x = torch.randn(2 * slots + 1, 2, 3, dtype=torch.float64)
    _, states = run_steps(core, x)
    for t, state in enumerate(states):
        slot = t % slots
        expected_write = torch.zeros(2, 1, slots, dtype=torch.float64)
        expected_write[..., slot] = 1.0
        assert torch.equal(core.read_trace(state).write_weights, expected_write)
        assert torch.equal(state.write_step[:, slot], torch.full((2,), float(t)).double())
        assert torch.equal(
            state.filled.sum(-1), torch.full((2,), float(min(t + 1, slots))).double()
        )
        with torch.no_grad():
            assert torch.equal(state.values[:, slot], core.embed_value(x[t]))
    # every filled slot's write step is one of the last N steps, each exactly once
    assert sorted(states[-1].write_step[0].tolist()) == [5.0, 6.0, 7.0, 8.0]


def test_empty_slots_get_zero_attention():
    # Zero inputs, no feedback and one hop: the query and so all logits are 0; unmasked
    # empty slots would share the attention equally with the two filled ones.
    core = MemNet(2, memory_slots=5, key_size=3, hops=1).double()
    set_weights(core, feedback=np.zeros((3, 3)))
    _, states = run_steps(core, torch.zeros(2, 1, 2, dtype=torch.float64))
    assert states[-1].read_weights[0, 0].tolist() == [0.5, 0.5, 0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("addressing", "training"), [("soft", True), ("gumbel", True), ("gumbel", False)]
)
def test_random_reads_stay_on_filled_slots(addressing, training):
    torch.manual_seed(0)
    core = MemNet(3, memory_slots=8, key_size=4, read_addressing=addressing).double()
    core.train(training)
    # Large temporal encodings would pull attention to empty slots if they were not masked.
    with torch.no_grad():
        core.temporal_keys.mul_(100.0)
    _, states = run_steps(core, torch.randn(3, 64, 3, dtype=torch.float64))
    for t, state in enumerate(states):
        weights = core.read_trace(state).read_weights
        assert torch.all(weights[..., t + 1 :] == 0)
        torch.testing.assert_close(weights.sum(-1), torch.ones(64, 1, dtype=torch.float64))


def test_hard_reads_in_training_sample_filled_slots_with_straight_through_gradient():
    torch.manual_seed(0)
    core = MemNet(3, memory_slots=6, key_size=4, read_addressing="gumbel").double().train()
    x = torch.randn(4, 32, 3, dtype=torch.float64)
    _, states = run_steps(core, x)
    weights = states[-1].read_weights
    assert torch.all((weights == 0) | (weights == 1)) and torch.all(weights.sum(-1) == 1)
    assert torch.all(weights[..., 4:] == 0)
    coefficients = torch.randn(weights.shape, generator=torch.Generator().manual_seed(1)).double()
    (coefficients * weights).sum().backward()
    for name in ("embed_query.weight", "embed_key.weight", "temporal_keys"):
        grad = dict(core.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_gradcheck_in_float64():
    torch.manual_seed(0)
    core = MemNet(2, memory_slots=3, key_size=3, hops=2).double()
    x = torch.randn(5, 2, 2, dtype=torch.float64, requires_grad=True)
    temporal_keys = core.temporal_keys.detach().clone().requires_grad_(True)
    temporal_values = core.temporal_values.detach().clone().requires_grad_(True)

    def output(x, temporal_keys, temporal_values):
        params = {"temporal_keys": temporal_keys, "temporal_values": temporal_values}
        return functional_call(core, params, (x, core.initial_state(2)))[0]

    assert torch.autograd.gradcheck(output, (x, temporal_keys, temporal_values))


def test_feedback_carries_information_beyond_the_ring_buffer():
    torch.manual_seed(0)
    core = MemNet(2, memory_slots=2, key_size=3).double()
    x = torch.randn(6, 1, 2, dtype=torch.float64, requires_grad=True)
    y, _ = core(x, core.initial_state(1))
    (grad,) = torch.autograd.grad(y[-1].sum(), x)
    assert grad[0].abs().sum() > 0
    with torch.no_grad():
        core.feedback.weight.zero_()
    y, _ = core(x, core.initial_state(1))
    (grad,) = torch.autograd.grad(y[-1].sum(), x)
    assert torch.all(grad[:4] == 0), "without feedback only the last N steps are visible"


def test_gumbel_tau_buffer_is_a_0_dim_tensor_in_both_modes():
    for addressing in ("soft", "gumbel"):
        core = MemNet(2, read_addressing=addressing, gumbel_tau=0.7).double()
        assert core.gumbel_tau.shape == () and core.gumbel_tau.dtype == torch.float64
        assert core.gumbel_tau.item() == pytest.approx(0.7)
        assert "gumbel_tau" in core.state_dict()
        assert "gumbel_tau" not in dict(core.named_parameters())


def test_made_by_name_with_default_sizes():
    core = make_core("memnet", 7)
    assert isinstance(core, MemNet)
    assert (core.memory_slots, core.key_size, core.hops) == (32, 64, 2)
    assert core.output_size == 64
    y, state = core(torch.randn(3, 2, 7), core.initial_state(2))
    assert y.shape == (3, 2, 64) and state.keys.shape == (2, 32, 64)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_size": 0}, "input_size must be an integer >= 1"),
        ({"memory_slots": 0}, "memory_slots must be an integer >= 1"),
        ({"memory_slots": 2.5}, "memory_slots must be an integer >= 1"),
        ({"key_size": -1}, "key_size must be an integer >= 1"),
        ({"hops": 0}, "hops must be an integer >= 1"),
        ({"read_addressing": "hard"}, r"read_addressing must be one of \('soft', 'gumbel'\)"),
        ({"gumbel_tau": 0.0}, "gumbel_tau must be a finite number > 0"),
        ({"gumbel_tau": float("nan")}, "gumbel_tau must be a finite number > 0"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, message):
    arguments = {"input_size": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        MemNet(**arguments)

"""Metalearned Neural Memory: the write rules, the hand-written backward pass and the core."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from memrl.memory import make_core
from memrl.memory.mnm import (
    MNM,
    gradient_write,
    local_write,
    memory_forward,
    memory_gradients,
)

UPDATES = ["gradient", "local"]


def random_memory(
    batch: int, sizes: list[int], seed: int = 0, scale: float = 1.0
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Per-element fast weights ``[B, out, in]`` / ``[B, out]`` in float64."""
    generator = torch.Generator().manual_seed(seed)
    weights, biases = [], []
    for fan_in, fan_out in itertools.pairwise(sizes):
        bound = scale / fan_in**0.5
        weights.append(
            (torch.rand(batch, fan_out, fan_in, generator=generator, dtype=torch.float64) * 2 - 1)
            * bound
        )
        biases.append(
            (torch.rand(batch, fan_out, generator=generator, dtype=torch.float64) * 2 - 1) * bound
        )
    return weights, biases


def unit_keys(*shape: int, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    keys = torch.tanh(torch.randn(*shape, generator=generator, dtype=torch.float64))
    return keys / keys.norm(dim=-1, keepdim=True)


def tanh_values(*shape: int, seed: int = 2) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.tanh(torch.randn(*shape, generator=generator, dtype=torch.float64))


def small_mnm(update: str = "gradient", **kwargs) -> MNM:
    torch.manual_seed(0)
    options = dict(controller_size=10, key_size=4, memory_layers=3, read_heads=2, write_heads=2)
    options.update(kwargs)
    return MNM(input_size=3, update=update, **options).double()


def write_with(core: MNM, weights, biases, keys, values, rates):
    return core.write(weights, biases, keys, values, rates)


def recall_error(weights, biases, keys, values) -> torch.Tensor:
    """``[B]`` squared error of f(keys) against values."""
    return (memory_forward(weights, biases, keys)[-1] - values).pow(2).sum(dim=(1, 2))


# ---------------------------------------------------------------- the memory function


def test_memory_forward_matches_numpy():
    weights, biases = random_memory(2, [3, 5, 4, 2])
    keys = unit_keys(2, 3, 3)
    output = memory_forward(weights, biases, keys)[-1]
    w = [t.numpy() for t in weights]
    b = [t.numpy() for t in biases]
    k = keys.numpy()
    for element in range(2):
        z = k[element].T  # [K, H]
        z = np.tanh(w[0][element] @ z + b[0][element][:, None])
        z = np.tanh(w[1][element] @ z + b[1][element][:, None])
        z = w[2][element] @ z + b[2][element][:, None]
        np.testing.assert_allclose(output[element].numpy(), z.T, rtol=1e-12)


@pytest.mark.parametrize("sizes", [[4, 3], [4, 6, 3], [4, 6, 5, 3]])
def test_analytic_gradient_equals_autograd(sizes):
    weights, biases = random_memory(3, sizes, scale=2.0)  # scale 2: tanh units not linear
    keys = unit_keys(3, 2, sizes[0])
    values = tanh_values(3, 2, sizes[-1])
    scales = torch.rand(3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    leaves = [t.clone().requires_grad_(True) for t in weights + biases]
    n = len(weights)
    with torch.no_grad():  # the analytic pass must not need autograd
        grad_w, grad_b = memory_gradients(weights, biases, keys, values, scales)
    output = memory_forward(leaves[:n], leaves[n:], keys)[-1]
    loss = (scales.unsqueeze(-1) * (output - values).pow(2)).sum()
    expected = torch.autograd.grad(loss, leaves)
    for got, want in zip(grad_w + grad_b, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_gradient_step_matches_numpy_for_a_linear_memory():
    """One layer: W' = W − (β/n) 2 (W k + b − v) kᵀ with n = 1 + ||k||² (by hand)."""
    weights, biases = random_memory(1, [3, 2])
    keys = unit_keys(1, 1, 3) * 0.7  # not unit norm, so n != 2
    values = tanh_values(1, 1, 2)
    rate = torch.tensor([[0.6]], dtype=torch.float64)
    (new_w,), (new_b,) = gradient_write(weights, biases, keys, values, rate)
    w, b = weights[0][0].numpy(), biases[0][0].numpy()
    k, v = keys[0, 0].numpy(), values[0, 0].numpy()
    step = 0.6 / (1.0 + k @ k)
    error = w @ k + b - v
    np.testing.assert_allclose(new_w[0].numpy(), w - step * 2 * np.outer(error, k), rtol=1e-12)
    np.testing.assert_allclose(new_b[0].numpy(), b - step * 2 * error, rtol=1e-12)


def test_local_step_matches_numpy_and_moves_output_by_beta():
    """One layer, one head: the delta rule moves f(k) exactly the fraction β towards v."""
    weights, biases = random_memory(1, [3, 2])
    keys = unit_keys(1, 1, 3) * 0.7
    values = tanh_values(1, 1, 2)
    rate = torch.tensor([[0.3]], dtype=torch.float64)
    (new_w,), (new_b,) = local_write(weights, biases, keys, [values], rate)
    w, b = weights[0][0].numpy(), biases[0][0].numpy()
    k, v = keys[0, 0].numpy(), values[0, 0].numpy()
    step = 0.3 / (1.0 + k @ k)
    error = v - (w @ k + b)
    np.testing.assert_allclose(new_w[0].numpy(), w + step * np.outer(error, k), rtol=1e-12)
    np.testing.assert_allclose(new_b[0].numpy(), b + step * error, rtol=1e-12)
    after = memory_forward([new_w], [new_b], keys)[-1][0, 0].numpy()
    np.testing.assert_allclose(v - after, 0.7 * error, rtol=1e-10)


def test_write_rules_are_differentiable_gradcheck():
    sizes = [3, 4, 2]
    weights, biases = random_memory(2, sizes, scale=1.5)
    keys = unit_keys(2, 2, 3).requires_grad_(True)
    values = tanh_values(2, 2, 2).requires_grad_(True)
    rates = torch.full((2, 2), 0.4, dtype=torch.float64, requires_grad=True)
    hidden_target = tanh_values(2, 2, 4, seed=9).requires_grad_(True)

    def gradient_rule(k, v, beta):
        new_w, new_b = gradient_write(weights, biases, k, v, beta, steps=2)
        return memory_forward(new_w, new_b, k)[-1]

    def local_rule(k, v, beta, target):
        new_w, new_b = local_write(weights, biases, k, [target, v], beta, steps=2)
        return memory_forward(new_w, new_b, k)[-1]

    assert torch.autograd.gradcheck(gradient_rule, (keys, values, rates))
    assert torch.autograd.gradcheck(local_rule, (keys, values, rates, hidden_target))


# ---------------------------------------------------------------- writing stores


@pytest.mark.parametrize("update", UPDATES)
def test_writes_bring_the_recall_closer(update):
    core = small_mnm(update, write_heads=1)
    batch = 4
    weights, biases = core.unpack(core.initial_state(batch).fast_weights)
    keys = unit_keys(batch, 1, core.key_size)
    values = tanh_values(batch, 1, core.value_size)
    rates = torch.full((batch, 1), 0.5, dtype=torch.float64)
    errors = [recall_error(weights, biases, keys, values)]
    with torch.no_grad():
        for _ in range(5):
            weights, biases = write_with(core, weights, biases, keys, values, rates)
            errors.append(recall_error(weights, biases, keys, values))
    assert (errors[1] < errors[0]).all(), "one write must bring f(k) closer to v"
    assert (errors[5] < errors[1]).all(), "repeated writes must bring it closer still"
    assert (errors[5] < 0.1 * errors[0]).all()


@pytest.mark.parametrize("update", UPDATES)
def test_two_heads_store_two_pairs(update):
    core = small_mnm(update, write_heads=2)
    weights, biases = core.unpack(core.initial_state(2).fast_weights)
    keys = unit_keys(2, 2, core.key_size)
    values = tanh_values(2, 2, core.value_size)
    rates = torch.full((2, 2), 0.5, dtype=torch.float64)
    before = (memory_forward(weights, biases, keys)[-1] - values).pow(2).sum(-1)
    with torch.no_grad():
        for _ in range(50):  # the local rule with untrained feedback needs ~50 here
            weights, biases = write_with(core, weights, biases, keys, values, rates)
    after = (memory_forward(weights, biases, keys)[-1] - values).pow(2).sum(-1)
    assert (after < 0.1 * before).all(), "both pairs must be stored"


@pytest.mark.parametrize("update", UPDATES)
def test_fast_weights_are_per_batch_element(update):
    core = small_mnm(update, write_heads=1)
    weights, biases = core.unpack(core.initial_state(2).fast_weights)
    keys = unit_keys(2, 1, core.key_size)
    values = tanh_values(2, 1, core.value_size)
    rates = torch.tensor([[0.9], [0.0]], dtype=torch.float64)  # write into element 0 only
    new_w, new_b = write_with(core, weights, biases, keys, values, rates)
    probes = unit_keys(2, 5, core.key_size, seed=3)
    before = memory_forward(weights, biases, probes)[-1]
    after = memory_forward(new_w, new_b, probes)[-1]
    torch.testing.assert_close(after[1], before[1], rtol=0, atol=0)
    assert not torch.allclose(after[0], before[0])


def test_rates_scale_the_write():
    core = small_mnm("gradient", write_heads=1)
    weights, biases = core.unpack(core.initial_state(1).fast_weights)
    keys, values = unit_keys(1, 1, 4), tanh_values(1, 1, 4)
    errors = []
    for rate in (0.1, 0.5, 0.9):
        rates = torch.full((1, 1), rate, dtype=torch.float64)
        new_w, new_b = gradient_write(weights, biases, keys, values, rates)
        errors.append(recall_error(new_w, new_b, keys, values).item())
    assert errors[0] > errors[1] > errors[2]


# ---------------------------------------------------------------- the core


def test_registered_and_sizes():
    core = make_core("mnm", 3, controller_size=8, key_size=4, value_size=6, read_heads=3)
    assert isinstance(core, MNM)
    assert core.output_size == 8 + 3 * 6
    assert core.layer_sizes == [4, 8, 8, 6]  # memory_hidden defaults to 2 * key_size
    assert core.num_fast_weights == 4 * 8 + 8 + 8 * 8 + 8 + 8 * 6 + 6


def test_initial_fast_weights_are_broadcast_not_copied():
    core = small_mnm()
    state = core.initial_state(5)
    assert state.fast_weights.shape == (5, core.num_fast_weights)
    assert state.fast_weights.stride(0) == 0
    assert state.fast_weights.data_ptr() == core.initial_fast_weights.data_ptr()


def test_pack_inverts_unpack():
    core = small_mnm()
    flat = torch.randn(3, core.num_fast_weights, dtype=torch.float64)
    weights, biases = core.unpack(flat)
    assert [tuple(w.shape) for w in weights] == [(3, 8, 4), (3, 8, 8), (3, 4, 8)]
    torch.testing.assert_close(core.pack(weights, biases), flat, rtol=0, atol=0)


@pytest.mark.parametrize("update", UPDATES)
def test_step_writes_then_reads_and_reports_the_meta_loss(update):
    core = small_mnm(update)
    x = torch.randn(3, 3, dtype=torch.float64)
    state = core.initial_state(3)
    y, new = core.step(x, state)
    # recompute this step's interface from h_t to get the write values
    interface = core.interface(new.controller_h).split(core._interface_sizes, dim=-1)
    write_values = torch.tanh(interface[1].view(3, core.write_heads, -1))
    weights, biases = core.unpack(new.fast_weights)
    recalled = memory_forward(weights, biases, new.write_keys)[-1]
    expected_meta = (recalled - write_values).pow(2).mean(dim=(1, 2))
    torch.testing.assert_close(core.step_loss(new), expected_meta)
    # the read uses the weights after this step's write
    torch.testing.assert_close(new.read_values, memory_forward(weights, biases, new.read_keys)[-1])
    torch.testing.assert_close(y, torch.cat([new.controller_h, new.read_values.flatten(1)], 1))
    # the meta loss is below the error of the same pair before the write
    old_w, old_b = core.unpack(state.fast_weights)
    before = (memory_forward(old_w, old_b, new.write_keys)[-1] - write_values).pow(2)
    assert (expected_meta < before.mean(dim=(1, 2))).all()
    unit = torch.ones(3, 2, dtype=torch.float64)
    torch.testing.assert_close(new.read_keys.norm(dim=-1), unit, rtol=0, atol=1e-5)
    assert ((new.write_strengths > 0) & (new.write_strengths < 1)).all()


def test_read_trace_and_step_loss_shapes():
    core = small_mnm(read_heads=3, write_heads=2)
    _, state = core(torch.randn(4, 2, 3, dtype=torch.float64), core.initial_state(2))
    trace = core.read_trace(state)
    assert trace.read_keys.shape == (2, 3, 4)
    assert trace.write_keys.shape == (2, 2, 4)
    assert trace.write_strengths.shape == (2, 2)
    assert trace.read_weights is None and not trace.has_slots
    assert core.step_loss(state).shape == (2,)
    _, _, losses = core.unroll(
        torch.randn(4, 2, 3, dtype=torch.float64), core.initial_state(2), with_loss=True
    )
    assert losses.shape == (4, 2) and (losses >= 0).all()


@pytest.mark.parametrize("update", UPDATES)
def test_gradients_reach_the_controller_through_the_write(update):
    core = small_mnm(update, write_heads=1, read_heads=1)
    x = torch.randn(2, 2, 3, dtype=torch.float64)
    _, state = core(x, core.initial_state(2))  # two steps, so h_{t-1} != 0 reaches weight_hh
    meta_grads = torch.autograd.grad(
        core.step_loss(state).sum(), list(core.controller.parameters()), retain_graph=True
    )
    assert all(g.abs().sum() > 0 for g in meta_grads)
    # The read after the write depends on the write key k_w only through the write
    # (memory_gradients for MNM-g: second order), so a non-zero gradient on the interface
    # rows producing k_w proves that the write is in the graph.
    (interface_grad,) = torch.autograd.grad(
        state.read_values.sum(), core.interface.weight, retain_graph=True
    )
    write_key_rows = interface_grad[: core.key_size]
    value_rows = interface_grad[core.key_size : core.key_size + core.value_size]
    rate_row = interface_grad[core.key_size + core.value_size]
    for rows in (write_key_rows, value_rows, rate_row):
        assert rows.abs().sum() > 1e-8
    if update == "local":
        feedback = list(core.feedback.parameters())
        assert feedback and all(
            g.abs().sum() > 0 for g in torch.autograd.grad(state.read_values.sum(), feedback)
        )


def test_second_order_gradient_matches_finite_differences():
    """d read / d k_w through the MNM-g write, against central differences in float64."""
    core = small_mnm("gradient", write_heads=1, read_heads=1)
    weights, biases = core.unpack(core.initial_state(1).fast_weights)
    read_key = unit_keys(1, 1, 4, seed=4)
    values, rates = tanh_values(1, 1, 4), torch.full((1, 1), 0.7, dtype=torch.float64)

    def read_after_write(write_key):
        new_w, new_b = gradient_write(weights, biases, write_key, values, rates, steps=2)
        return memory_forward(new_w, new_b, read_key)[-1]

    write_key = unit_keys(1, 1, 4, seed=6).requires_grad_(True)
    assert torch.autograd.gradgradcheck(read_after_write, (write_key,))
    assert torch.autograd.gradcheck(read_after_write, (write_key,))


@pytest.mark.parametrize("update", UPDATES)
def test_runs_under_no_grad_with_the_same_outputs(update):
    core = small_mnm(update)
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    y, state = core(x, core.initial_state(2))
    with torch.no_grad():
        y_no_grad, state_no_grad = core(x, core.initial_state(2))
    assert not y_no_grad.requires_grad
    torch.testing.assert_close(y_no_grad, y.detach())
    torch.testing.assert_close(state_no_grad.fast_weights, state.fast_weights.detach())


@pytest.mark.parametrize("update", UPDATES)
@pytest.mark.parametrize("write_steps", [1, 3])
def test_no_nan_over_300_steps_at_full_write_rate(update, write_steps):
    """β ≈ 1 every step, random inputs, float32: stays finite (backward for one write step)."""
    torch.manual_seed(0)
    core = MNM(
        6,
        controller_size=16,
        key_size=8,
        read_heads=2,
        write_heads=2,
        update=update,
        write_steps=write_steps,
    )
    with torch.no_grad():
        rate_slice = slice(
            core._interface_sizes[0] + core._interface_sizes[1], sum(core._interface_sizes[:3])
        )
        core.interface.bias[rate_slice] = 10.0  # β ≈ 1
    x = torch.randn(300, 3, 6, requires_grad=write_steps == 1)
    with torch.set_grad_enabled(write_steps == 1):  # keeps the test within a second or two
        y, state = core(x, core.initial_state(3))
    assert (state.write_strengths > 0.99).all()
    assert torch.isfinite(y).all() and all(torch.isfinite(f).all() for f in state)
    assert state.fast_weights.abs().max() < 1e3
    if write_steps > 1:
        return
    y[-10:].sum().backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in core.parameters() if p.grad is not None)


def test_works_after_double_and_float_by_default():
    core = MNM(3, controller_size=8, key_size=4)
    y, state = core(torch.randn(2, 2, 3), core.initial_state(2))
    assert y.dtype == torch.float32 and state.fast_weights.dtype == torch.float32
    core.double()
    y, state = core(torch.randn(2, 2, 3, dtype=torch.float64), core.initial_state(2))
    assert y.dtype == torch.float64 and state.meta_loss.dtype == torch.float64


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(update="hebbian"), r"update must be one of \('gradient', 'local'\)"),
        (dict(key_size=0), "key_size must be an integer >= 1"),
        (dict(memory_layers=0), "memory_layers"),
        (dict(write_steps=0), "write_steps"),
        (dict(read_heads=1.5), "read_heads"),
        (dict(write_heads=True), "write_heads"),
        (dict(value_size=-1), "value_size"),
        (dict(memory_hidden=0), "memory_hidden"),
        (dict(controller_size=0), "controller_size"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MNM(3, **kwargs)


def test_single_layer_memory_and_independent_head_counts():
    core = MNM(
        3,
        controller_size=8,
        key_size=4,
        memory_layers=1,
        read_heads=3,
        write_heads=1,
        update="local",
    )
    assert core.layer_sizes == [4, 4] and len(core.feedback) == 0
    y, _ = core(torch.randn(3, 2, 3), core.initial_state(2))
    assert y.shape == (3, 2, 8 + 3 * 4)

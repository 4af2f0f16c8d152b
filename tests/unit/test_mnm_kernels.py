"""The fused MNM memory step (``mnm_kernels.memory_step``): values and gradients equal to the
reference maths of ``mnm.py`` run through autograd (float64), gradcheck of the hand-written
(second-order, for MNM-g) backward pass, and the unroll equal to stepping the reference."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch

from memrl.memory.mnm import MNM, memory_forward
from memrl.memory.mnm_kernels import memory_step

UPDATES = ["gradient", "local"]


def make_core(update: str, **kwargs) -> MNM:
    torch.manual_seed(0)
    options = dict(controller_size=6, key_size=4, memory_layers=3, read_heads=2, write_heads=2)
    options.update(kwargs)
    return MNM(input_size=3, update=update, **options).double()


def reference_step(core: MNM, interface: torch.Tensor, fast: torch.Tensor) -> tuple:
    """The memory step as ``mnm.py`` defines it, in differentiable reference functions."""
    batch = interface.shape[0]
    raw_wk, raw_v, logits, raw_rk = interface.split(core._interface_sizes, dim=-1)

    def unit(x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt((x * x).sum(dim=-1, keepdim=True) + 1e-6)

    write_keys = unit(torch.tanh(raw_wk.view(batch, core.write_heads, -1)))
    values = torch.tanh(raw_v.view(batch, core.write_heads, -1))
    rates = torch.sigmoid(logits)
    read_keys = unit(torch.tanh(raw_rk.view(batch, core.read_heads, -1)))
    # unpack by plain slicing, independent of the kernel's own unpack
    weights, biases, offset = [], [], 0
    for fan_in, fan_out in zip(core.layer_sizes, core.layer_sizes[1:], strict=False):
        weights.append(fast[:, offset : offset + fan_out * fan_in].reshape(batch, fan_out, fan_in))
        offset += fan_out * fan_in
        biases.append(fast[:, offset : offset + fan_out])
        offset += fan_out
    weights, biases = core.write(weights, biases, write_keys, values, rates)
    outputs = memory_forward(weights, biases, torch.cat([write_keys, read_keys], dim=1))[-1]
    recalled, reads = outputs.split([core.write_heads, core.read_heads], dim=1)
    meta = (recalled - values).pow(2).mean(dim=(1, 2))
    return core.pack(weights, biases), reads, meta, read_keys, write_keys, rates


def random_inputs(core: MNM, batch: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    width = sum(core._interface_sizes)
    interface = torch.randn(batch, width, generator=generator, dtype=torch.float64) * 1.5
    fast = core.initial_fast_weights.detach().expand(batch, -1) * 2.0  # tanh units not linear
    fast = fast + 0.3 * torch.randn(batch, fast.shape[1], generator=generator, dtype=torch.float64)
    return interface.requires_grad_(True), fast.requires_grad_(True)


@pytest.mark.parametrize("update", UPDATES)
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("write_steps", [1, 2])
def test_values_and_gradients_equal_the_reference(update, layers, write_steps):
    core = make_core(update, memory_layers=layers, write_steps=write_steps)
    interface, fast = random_inputs(core)
    feedback = tuple(core.feedback.parameters())
    got = memory_step(interface, fast, feedback, core.spec)
    want = reference_step(core, interface, fast)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)
    # a random linear function of every output, so each output's gradient path is checked
    generator = torch.Generator().manual_seed(7)
    weights = [torch.randn(w.shape, generator=generator, dtype=torch.float64) for w in want]
    leaves = [interface, fast, *feedback]

    def gradients(outputs):
        loss = sum((o * c).sum() for o, c in zip(outputs, weights, strict=True))
        return torch.autograd.grad(loss, leaves)

    for g, w in zip(gradients(got), gradients(want), strict=True):
        torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("update", UPDATES)
def test_gradients_with_some_outputs_unused(update):
    """Only the read and the fast weights are used (no meta loss, keys or rates)."""
    core = make_core(update)
    interface, fast = random_inputs(core, seed=3)
    feedback = tuple(core.feedback.parameters())
    leaves = [interface, fast, *feedback]

    def gradients(outputs):
        loss = outputs[1].square().sum() + outputs[0].sum()
        return torch.autograd.grad(loss, leaves, allow_unused=True)

    got = gradients(memory_step(interface, fast, feedback, core.spec))
    want = gradients(reference_step(core, interface, fast))
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("update", UPDATES)
def test_gradcheck(update):
    core = make_core(update, key_size=3, memory_hidden=4, read_heads=1, write_steps=2)
    interface, fast = random_inputs(core, batch=2, seed=5)
    feedback = tuple(core.feedback.parameters())

    def step(interface, fast, *feedback):
        return memory_step(interface, fast, feedback, core.spec)

    assert torch.autograd.gradcheck(step, (interface, fast, *feedback))


def test_expanded_fast_weights_get_the_summed_gradient():
    core = make_core("gradient")
    interface, _ = random_inputs(core, batch=4)
    fast = core.initial_fast_weights.expand(4, -1)
    _, reads, meta, *_ = memory_step(interface, fast, (), core.spec)
    (grad,) = torch.autograd.grad((reads.sum() + meta.sum()), core.initial_fast_weights)
    _, reads, meta, *_ = reference_step(core, interface, fast)
    (want,) = torch.autograd.grad((reads.sum() + meta.sum()), core.initial_fast_weights)
    torch.testing.assert_close(grad, want, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("update", UPDATES)
def test_no_grad_path_gives_the_same_values(update):
    core = make_core(update)
    interface, fast = random_inputs(core)
    feedback = tuple(core.feedback.parameters())
    with_grad = memory_step(interface, fast, feedback, core.spec)
    with torch.no_grad():
        without = memory_step(interface, fast, feedback, core.spec)
    for a, b in zip(with_grad, without, strict=True):
        assert not b.requires_grad
        torch.testing.assert_close(a.detach(), b, rtol=0, atol=0)


@pytest.mark.parametrize("update", UPDATES)
def test_unroll_equals_the_reference_step_by_step(update):
    """The core's unroll (fused step) against the pre-kernel step maths: nn.LSTMCell, the
    interface, then the reference memory step, with a reset inside; outputs, meta losses
    and parameter gradients."""
    core = make_core(update)
    steps, batch = 5, 3
    generator = torch.Generator().manual_seed(11)
    x = torch.randn(steps, batch, 3, generator=generator, dtype=torch.float64)
    starts = torch.zeros(steps, batch, dtype=torch.float64)
    starts[2, 1] = 1.0
    y, _, losses = core.unroll(x, core.initial_state(batch), starts, with_loss=True)

    initial = core.initial_state(batch)
    h, c, reads, fast = initial.controller_h, initial.controller_c, initial.read_values, None
    fast = initial.fast_weights
    want_y, want_losses = [], []
    for t in range(steps):
        keep = (1.0 - starts[t]).unsqueeze(-1)
        h, c, fast = h * keep, c * keep, torch.where(keep.bool(), fast, initial.fast_weights)
        reads = reads * keep.unsqueeze(-1)
        h, c = core.controller(torch.cat([x[t], reads.flatten(1)], dim=-1), (h, c))
        fast, reads, meta, *_ = reference_step(core, core.interface(h), fast)
        want_y.append(torch.cat([h, reads.flatten(1)], dim=-1))
        want_losses.append(meta)
    want_y, want_losses = torch.stack(want_y), torch.stack(want_losses)
    torch.testing.assert_close(y, want_y, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(losses, want_losses, rtol=1e-10, atol=1e-12)
    params = list(core.parameters())
    got = torch.autograd.grad(y.square().sum() + losses.sum(), params)
    want = torch.autograd.grad(want_y.square().sum() + want_losses.sum(), params)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("update", UPDATES)
def test_a_step_frees_its_graph_without_the_garbage_collector(update):
    """No reference cycle through the Function's context: once the outputs are dropped, the
    step's saved tensors go at once (a cycle would keep every step of a rollout alive until
    the cyclic collector runs, growing memory by megabytes per unroll)."""
    core = make_core(update)
    interface, fast = random_inputs(core)
    feedback = tuple(core.feedback.parameters())
    gc.disable()
    try:
        previous = fast * 1.0  # a non-leaf the step keeps for its backward pass
        outputs = memory_step(interface, previous, feedback, core.spec)
        alive = weakref.ref(previous)
        del previous
        assert alive() is not None
        del outputs
        assert alive() is None
    finally:
        gc.enable()

"""The NTM core: a step against a numpy reference, shapes, Gumbel reads, arguments.

The generic contract (resets, batch independence, NaN safety, ...) is checked for the NTM
and its variants in test_core_contract.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from memrl.memory import NTM, NTMState, Recall, make_core

F64 = torch.float64


def small_ntm(**kwargs) -> NTM:
    options = dict(
        input_size=3, memory_slots=5, slot_size=4, read_heads=2, write_heads=1, controller_size=6
    )
    options.update(kwargs)
    torch.manual_seed(0)
    return NTM(**options).double()


def run(core: NTM, steps: int = 4, batch: int = 2, seed: int = 1):
    x = torch.randn(
        steps, batch, core.input_size, dtype=F64, generator=torch.Generator().manual_seed(seed)
    )
    return core(x, core.initial_state(batch))


# ----------------------------------------------------------------------------- numpy reference


def softplus(z):
    return np.log1p(np.exp(z))


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def np_address(memory, key, strength, gate, kernel, gamma, previous):
    """Graves et al. 2014, eqs. 5-9, for one head of one batch element."""
    cosine = memory @ key / (np.linalg.norm(memory, axis=1) * np.linalg.norm(key))
    content = softmax(strength * cosine)
    gated = gate * content + (1 - gate) * previous
    n, size = len(gated), len(kernel)
    shifted = np.array(
        [sum(gated[(i - (k - size // 2)) % n] * kernel[k] for k in range(size)) for i in range(n)]
    )
    sharp = shifted**gamma
    return sharp / sharp.sum()


def test_step_matches_a_numpy_reference_write_then_read():
    """With the head layer's weights zeroed, the head parameters are its (chosen) biases,
    so three steps can be computed by hand: address, erase and add with every write head,
    then read the updated memory with every read head."""
    n, w, reads, writes, shift_range = 5, 3, 2, 2, 1
    core = NTM(
        input_size=2,
        memory_slots=n,
        slot_size=w,
        read_heads=reads,
        write_heads=writes,
        controller_size=4,
        shift_range=shift_range,
        memory_init=0.5,
    ).double()
    r = np.random.default_rng(0)

    def head_bias(is_write: bool) -> dict:
        bias = dict(
            key=r.normal(size=w),
            strength=r.normal(),
            gate=r.normal(),
            gamma=r.normal(),
            kernel=r.normal(size=2 * shift_range + 1),
        )
        if is_write:
            bias.update(erase=r.normal(size=w), add=r.normal(size=w))
        return bias

    heads = [head_bias(False) for _ in range(reads)] + [head_bias(True) for _ in range(writes)]
    layout = ["key", "strength", "gate", "gamma", "kernel", "erase", "add"]
    flat = np.concatenate([np.atleast_1d(h[name]) for h in heads for name in layout if name in h])
    initial_read_logits = r.normal(size=(reads, n))
    initial_write_logits = r.normal(size=(writes, n))
    with torch.no_grad():
        core.head_parameters.weight.zero_()
        core.head_parameters.bias.copy_(torch.from_numpy(flat))
        core.initial_read_logits.copy_(torch.from_numpy(initial_read_logits))
        core.initial_write_logits.copy_(torch.from_numpy(initial_write_logits))

    def address(head: dict, memory, previous):
        return np_address(
            memory,
            head["key"],
            softplus(head["strength"]),
            sigmoid(head["gate"]),
            softmax(head["kernel"]),
            1 + softplus(head["gamma"]),
            previous,
        )

    memory = np.full((n, w), 0.5)
    read_weights = np.stack([softmax(z) for z in initial_read_logits])
    write_weights = np.stack([softmax(z) for z in initial_write_logits])

    x = torch.randn(3, 1, 2, dtype=F64)
    state = core.initial_state(1)
    for step in range(3):
        write_weights = np.stack(
            [address(heads[reads + i], memory, write_weights[i]) for i in range(writes)]
        )
        for i in range(writes):  # erase with every head ...
            memory = memory * (1 - np.outer(write_weights[i], sigmoid(heads[reads + i]["erase"])))
        for i in range(writes):  # ... then add with every head
            memory = memory + np.outer(write_weights[i], heads[reads + i]["add"])
        read_weights = np.stack([address(heads[i], memory, read_weights[i]) for i in range(reads)])
        read_vectors = read_weights @ memory

        y, state = core(x[step : step + 1], state)
        y, state = y.detach(), NTMState(*(field.detach() for field in state))
        np.testing.assert_allclose(state.write_weights[0].numpy(), write_weights, rtol=1e-6)
        np.testing.assert_allclose(state.memory[0].numpy(), memory, rtol=1e-6)
        np.testing.assert_allclose(state.read_weights[0].numpy(), read_weights, rtol=1e-6)
        np.testing.assert_allclose(state.reads[0].numpy(), read_vectors, rtol=1e-6)
        np.testing.assert_allclose(y[0, 0, 4:].numpy(), read_vectors.reshape(-1), rtol=1e-6)
        torch.testing.assert_close(y[0, 0, :4], state.h[0])


def test_the_first_read_already_sees_the_first_write():
    core = small_ntm(memory_init=0.0)
    _, state = core(torch.randn(1, 2, 3, dtype=F64), core.initial_state(2))
    assert state.reads.abs().sum() > 0, "reading before the write would give exact zeros"
    torch.testing.assert_close(
        state.reads, torch.einsum("brn,bnw->brw", state.read_weights, state.memory)
    )


# ----------------------------------------------------------------------------- shapes, state


@pytest.mark.parametrize("controller", ["lstm", "mlp"])
@pytest.mark.parametrize(("read_heads", "write_heads"), [(1, 1), (3, 2)])
def test_shapes(controller, read_heads, write_heads):
    core = small_ntm(controller=controller, read_heads=read_heads, write_heads=write_heads)
    assert core.output_size == 6 + read_heads * 4
    y, state = run(core, steps=3, batch=2)
    assert y.shape == (3, 2, core.output_size)
    assert isinstance(state, NTMState)
    assert state.h.shape == state.c.shape == (2, 6)
    assert state.memory.shape == (2, 5, 4)
    assert state.read_weights.shape == (2, read_heads, 5)
    assert state.write_weights.shape == (2, write_heads, 5)
    assert state.reads.shape == (2, read_heads, 4)
    torch.testing.assert_close(state.read_weights.sum(-1), torch.ones(2, read_heads, dtype=F64))
    torch.testing.assert_close(state.write_weights.sum(-1), torch.ones(2, write_heads, dtype=F64))
    if controller == "mlp":
        assert (state.c == 0).all()


def test_initial_state_is_constant_memory_and_broadcast_learned_values():
    core = small_ntm(memory_init=0.25)
    state = core.initial_state(3, device="cpu")
    assert (state.memory == 0.25).all()
    assert (state.h == 0).all() and (state.c == 0).all()
    # expand, not copy: the batch dimension has stride 0
    assert state.read_weights.stride(0) == 0 and state.reads.stride(0) == 0
    assert state.write_weights.stride(0) == 0
    # heads start focused (0.9) on slots spread over the memory, the rest shared evenly
    expected = torch.full((2, 5), 0.1 / 4, dtype=F64)
    expected[0, 0] = expected[1, 2] = 0.9
    torch.testing.assert_close(state.read_weights[0], expected)
    torch.testing.assert_close(state.write_weights[0, 0], expected[0])
    assert state.read_weights.requires_grad and state.reads.requires_grad


def test_read_trace_returns_the_state_weightings():
    core = small_ntm()
    _, state = run(core)
    trace = core.read_trace(state)
    assert isinstance(trace, Recall) and trace.has_slots
    assert trace.read_weights is state.read_weights
    assert trace.write_weights is state.write_weights


def test_registered_under_ntm():
    core = make_core("ntm", 3, memory_slots=4, slot_size=2, controller_size=5)
    assert isinstance(core, NTM) and core.output_size == 5 + 2


# ----------------------------------------------------------------------------- Gumbel reads


def assert_one_hot(weights: torch.Tensor) -> None:
    assert ((weights == 0) | (weights == 1)).all()
    assert (weights.sum(-1) == 1).all()


@pytest.mark.parametrize("training", [True, False])
def test_gumbel_reads_are_exactly_one_hot(training):
    core = small_ntm(read_addressing="gumbel")
    core.train(training)
    y, state = run(core, steps=5)
    assert_one_hot(state.read_weights)
    # a one-hot read returns exactly one memory row
    rows = state.memory.gather(1, state.read_weights.argmax(-1, keepdim=True).expand(-1, -1, 4))
    torch.testing.assert_close(state.reads, rows)
    torch.testing.assert_close(y[-1, :, 6:], rows.reshape(2, -1))


def test_gumbel_eval_is_deterministic_and_training_samples():
    core = small_ntm(read_addressing="gumbel")
    core.eval()
    torch.manual_seed(10)
    y_a, _ = run(core, steps=6)
    torch.manual_seed(11)
    y_b, _ = run(core, steps=6)
    torch.testing.assert_close(y_a, y_b, rtol=0, atol=0)
    core.train()
    sampled = []
    for seed in range(5):
        torch.manual_seed(seed)
        sampled.append(run(core, steps=6, batch=4)[1].read_weights)
    assert any(not torch.equal(sampled[0], other) for other in sampled[1:])


def test_gumbel_training_gradients_reach_the_read_keys():
    core = small_ntm(read_addressing="gumbel")
    core.train()
    torch.manual_seed(0)
    y, _ = run(core, steps=5)
    y[..., core.controller_size :].pow(2).sum().backward()
    key_rows = core.head_parameters.weight.grad[: core.slot_size]  # read head 0's key k
    assert torch.isfinite(core.head_parameters.weight.grad).all()
    assert key_rows.abs().sum() > 0


def test_gumbel_tau_is_a_saved_buffer_in_both_modes_and_used():
    for mode in ("soft", "gumbel"):
        core = small_ntm(read_addressing=mode, gumbel_tau=2.0)
        assert core.gumbel_tau.dim() == 0 and core.gumbel_tau.dtype == F64
        assert "gumbel_tau" in core.state_dict()
        assert core.gumbel_tau.item() == 2.0

    core = small_ntm(read_addressing="gumbel")
    core.train()
    gradients = []
    for tau in (1.0, 0.1):
        core.zero_grad()
        core.gumbel_tau.fill_(tau)
        torch.manual_seed(0)
        y, _ = run(core, steps=4)
        y.pow(2).sum().backward()
        gradients.append(core.head_parameters.weight.grad.clone())
    assert not torch.allclose(gradients[0], gradients[1]), "the temperature must matter"


def test_soft_reads_are_not_one_hot():
    _, state = run(small_ntm())
    assert ((state.read_weights > 0) & (state.read_weights < 1)).any()


# ----------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(input_size=0), "input_size"),
        (dict(memory_slots=0), "memory_slots"),
        (dict(slot_size=-1), "slot_size"),
        (dict(read_heads=0), "read_heads"),
        (dict(write_heads=0), "write_heads"),
        (dict(controller_size=2.5), "controller_size"),
        (dict(read_heads=True), "read_heads"),
        (dict(controller="gru"), r"controller must be one of \('lstm', 'mlp'\)"),
        (dict(shift_range=-1), "shift_range"),
        (dict(shift_range=3), r"shift_range.*memory_slots"),
        (dict(memory_init=float("nan")), "memory_init"),
        (dict(read_addressing="hard"), r"read_addressing must be one of \('soft', 'gumbel'\)"),
        (dict(gumbel_tau=0.0), "gumbel_tau.*> 0"),
        (dict(gumbel_tau=float("inf")), "gumbel_tau"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, message):
    options = dict(input_size=3, memory_slots=5)
    options.update(kwargs)
    with pytest.raises(ValueError, match=message):
        NTM(**options)


def test_writes_make_the_memory_rows_differ():
    """The memory starts constant; if the heads started symmetric (uniform weightings) every
    write would add the same vector to every row and the rows would stay equal forever."""
    _, state = run(small_ntm(), steps=3)
    rows = state.memory
    assert (rows - rows[:, :1]).abs().amax(dim=(1, 2)).min() > 1e-3

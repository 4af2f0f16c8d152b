"""The MemoryCore contract, checked for every registered core (new cores join automatically)."""

from __future__ import annotations

from typing import NamedTuple

import pytest
import torch
from core_sizes import SMALL

import memrl
from memrl.memory import (
    MemoryCore,
    core_names,
    detach,
    index_state,
    make_core,
    register_core,
    state_to,
)
from memrl.memory.registry import accepted_kwargs

INPUT_SIZE = 5


def small_core(name: str, **overrides) -> MemoryCore:
    kwargs = accepted_kwargs(name, SMALL)
    kwargs.update(overrides)
    torch.manual_seed(0)
    core = make_core(name, INPUT_SIZE, **kwargs).double()
    core.eval()  # hard (Gumbel) reads are deterministic argmax in eval mode
    return core


def variants() -> list[tuple[str, dict]]:
    """Every registered core, plus the option variants that change the step function."""
    out = [(name, {}) for name in core_names()]
    for name, options in [
        ("ntm", {"controller": "mlp"}),
        ("mnm", {"update": "local"}),
        ("ntm", {"read_addressing": "gumbel"}),
        ("dnc", {"read_addressing": "gumbel"}),
        ("memnet", {"read_addressing": "gumbel"}),
    ]:
        if name in core_names():
            out.append((name, options))
    return out


VARIANTS = variants()
IDS = [name + "".join(f"-{v}" for v in opts.values()) for name, opts in VARIANTS]


def sequence(t: int, b: int, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(t, b, INPUT_SIZE, generator=generator, dtype=torch.float64)


def test_builtin_cores_are_registered():
    assert {"lstm", "gru", "ntm", "dnc"} <= set(core_names())


@pytest.mark.parametrize(("name", "options"), VARIANTS, ids=IDS)
class TestContract:
    def test_shapes_and_batch_first_state(self, name, options):
        core = small_core(name, **options)
        state = core.initial_state(3)
        assert isinstance(state, tuple) and hasattr(state, "_fields"), "state is a NamedTuple"
        for field in state:
            assert field.shape[0] == 3 and field.dtype == torch.float64
        y, new_state = core(sequence(7, 3), state)
        assert y.shape == (7, 3, core.output_size)
        assert type(new_state) is type(state)
        assert [f.shape for f in new_state] == [f.shape for f in state]

    def test_float32_by_default(self, name, options):
        core = make_core(name, INPUT_SIZE, **accepted_kwargs(name, SMALL), **options)
        y, state = core(torch.randn(2, 2, INPUT_SIZE), core.initial_state(2))
        assert y.dtype == torch.float32
        assert all(f.dtype == torch.float32 for f in state)

    def test_steps_equal_sequence_with_a_reset_inside(self, name, options):
        core = small_core(name, **options)
        x = sequence(9, 3)
        starts = torch.zeros(9, 3, dtype=torch.float64)
        starts[0] = 1.0
        starts[4, 1] = 1.0  # element 1 begins a new episode at step 4
        y_seq, state_seq = core(x, core.initial_state(3), starts)
        state = core.initial_state(3)
        y_steps = []
        for t in range(9):
            y, state = core(x[t : t + 1], state, starts[t : t + 1])
            y_steps.append(y)
        torch.testing.assert_close(torch.cat(y_steps), y_seq)
        for a, b in zip(state, state_seq, strict=True):
            torch.testing.assert_close(a, b)

    def test_reset_element_behaves_like_a_fresh_episode(self, name, options):
        core = small_core(name, **options)
        x = sequence(9, 3)
        starts = torch.zeros(9, 3, dtype=torch.float64)
        starts[4, 1] = 1.0
        y, _ = core(x, core.initial_state(3), starts)
        fresh, _ = core(x[4:, 1:2], core.initial_state(1))
        torch.testing.assert_close(y[4:, 1:2], fresh)
        # and the reset really changed something: without it the outputs differ
        y_no_reset, _ = core(x, core.initial_state(3))
        assert not torch.allclose(y_no_reset[4:, 1], y[4:, 1])

    def test_batch_elements_are_independent(self, name, options):
        core = small_core(name, **options)
        x = sequence(6, 3)
        other = x.clone()
        other[:, 1] = sequence(6, 1, seed=7)[:, 0]
        y, _ = core(x, core.initial_state(3))
        y_other, _ = core(other, core.initial_state(3))
        torch.testing.assert_close(y[:, [0, 2]], y_other[:, [0, 2]])
        assert not torch.allclose(y[:, 1], y_other[:, 1])

    def test_no_nan_over_long_zero_input(self, name, options):
        core = small_core(name, **options)
        core.train()
        x = torch.zeros(150, 2, INPUT_SIZE, dtype=torch.float64, requires_grad=True)
        y, state = core(x, core.initial_state(2))
        assert torch.isfinite(y).all()
        assert all(torch.isfinite(f).all() for f in state)
        y.sum().backward()
        assert torch.isfinite(x.grad).all()
        for p in core.parameters():
            assert p.grad is None or torch.isfinite(p.grad).all()

    def test_last_output_depends_on_first_input(self, name, options):
        core = small_core(name, **options)
        x = sequence(12, 2).requires_grad_(True)
        y, _ = core(x, core.initial_state(2))
        (grad,) = torch.autograd.grad(y[-1].sum(), x)
        assert grad[0].abs().sum() > 0, "information from step 0 must reach the last step"

    def test_gradients_reach_every_parameter(self, name, options):
        core = small_core(name, **options)
        core.train()
        y, _ = core(sequence(6, 2), core.initial_state(2))
        y.pow(2).sum().backward()
        missing = [n for n, p in core.named_parameters() if p.grad is None]
        assert not missing, f"parameters without gradient: {missing}"

    def test_state_survives_detach_and_device_moves(self, name, options):
        core = small_core(name, **options)
        x = sequence(6, 2)
        y_full, _ = core(x, core.initial_state(2))
        _, state = core(x[:3], core.initial_state(2))
        state = state_to(detach(state), "cpu")
        assert all(not f.requires_grad for f in state)
        y_rest, _ = core(x[3:], state)
        torch.testing.assert_close(y_rest, y_full[3:])

    def test_state_rows_can_be_selected(self, name, options):
        core = small_core(name, **options)
        x = sequence(5, 3)
        _, state = core(x, core.initial_state(3))
        _, state_one = core(x[:, 2:3], core.initial_state(1))
        for a, b in zip(index_state(state, slice(2, 3)), state_one, strict=True):
            torch.testing.assert_close(a, b)

    def test_read_trace_of_slot_memories(self, name, options):
        core = small_core(name, **options)
        _, state = core(sequence(4, 2), core.initial_state(2))
        trace = core.read_trace(state)
        if trace.read_weights is None:
            return
        b, _, n = trace.read_weights.shape
        assert b == 2
        assert (trace.read_weights >= 0).all()
        sums = trace.read_weights.sum(-1)
        assert torch.all(sums <= 1 + 1e-6)
        if trace.write_weights is not None:
            assert trace.write_weights.shape[0] == 2 and trace.write_weights.shape[-1] == n

    def test_wrong_input_size_is_a_clear_error(self, name, options):
        core = small_core(name, **options)
        with pytest.raises(ValueError, match=r"\[T, B, 5\]"):
            core(torch.zeros(2, 2, INPUT_SIZE + 1, dtype=torch.float64), core.initial_state(2))
        with pytest.raises(ValueError, match="episode_starts"):
            core(sequence(3, 2), core.initial_state(2), torch.zeros(3, 3))

    @pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
    def test_cuda_matches_cpu(self, name, options):
        core = small_core(name, **options)
        x = sequence(5, 2)
        y_cpu, _ = core(x, core.initial_state(2))
        core_gpu = core.to("cuda")
        y_gpu, state = core_gpu(x.cuda(), core_gpu.initial_state(2))
        assert all(f.device.type == "cuda" for f in state)
        torch.testing.assert_close(y_gpu.cpu(), y_cpu)


def test_unknown_core_name_lists_the_registered_ones():
    with pytest.raises(ValueError, match=r"registered cores: .*lstm"):
        make_core("no-such-core", 4)


def test_bad_core_arguments_name_the_core():
    with pytest.raises(TypeError, match="LSTMCore"):
        make_core("lstm", 4, no_such_argument=1)


class _CounterState(NamedTuple):
    total: torch.Tensor


class _CounterCore(MemoryCore):
    """A user-defined core: sums its inputs over the episode."""

    def __init__(self, input_size: int) -> None:
        super().__init__()
        self.input_size = self.output_size = input_size
        self.scale = torch.nn.Parameter(torch.ones(()))

    def initial_state(self, batch_size, device=None):
        return _CounterState(torch.zeros(batch_size, self.input_size, device=device))

    def step(self, x, state):
        total = state.total + self.scale * x
        return total, _CounterState(total)


def test_user_core_registers_and_gets_resets_for_free():
    register_core("test-counter", overwrite=True)(_CounterCore)
    core = memrl.make_core("test-counter", 2)
    x = torch.ones(4, 1, 2)
    starts = torch.tensor([[1.0], [0.0], [1.0], [0.0]])
    y, _ = core(x, core.initial_state(1), starts)
    assert y[:, 0, 0].tolist() == [1.0, 2.0, 1.0, 2.0]


def test_registering_a_non_core_is_refused():
    with pytest.raises(TypeError, match="MemoryCore subclass"):
        register_core("not-a-core")(torch.nn.Linear)

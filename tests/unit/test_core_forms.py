"""A user core may implement either form of the contract: ``step`` (one step) or
``forward``/``unroll`` (a whole sequence); the base class derives the other."""

from __future__ import annotations

import itertools
from typing import NamedTuple

import pytest
import torch
from torch import Tensor, nn

from memrl.memory import MemoryCore, make_core, reset_where

INPUT_SIZE, HIDDEN_SIZE = 5, 6


class GRUState(NamedTuple):
    h: Tensor


class _GRUParts(MemoryCore):
    """The parameters and initial state shared by the GRU cores below; no form of its own."""

    def __init__(self, input_size: int, hidden_size: int = HIDDEN_SIZE) -> None:
        super().__init__()
        self.input_size, self.output_size = input_size, hidden_size
        self.rnn = nn.GRU(input_size, hidden_size)
        # A learned, non-zero initial state: a reset must visibly change the state.
        self.h0 = nn.Parameter(torch.linspace(-0.5, 0.5, hidden_size))

    def initial_state(self, batch_size: int, device=None) -> GRUState:
        return GRUState(self.h0.to(device or self.h0.device).expand(batch_size, -1))

    def _run(self, x: Tensor, state: GRUState) -> tuple[Tensor, GRUState]:
        y, h = self.rnn(x, state.h.unsqueeze(0).contiguous())
        return y, GRUState(h.squeeze(0))


class StepGRU(_GRUParts):
    """Step form."""

    def step(self, x: Tensor, state: GRUState) -> tuple[Tensor, GRUState]:
        y, state = self._run(x.unsqueeze(0), state)
        return y.squeeze(0), state


class SequenceGRU(_GRUParts):
    """Sequence form: one cuDNN-style call per stretch without episode starts."""

    def forward(self, x: Tensor, state: GRUState, episode_starts: Tensor | None = None):
        self.check_sequence(x, episode_starts)
        if episode_starts is None:
            return self._run(x, state)
        any_start = episode_starts.bool().any(dim=1)
        any_start[0] = True
        bounds = [*torch.nonzero(any_start).flatten().tolist(), x.shape[0]]
        initial = self.initial_state(x.shape[1], x.device)
        outputs = []
        for begin, end in itertools.pairwise(bounds):
            y, state = self._run(x[begin:end], reset_where(episode_starts[begin], state, initial))
            outputs.append(y)
        return torch.cat(outputs), state


class UnrollGRU(SequenceGRU):
    """Sequence form through ``unroll`` only (its ``forward`` is the base class's)."""

    forward = MemoryCore.forward

    def unroll(self, x, state, episode_starts=None, with_loss=False):
        y, state = SequenceGRU.forward(self, x, state, episode_starts)
        return y, state, None


def _energy(state: GRUState) -> Tensor:
    return state.h.pow(2).sum(-1)


class StepGRUWithLoss(StepGRU):
    def step_loss(self, state: GRUState) -> Tensor:
        return _energy(state)


class SequenceGRUWithLoss(SequenceGRU):
    def step_loss(self, state: GRUState) -> Tensor:
        return _energy(state)


def build(cls: type[MemoryCore]) -> MemoryCore:
    torch.manual_seed(0)  # the same parameters for every class
    return make_core(cls, INPUT_SIZE).double()


def inputs(t: int = 7, b: int = 3) -> tuple[Tensor, Tensor]:
    x = torch.randn(t, b, INPUT_SIZE, generator=torch.Generator().manual_seed(1)).double()
    starts = torch.zeros(t, b, dtype=torch.float64)
    starts[0] = 1.0
    starts[3, 1] = 1.0  # element 1 begins a new episode in the middle
    starts[5, 2] = 1.0
    return x, starts


def stepped(core: MemoryCore, x: Tensor, state, starts: Tensor) -> tuple[Tensor, tuple]:
    """The core's ``step`` in a loop, with the resets applied by hand."""
    initial = core.initial_state(x.shape[1])
    outputs = []
    for x_t, start in zip(x, starts, strict=True):
        y, state = core.step(x_t, reset_where(start, state, initial))
        outputs.append(y)
    return torch.stack(outputs), state


FORMS = [StepGRU, SequenceGRU, UnrollGRU]


@pytest.mark.parametrize("cls", FORMS, ids=lambda cls: cls.__name__)
def test_step_and_sequence_agree_across_a_reset(cls):
    reference = build(StepGRU)
    x, starts = inputs()
    state = reference.initial_state(3)
    expected_y, expected_state = reference(x, state, starts)
    core = build(cls)
    for y, final in [
        core(x, state, starts),
        core.unroll(x, state, starts)[:2],
        stepped(core, x, state, starts),
    ]:
        torch.testing.assert_close(y, expected_y)
        torch.testing.assert_close(final.h, expected_state.h)


@pytest.mark.parametrize("cls", FORMS, ids=lambda cls: cls.__name__)
def test_gradients_reach_the_parameters_through_either_form(cls):
    core = build(cls)
    x, starts = inputs()
    y, _ = stepped(core, x, core.initial_state(3), starts)
    y.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in core.parameters())


@pytest.mark.parametrize("cls", FORMS, ids=lambda cls: cls.__name__)
def test_a_core_without_step_loss_has_no_loss(cls):
    core = build(cls)
    x, starts = inputs()
    assert core.unroll(x, core.initial_state(3), starts, with_loss=True)[2] is None


def test_a_sequence_core_with_step_loss_gets_the_loss_of_every_step():
    x, starts = inputs()
    step_core, sequence_core = build(StepGRUWithLoss), build(SequenceGRUWithLoss)
    state = step_core.initial_state(3)
    y, final, loss = sequence_core.unroll(x, state, starts, with_loss=True)
    expected_y, expected_state, expected_loss = step_core.unroll(x, state, starts, with_loss=True)
    assert loss.shape == (7, 3)
    torch.testing.assert_close(loss, expected_loss)
    torch.testing.assert_close(y, expected_y)
    torch.testing.assert_close(final.h, expected_state.h)
    assert sequence_core.unroll(x, state, starts)[2] is None


def test_the_derived_step_checks_its_input():
    core = build(SequenceGRU)
    with pytest.raises(ValueError, match=r"SequenceGRU.step expects x of shape \[B, 5\]"):
        core.step(torch.zeros(2, 3, INPUT_SIZE, dtype=torch.float64), core.initial_state(3))


def test_the_derived_sequence_form_keeps_the_contract_checks():
    core = build(StepGRU)
    with pytest.raises(ValueError, match=r"\[T, B, 5\]"):
        core(torch.zeros(2, 2, INPUT_SIZE + 1, dtype=torch.float64), core.initial_state(2))
    with pytest.raises(ValueError, match="episode_starts"):
        core.unroll(inputs()[0], core.initial_state(3), torch.zeros(3, 3))


def test_a_core_with_neither_form_is_refused_by_name():
    with pytest.raises(TypeError, match=r"_GRUParts .*step\(x \[B, F\].*forward\(x \[T, B, F\]"):
        _GRUParts(INPUT_SIZE)
    with pytest.raises(TypeError, match="_GRUParts"):
        make_core(_GRUParts, INPUT_SIZE)


def test_initial_state_is_still_required():
    class NoInitialState(MemoryCore):
        def step(self, x, state):
            return x, state

    with pytest.raises(TypeError, match="initial_state"):
        NoInitialState()

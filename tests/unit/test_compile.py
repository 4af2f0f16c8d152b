"""The opt-in torch.compile of a core's per-step function: same outputs and gradients as
eager, over a sequence with a reset in the middle; bad modes are refused by name."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from memrl.memory import MemoryCore
from memrl.memory.base import steps_with_starts


class CellCore(MemoryCore):
    """A step-form core (GRU cell): the base class unrolls it, through ``compiled("step")``."""

    def __init__(self, input_size: int, hidden_size: int = 4) -> None:
        super().__init__()
        self.input_size, self.output_size = input_size, hidden_size
        self.cell = nn.GRUCell(input_size, hidden_size)

    def initial_state(self, batch_size: int, device=None) -> tuple[Tensor]:
        return (torch.zeros(batch_size, self.output_size, device=device),)

    def step(self, x: Tensor, state: tuple[Tensor]) -> tuple[Tensor, tuple[Tensor]]:
        h = self.cell(x, state[0])
        return h, (h,)


def test_steps_with_starts_marks_the_steps_where_any_element_resets():
    starts = torch.zeros(5, 3)
    starts[0, :] = 1
    starts[3, 1] = 1
    assert steps_with_starts(starts, 5) == [True, False, False, True, False]
    assert steps_with_starts(None, 4) == [False] * 4
    # One step (a rollout) is not inspected: no host transfer while collecting.
    assert steps_with_starts(torch.zeros(1, 3), 1) == [True]


def test_a_compiled_core_matches_eager_in_values_and_gradients():
    torch.manual_seed(0)
    core = CellCore(3)
    x = torch.randn(6, 2, 3)
    starts = torch.zeros(6, 2)
    starts[3, 0] = 1

    def run() -> tuple[torch.Tensor, list[torch.Tensor]]:
        core.zero_grad()
        y, _ = core(x, core.initial_state(2), starts)
        y.square().sum().backward()
        return y.detach(), [p.grad.clone() for p in core.parameters()]

    eager_y, eager_grads = run()
    core.set_compile("default")
    compiled_y, compiled_grads = run()
    torch.testing.assert_close(compiled_y, eager_y, rtol=1e-5, atol=1e-6)
    for compiled, eager in zip(compiled_grads, eager_grads, strict=True):
        torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-6)
    assert core.compiled("step") is not core.step
    core.set_compile(None)
    assert core.compiled("step") == core.step


def test_an_unknown_compile_mode_is_refused_by_name():
    core = CellCore(3)
    with pytest.raises(ValueError, match="compile mode must be one of"):
        core.set_compile("fastest")

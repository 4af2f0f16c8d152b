"""``compile: reduce-overhead`` on a GPU: torch.compile captures a core's per-step function
in CUDA graphs; the unroll must give what the eager core gives, in training (a grad unroll
with episode starts, then backward) and in collection (no-grad single steps carrying the
state from call to call, as a rollout does; those run eager, see MemoryCore.set_compile)."""

from __future__ import annotations

import pytest
import torch
from core_sizes import SMALL

from memrl.memory import make_core
from memrl.memory.registry import accepted_kwargs

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
# ntm: the base unroll over compiled("step"); dnc: its own unroll over compiled("_step").
CORES = ["ntm", "dnc"]
TOLERANCE = dict(rtol=1e-4, atol=1e-5)


def cuda_core(name: str):
    torch.manual_seed(0)
    return make_core(name, 5, **accepted_kwargs(name, SMALL)).to("cuda")


def training_unroll(core, x, starts) -> tuple[torch.Tensor, list[torch.Tensor]]:
    core.zero_grad(set_to_none=True)
    y, _ = core(x, core.initial_state(x.shape[1]), starts)
    y.square().mean().backward()
    # Clone now: CUDA-graph outputs are overwritten by the next replay.
    return y.detach().clone(), [p.grad.clone() for p in core.parameters() if p.grad is not None]


def rollout(core, x) -> torch.Tensor:
    state, outputs = core.initial_state(x.shape[1]), []
    with torch.no_grad():
        for x_t in x.unbind(0):
            y, state = core(x_t.unsqueeze(0), state)  # one step, as the policy collects
            outputs.append(y[0].clone())
    return torch.stack(outputs)


@pytest.mark.parametrize("name", CORES)
def test_reduce_overhead_training_unroll_matches_eager(name):
    core = cuda_core(name)
    x = torch.randn(6, 3, 5, device="cuda")
    starts = torch.zeros(6, 3, device="cuda")
    starts[2, 1] = starts[4, 0] = 1
    eager_y, eager_grads = training_unroll(core, x, starts)
    core.set_compile("reduce-overhead")
    for _ in range(3):  # warm-up, recording, then replays of the captured graphs
        compiled_y, compiled_grads = training_unroll(core, x, starts)
    torch.testing.assert_close(compiled_y, eager_y, **TOLERANCE)
    assert len(compiled_grads) == len(eager_grads)
    for compiled, eager in zip(compiled_grads, eager_grads, strict=True):
        torch.testing.assert_close(compiled, eager, **TOLERANCE)


@pytest.mark.parametrize("name", CORES)
def test_reduce_overhead_rollout_steps_match_eager(name):
    core = cuda_core(name).eval()
    x = torch.randn(5, 3, 5, device="cuda")
    eager = rollout(core, x)
    core.set_compile("reduce-overhead")
    for _ in range(3):
        compiled = rollout(core, x)
    torch.testing.assert_close(compiled, eager, **TOLERANCE)

"""Supervised learning tests: each memory core learns the NTM copy task end to end.

The task (Graves et al. 2014, small): observe L random 4-bit vectors (L from 1 to 5), a
delimiter, then reproduce the vectors during L "respond" steps whose inputs carry no bits.
Why the threshold proves memory: at a respond step the input is the same for every
sequence, so a model without memory can only output the average bit and errs on half the
bits (checked below with a feedforward network); a bit error below 5% needs the vectors
stored over up to 10 steps and read back in order.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from memrl.memory import MemoryCore, make_core

BITS = 4
MAX_LENGTH = 5
INPUT_SIZE = BITS + 2  # bits, delimiter flag, respond flag

pytestmark = pytest.mark.slow


def copy_batch(batch: int, length: int, generator: torch.Generator):
    """Inputs ``[2L + 1, B, BITS + 2]``, targets ``[L, B, BITS]`` (the respond steps)."""
    bits = torch.randint(0, 2, (length, batch, BITS), generator=generator).float()
    steps = 2 * length + 1
    x = torch.zeros(steps, batch, INPUT_SIZE)
    x[:length, :, :BITS] = bits
    x[length, :, BITS] = 1.0
    x[length + 1 :, :, BITS + 1] = 1.0
    return x, bits


class CopyModel(nn.Module):
    def __init__(self, core: MemoryCore) -> None:
        super().__init__()
        self.core = core
        self.readout = nn.Linear(core.output_size, BITS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.core(x, self.core.initial_state(x.shape[1]))
        return self.readout(y)


class Feedforward(nn.Module):
    """The same readout on a per-step MLP: no information flows between steps."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(INPUT_SIZE, 64), nn.Tanh(), nn.Linear(64, BITS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def bit_error_after_training(model: nn.Module, iterations: int, lr: float) -> float:
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(iterations):
        length = int(torch.randint(1, MAX_LENGTH + 1, (1,), generator=generator))
        x, bits = copy_batch(32, length, generator)
        logits = model(x)[length + 1 :]
        loss = nn.functional.binary_cross_entropy_with_logits(logits, bits)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
    model.eval()
    errors, total = 0.0, 0
    with torch.no_grad():
        for length in range(1, MAX_LENGTH + 1):
            x, bits = copy_batch(64, length, generator)
            predicted = (model(x)[length + 1 :] > 0).float()
            errors += (predicted != bits).float().sum().item()
            total += bits.numel()
    return errors / total


CORES = {
    "ntm": ("ntm", dict(memory_slots=16, slot_size=8, controller_size=64)),
    "dnc": ("dnc", dict(memory_slots=16, slot_size=8, controller_size=64, read_heads=2)),
    "dnc-gumbel": (
        "dnc",
        dict(
            memory_slots=16,
            slot_size=8,
            controller_size=64,
            read_heads=2,
            read_addressing="gumbel",
        ),
    ),
    "mnm-g": ("mnm", dict(controller_size=64, key_size=16, update="gradient")),
    "mnm-p": ("mnm", dict(controller_size=64, key_size=16, update="local")),
    "memnet": ("memnet", dict(memory_slots=16, key_size=64, hops=2)),
}


@pytest.mark.parametrize("variant", list(CORES))
def test_core_learns_to_copy(variant):
    name, kwargs = CORES[variant]
    model = CopyModel(make_core(name, INPUT_SIZE, **kwargs))
    assert bit_error_after_training(model, iterations=3000, lr=3e-3) < 0.05


def test_feedforward_net_cannot_copy():
    assert bit_error_after_training(Feedforward(), iterations=500, lr=3e-3) > 0.35

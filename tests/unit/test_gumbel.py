"""Hard (Gumbel) reads across the cores that accept ``read_addressing="gumbel"``, and the
temperature schedule that anneals them."""

from __future__ import annotations

import itertools
import math
import sys

import pytest
import torch
from core_sizes import SMALL
from torch import nn

from memrl.memory import (
    MemNet,
    addressing,
    core_names,
    gumbel_temperature,
    make_core,
    set_gumbel_tau,
)
from memrl.memory.registry import accepted_kwargs

HARD_READ_CORES = ["ntm", "dnc", "memnet"]
INPUT_SIZE = 5
STEPS, BATCH = 8, 4


def hard_read_core(name: str, training: bool) -> nn.Module:
    if name not in core_names():
        pytest.skip(f"core {name!r} is not registered yet")
    kwargs = accepted_kwargs(name, SMALL)
    torch.manual_seed(0)
    core = make_core(name, INPUT_SIZE, read_addressing="gumbel", **kwargs).double()
    return core.train(training)


def sequence(seed: int = 1, steps: int = STEPS, batch: int = BATCH) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(steps, batch, INPUT_SIZE, generator=generator, dtype=torch.float64)


def run(core: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Outputs ``[T, B, O]`` and the read weights ``[B, R, N]`` of every step."""
    state = core.initial_state(x.shape[1])
    outputs, reads = [], []
    for t in range(x.shape[0]):
        y, state = core(x[t : t + 1], state)
        outputs.append(y[0])
        reads.append(core.read_trace(state).read_weights)
    return torch.stack(outputs), reads


def gumbel_buffers(core: nn.Module) -> list[torch.Tensor]:
    return [b for n, b in core.named_buffers() if n.split(".")[-1] == "gumbel_tau"]


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name", HARD_READ_CORES)
def test_reads_are_exactly_one_hot(name, training):
    core = hard_read_core(name, training)
    _, reads = run(core, sequence())
    for weights in reads:
        assert weights.dim() == 3 and weights.shape[0] == BATCH
        assert torch.all((weights == 0) | (weights == 1)), "values are exactly 0 or 1"
        assert torch.all((weights == 1).sum(-1) == 1), "a single 1 per row"


@pytest.mark.parametrize("name", HARD_READ_CORES)
def test_straight_through_gradient_reaches_read_keys_in_training(name):
    core = hard_read_core(name, training=True)
    x = sequence().requires_grad_(True)
    _, reads = run(core, x)
    # A fixed random weighting of the entries: the plain sum of a one-hot row is constant.
    coefficients = torch.randn(reads[-1].shape, generator=torch.Generator().manual_seed(2))
    loss = (coefficients.double() * reads[-1]).sum()
    params = [p for p in core.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, [x, *params], allow_unused=True)
    assert grads[0] is not None and grads[0][-1].abs().sum() > 0, (
        "the read key of the last step is computed from its input: the gradient must reach it"
    )
    assert any(g is not None and g.abs().sum() > 0 for g in grads[1:])


@pytest.mark.parametrize("name", HARD_READ_CORES)
def test_eval_reads_are_one_hot_with_a_straight_through_gradient(name):
    """Eval reads are the argmax, and an update can still train through them (MemoryPPO
    recomputes in eval mode the reads its rollout acted with)."""
    core = hard_read_core(name, training=False)
    x = sequence().requires_grad_(True)
    _, reads = run(core, x)
    last = reads[-1]
    assert set(last.detach().unique().tolist()) <= {0.0, 1.0}
    assert torch.all(last.detach().sum(-1) == 1)
    coefficients = torch.randn(last.shape, generator=torch.Generator().manual_seed(2))
    (grad,) = torch.autograd.grad((coefficients.double() * last).sum(), x)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize("name", HARD_READ_CORES)
def test_eval_is_deterministic_and_training_samples(name):
    x = sequence()
    core = hard_read_core(name, training=False)
    torch.manual_seed(10)
    y_first, reads_first = run(core, x)
    torch.manual_seed(11)
    y_second, reads_second = run(core, x)
    assert torch.equal(y_first, y_second)
    assert all(torch.equal(a, b) for a, b in zip(reads_first, reads_second, strict=True))

    core.train()
    torch.manual_seed(10)
    _, reads_a = run(core, x)
    torch.manual_seed(10)
    _, reads_same_seed = run(core, x)
    torch.manual_seed(11)
    _, reads_b = run(core, x)
    assert all(torch.equal(a, b) for a, b in zip(reads_a, reads_same_seed, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(reads_a, reads_b, strict=True)), (
        "training-mode reads are Gumbel samples: another seed must give other reads"
    )


@pytest.mark.parametrize("name", HARD_READ_CORES)
def test_set_gumbel_tau_sets_the_buffer_and_the_sampling_sharpness(name, monkeypatch):
    core = hard_read_core(name, training=True)
    assert set_gumbel_tau(core, 0.25) == len(gumbel_buffers(core)) >= 1
    for buffer in gumbel_buffers(core):
        assert buffer.shape == () and buffer.dtype == torch.float64
        assert buffer.item() == 0.25

    # Record the soft sample behind every straight-through read (same values and gradients).
    samples: list[tuple[float, torch.Tensor]] = []
    original = addressing.gumbel_softmax

    def recording_gumbel_softmax(logits, tau, hard=True):
        soft = original(logits, tau, hard=False)
        samples.append((float(tau), soft.detach()))
        return addressing.one_hot_argmax(soft) + (soft - soft.detach()) if hard else soft

    monkeypatch.setattr(addressing, "gumbel_softmax", recording_gumbel_softmax)
    core_module = sys.modules[type(core).__module__]
    if hasattr(core_module, "gumbel_softmax"):  # imported by name rather than via the module
        monkeypatch.setattr(core_module, "gumbel_softmax", recording_gumbel_softmax)

    def mean_largest_probability(tau: float) -> float:
        samples.clear()
        set_gumbel_tau(core, tau)
        torch.manual_seed(0)
        run(core, sequence())
        assert samples, f"{name} must sample its reads with addressing.gumbel_softmax"
        assert all(recorded == pytest.approx(tau) for recorded, _ in samples)
        return torch.cat([s.max(-1).values.flatten() for _, s in samples]).mean().item()

    sharp, flat = mean_largest_probability(0.05), mean_largest_probability(20.0)
    # With N = 6 slots a near-uniform sample has a largest probability near 1/6.
    assert sharp > 0.9 and flat < 0.5, (sharp, flat)


def test_set_gumbel_tau_counts_every_buffer_in_a_model():
    model = nn.ModuleDict(
        {
            "actor": MemNet(3, memory_slots=4, key_size=4, read_addressing="gumbel"),
            "critic": MemNet(3, memory_slots=4, key_size=4, read_addressing="gumbel"),
            "head": nn.Linear(4, 2),
        }
    )
    assert set_gumbel_tau(model, 0.6) == 2
    assert model["actor"].gumbel_tau.item() == pytest.approx(0.6)
    assert model["critic"].gumbel_tau.item() == pytest.approx(0.6)
    assert set_gumbel_tau(nn.Linear(2, 2), 0.6) == 0


@pytest.mark.parametrize("tau", [0.0, -1.0, float("inf"), float("nan")])
def test_set_gumbel_tau_refuses_bad_temperatures(tau):
    with pytest.raises(ValueError, match="temperature tau must be a finite number > 0"):
        set_gumbel_tau(MemNet(3), tau)


def test_gumbel_temperature_halves_then_stops_at_the_floor():
    assert gumbel_temperature(0, tau0=2.0, floor=0.1, half_life=100) == 2.0
    assert gumbel_temperature(100, tau0=2.0, floor=0.1, half_life=100) == pytest.approx(1.0)
    assert gumbel_temperature(200, tau0=2.0, floor=0.1, half_life=100) == pytest.approx(0.5)
    assert gumbel_temperature(50, tau0=2.0, floor=0.1, half_life=100) == pytest.approx(
        2.0 / math.sqrt(2.0)
    )
    # 2 * 2^(-s/100) = 0.1 at s = 100 log2(20) ~ 432.2: the floor from there on.
    assert gumbel_temperature(432, tau0=2.0, floor=0.1, half_life=100) > 0.1
    assert gumbel_temperature(433, tau0=2.0, floor=0.1, half_life=100) == 0.1
    assert gumbel_temperature(10**9, tau0=2.0, floor=0.1, half_life=100) == 0.1
    values = [gumbel_temperature(s) for s in range(0, 50_000, 1_000)]
    assert values[0] == 1.0 and values[-1] == 0.5
    assert all(a >= b for a, b in itertools.pairwise(values))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"step": -1}, "step must be >= 0"),
        ({"tau0": 0.0}, "tau0 must be a finite number > 0"),
        ({"floor": 0.0}, "floor must satisfy 0 < floor <= tau0"),
        ({"floor": 2.0}, "floor must satisfy 0 < floor <= tau0"),
        ({"half_life": 0}, "half_life must be > 0"),
    ],
)
def test_gumbel_temperature_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gumbel_temperature(**{"step": 0, **kwargs})

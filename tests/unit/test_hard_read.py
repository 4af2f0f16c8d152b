"""memrl.memory.addressing.hard_read, the one-hot reads of the NTM, DNC and MemNet, and its
parts ``one_hot_argmax_tolerant`` and ``safe_log``: formula, shapes, hand-computed values,
gradients checked against finite differences."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from memrl.memory import addressing, make_core

F64 = torch.float64


def t(values, dtype=F64) -> torch.Tensor:
    return torch.tensor(np.asarray(values), dtype=dtype)


def numerical_jacobian(function, x: torch.Tensor, step: float = 1e-6) -> torch.Tensor:
    """Central differences ``d function(x) / d x`` of a function ``[N] -> [N]``, float64."""
    columns = []
    for index in range(x.numel()):
        offset = torch.zeros_like(x)
        offset[index] = step
        columns.append((function(x + offset) - function(x - offset)) / (2 * step))
    return torch.stack(columns, dim=-1)


# ----------------------------------------------------------------------------- safe_log


def test_safe_log_written_out():
    tiny = torch.finfo(F64).tiny
    weights = t([0.5, 0.25, 0.0]).requires_grad_(True)
    logits = addressing.safe_log(weights)
    np.testing.assert_allclose(
        logits.detach().numpy(), [math.log(0.5), math.log(0.25), math.log(tiny)]
    )
    logits.sum().backward()
    # d log(w) / dw = 1 / w; the clamped zero passes no gradient instead of an infinite one.
    np.testing.assert_allclose(weights.grad.numpy(), [2.0, 4.0, 0.0])


# ----------------------------------------------------------------------------- tolerant argmax


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_tolerant_argmax_threshold_is_a_relative_sqrt_eps_of_the_largest_probability(dtype):
    # Ties: logits >= max + log(1 - sqrt(eps)), i.e. probabilities >= (1 - sqrt(eps)) * max.
    tolerance = torch.finfo(dtype).eps ** 0.5  # 3.45e-4 (float32), 1.49e-8 (float64)
    inside, outside = 0.5 * tolerance, 2.0 * tolerance
    logits = t([[0.0, inside, -1.0], [0.0, outside, -1.0]], dtype=dtype)
    expected = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    hard = addressing.one_hot_argmax_tolerant(logits)
    np.testing.assert_array_equal(hard.numpy(), expected)
    assert hard.dtype == dtype


def test_tolerant_argmax_near_ties_go_to_the_lowest_index_on_weightings():
    # The DNC's case: a weighting whose slots are equal up to rounding.
    near_tie_last = t([0.2, 0.4, 0.4 * (1.0 + 1e-12)])
    near_tie_first = t([0.4 * (1.0 - 1e-12), 0.4, 0.2])
    np.testing.assert_array_equal(
        addressing.one_hot_argmax_tolerant(addressing.safe_log(near_tie_last)).numpy(), [0, 1, 0]
    )
    np.testing.assert_array_equal(
        addressing.one_hot_argmax_tolerant(addressing.safe_log(near_tie_first)).numpy(), [1, 0, 0]
    )
    # The exact argmax would pick the other slot in both cases.
    assert addressing.one_hot_argmax(near_tie_last).argmax() == 2
    assert addressing.one_hot_argmax(near_tie_first).argmax() == 1


def test_tolerant_argmax_is_the_argmax_without_near_ties_and_never_picks_minus_inf():
    torch.manual_seed(0)
    logits = torch.randn(2, 50, 7, dtype=F64)
    hard = addressing.one_hot_argmax_tolerant(logits)
    assert hard.shape == (2, 50, 7)
    assert torch.equal(hard, addressing.one_hot_argmax(logits))

    masked = t(
        [[float("-inf"), -5.0, -5.0 + 1e-12, float("-inf")], [float("-inf"), -3.0, -2.0, 0.0]]
    )
    np.testing.assert_array_equal(
        addressing.one_hot_argmax_tolerant(masked).numpy(), [[0, 1, 0, 0], [0, 0, 0, 1]]
    )


def test_tolerant_argmax_does_not_depend_on_rounding_of_equal_weights():
    # 1/3 computed two ways differs in the last bit; both must give slot 0.
    thirds = t([[1 / 3, 1 / 3, 1 / 3], [1 - 2 / 3, 1 / 3, 1 / 3], [1 / 3, 1 / 3, 1 - 2 / 3]])
    assert len(set(thirds.flatten().tolist())) > 1, "the test needs unequal roundings"
    hard = addressing.one_hot_argmax_tolerant(addressing.safe_log(thirds))
    np.testing.assert_array_equal(hard.numpy(), [[1, 0, 0]] * 3)


# ----------------------------------------------------------------------------- hard_read


def test_eval_hard_read_is_the_tolerant_argmax_with_the_soft_gradient_written_out():
    # logits (0, ln 3) at tau 2: soft = softmax(logits / 2) = (1, sqrt 3) / (1 + sqrt 3), and
    # d soft_1 / d logits = soft_1 (e_1 - soft) / tau = (sqrt 3 / (8 + 4 sqrt 3)) (-1, 1).
    logits = t([[0.0, math.log(3.0)]]).requires_grad_(True)
    read = addressing.hard_read(logits, 2.0, training=False)
    np.testing.assert_array_equal(read.detach().numpy(), [[0.0, 1.0]])
    read[0, 1].backward()
    slope = math.sqrt(3.0) / (8.0 + 4.0 * math.sqrt(3.0))  # 0.1160254...
    np.testing.assert_allclose(logits.grad.numpy(), [[-slope, slope]], rtol=1e-12)


def test_eval_hard_read_formula_shapes_and_determinism():
    torch.manual_seed(1)
    logits = torch.randn(3, 2, 6, dtype=F64)
    read = addressing.hard_read(logits, 0.5, training=False)
    assert read.shape == (3, 2, 6) and read.dtype == F64
    assert torch.equal(read, addressing.one_hot_argmax_tolerant(logits))
    torch.manual_seed(99)  # eval reads use no randomness
    assert torch.equal(addressing.hard_read(logits, 0.5, training=False), read)
    with torch.no_grad():
        assert torch.equal(addressing.hard_read(logits, 0.5, training=False), read)


@pytest.mark.parametrize("tau", [0.3, 1.0, 4.0])
def test_eval_hard_read_gradient_matches_finite_differences_of_the_soft_weights(tau):
    torch.manual_seed(2)
    logits = torch.randn(5, dtype=F64)
    analytic = torch.autograd.functional.jacobian(
        lambda x: addressing.hard_read(x, tau, training=False), logits
    )
    numeric = numerical_jacobian(lambda x: torch.softmax(x / tau, dim=-1), logits)
    torch.testing.assert_close(analytic, numeric, rtol=1e-6, atol=1e-9)


def test_training_hard_read_is_the_gumbel_softmax_sample():
    logits = torch.randn(4, 3, 5, dtype=F64)
    torch.manual_seed(3)
    read = addressing.hard_read(logits, 0.7, training=True)
    torch.manual_seed(3)
    assert torch.equal(read, addressing.gumbel_softmax(logits, 0.7, hard=True))
    assert read.shape == (4, 3, 5)
    assert ((read == 0) | (read == 1)).all() and (read.sum(-1) == 1).all()
    torch.manual_seed(4)
    assert not torch.equal(addressing.hard_read(logits, 0.7, training=True), read)


def test_training_hard_read_gradient_matches_finite_differences_of_the_soft_sample():
    torch.manual_seed(5)
    logits = torch.randn(6, dtype=F64)

    def seeded(x: torch.Tensor, hard: bool) -> torch.Tensor:
        torch.manual_seed(6)  # the same Gumbel noise on every call
        if hard:
            return addressing.hard_read(x, 0.8, training=True)
        return addressing.gumbel_softmax(x, 0.8, hard=False)

    analytic = torch.autograd.functional.jacobian(lambda x: seeded(x, hard=True), logits)
    numeric = numerical_jacobian(lambda x: seeded(x, hard=False), logits)
    assert analytic.abs().sum() > 0
    torch.testing.assert_close(analytic, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_hard_read_takes_a_tensor_temperature_and_masked_slots(training):
    # MemNet masks its empty slots with -inf; its temperature is a 0-dim buffer.
    logits = t([[float("-inf"), 0.5, 0.2, float("-inf")]]).expand(100, 4).requires_grad_(True)
    torch.manual_seed(7)
    read = addressing.hard_read(logits, torch.tensor(0.5, dtype=F64), training)
    assert (read[:, [0, 3]] == 0).all(), "an empty slot is never read"
    assert (read.sum(-1) == 1).all()
    (read * torch.arange(4, dtype=F64)).sum().backward()
    assert torch.isfinite(logits.grad).all() and (logits.grad[:, [0, 3]] == 0).all()


@pytest.mark.parametrize("tau", [0.0, -1.0, float("nan")])
def test_hard_read_refuses_a_bad_temperature(tau):
    with pytest.raises(ValueError, match="temperature tau"):
        addressing.hard_read(torch.zeros(2, 3), tau, training=True)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name", ["ntm", "dnc", "memnet"])
def test_every_hard_read_core_reads_through_hard_read(name, training, monkeypatch):
    calls = []
    original = addressing.hard_read

    def recording_hard_read(logits, tau, training):
        calls.append(training)
        return original(logits, tau, training)

    monkeypatch.setattr(addressing, "hard_read", recording_hard_read)
    torch.manual_seed(0)
    core = make_core(name, 3, memory_slots=4, read_addressing="gumbel").train(training)
    core(torch.randn(2, 2, 3), core.initial_state(2))
    assert calls and set(calls) == {training}

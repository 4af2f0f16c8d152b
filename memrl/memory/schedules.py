"""Schedules for hyperparameters that change during training (Gumbel-softmax temperature).

``gumbel_temperature`` is a pure function of the training step; ``set_gumbel_tau`` writes
a temperature into every ``gumbel_tau`` buffer of a model, so a training callback can
anneal the hard reads of any policy (NTM, DNC, MemNet with ``read_addressing="gumbel"``)
without knowing where its cores sit::

    tau = gumbel_temperature(num_timesteps, tau0=1.0, floor=0.5, half_life=10_000)
    set_gumbel_tau(model.policy, tau)
"""

from __future__ import annotations

import torch
from torch import nn

from memrl.checks import check_number

GUMBEL_TAU_BUFFER = "gumbel_tau"


def gumbel_temperature(
    step: int, tau0: float = 1.0, floor: float = 0.5, half_life: float = 10_000
) -> float:
    """Exponentially decaying Gumbel-softmax temperature, clipped at a floor.

    ``tau(step) = max(floor, tau0 * 2 ** (-step / half_life))``: the schedule of Jang et al.
    2017 ("Categorical Reparameterization with Gumbel-Softmax", ``max(0.5, exp(-r t))``)
    written with a half-life, ``r = ln 2 / half_life``.

    Args:
        step: training step (e.g. environment steps so far), >= 0.
        tau0: temperature at step 0, > 0.
        floor: lowest temperature, 0 < floor <= tau0.
        half_life: steps for the temperature (above the floor) to halve, > 0.
    Returns:
        The temperature, a float in ``[floor, tau0]``.
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    tau0 = check_number("tau0", tau0, positive=True)
    if not (0 < floor <= tau0):
        raise ValueError(f"floor must satisfy 0 < floor <= tau0 = {tau0}, got {floor}")
    if not (half_life > 0):
        raise ValueError(f"half_life must be > 0, got {half_life}")
    return max(floor, tau0 * 2.0 ** (-step / half_life))


def set_gumbel_tau(module: nn.Module, tau: float) -> int:
    """Fill every ``gumbel_tau`` buffer in ``module`` and its submodules with ``tau``.

    Args:
        module: any model, e.g. an SB3 policy holding one or more memory cores.
        tau: the new temperature, > 0.
    Returns:
        How many buffers were set (0 when no submodule has hard Gumbel reads).
    """
    tau = check_number("the Gumbel-softmax temperature tau", tau, positive=True)
    count = 0
    with torch.no_grad():
        for submodule in module.modules():
            buffer = submodule._buffers.get(GUMBEL_TAU_BUFFER)
            if buffer is not None:
                buffer.fill_(tau)
                count += 1
    return count

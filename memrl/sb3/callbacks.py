"""SB3 callbacks that memrl adds."""

from __future__ import annotations

import math

import torch
from stable_baselines3.common.callbacks import BaseCallback

from memrl.memory.schedules import gumbel_temperature, set_gumbel_tau

__all__ = ["GumbelTemperatureCallback", "NonFiniteError", "NonFiniteGuard"]


class NonFiniteError(RuntimeError):
    """Training produced a non-finite loss, gradient or parameter.

    Attributes:
        step: environment steps when it was found (after the update that produced it).
        core: the memory core (or the model's name without one).
        quantity: what was non-finite, e.g. ``loss train/value_loss`` or ``parameter
            mlp_extractor.policy_net.0.weight``.
    """

    def __init__(self, step: int, core: str, quantity: str, hint: str = "") -> None:
        self.step, self.core, self.quantity = step, core, quantity
        message = f"non-finite {quantity} at step {step:,} (core {core}): training stopped"
        super().__init__(f"{message}; {hint}" if hint else message)


class GumbelTemperatureCallback(BaseCallback):
    """Anneal the temperature of hard (Gumbel-softmax) reads before every rollout.

    ``tau = max(floor, tau0 * 2 ** (-num_timesteps / half_life))``, written into every
    ``gumbel_tau`` buffer of the policy and logged as ``memory/gumbel_tau``. A policy
    without hard reads is left alone.

    Args:
        tau0: temperature at the start of training.
        floor: lowest temperature.
        half_life: environment steps for the temperature above the floor to halve.
    """

    def __init__(
        self, tau0: float = 1.0, floor: float = 0.5, half_life: float = 50_000, verbose: int = 0
    ) -> None:
        super().__init__(verbose)
        gumbel_temperature(0, tau0, floor, half_life)  # validates the arguments now
        self.tau0, self.floor, self.half_life = tau0, floor, half_life

    def _on_rollout_start(self) -> None:
        tau = gumbel_temperature(self.num_timesteps, self.tau0, self.floor, self.half_life)
        if set_gumbel_tau(self.model.policy, tau):
            self.logger.record("memory/gumbel_tau", tau)

    def _on_step(self) -> bool:
        return True


class NonFiniteGuard(BaseCallback):
    """Stop training with :class:`NonFiniteError` once a loss, a gradient or a parameter is
    non-finite (NaN or infinite).

    Checked after every update, before the next rollout acts with the parameters (and at the
    end of training): the losses the update logged (``train/...loss``, already host floats),
    then every gradient and parameter with one device-side reduction and one host sync per
    update. Put it first among the callbacks, so that nothing saves or evaluates the broken
    parameters before it raises.

    Args:
        core: the name the error gives for the model (its memory core).
    """

    def __init__(self, core: str, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.core = core

    def check(self) -> None:
        """Raise :class:`NonFiniteError` naming the first non-finite quantity, if any."""
        for key, value in self.logger.name_to_value.items():
            if key.startswith("train/") and key.endswith("loss") and not math.isfinite(value):
                self._fail(f"loss {key} ({value})")
        named = list(self.model.policy.named_parameters())
        tensors = [p for _, p in named] + [p.grad for _, p in named if p.grad is not None]
        if not tensors or bool(torch.stack([t.isfinite().all() for t in tensors]).all()):
            return
        # Something is off: name it (syncs per tensor now, once, on the way out).
        for name, parameter in named:
            if parameter.grad is not None and not bool(parameter.grad.isfinite().all()):
                self._fail(f"gradient of {name}")
        for name, parameter in named:
            if not bool(parameter.isfinite().all()):
                self._fail(f"parameter {name}")

    def explain(self, error: BaseException) -> NonFiniteError | None:
        """A :class:`NonFiniteError` for an error that non-finite policy outputs caused
        during training (torch's distributions refuse NaN parameters with a ValueError
        before any loss exists), or ``None`` for any other error."""
        if not isinstance(error, ValueError) or "found invalid values" not in str(error):
            return None
        phase = "an update" if self.model.policy.training else "a rollout"
        quantity = f"output of the policy (its action distribution) in {phase}"
        return NonFiniteError(int(self.model.num_timesteps), self.core, quantity)

    def _fail(self, quantity: str) -> None:
        raise NonFiniteError(int(self.num_timesteps), self.core, quantity)

    def _on_rollout_start(self) -> None:
        self.check()

    def _on_training_end(self) -> None:
        self.check()

    def _on_step(self) -> bool:
        return True

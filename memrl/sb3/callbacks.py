"""SB3 callbacks that memrl adds."""

from __future__ import annotations

from stable_baselines3.common.callbacks import BaseCallback

from memrl.memory.schedules import gumbel_temperature, set_gumbel_tau


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

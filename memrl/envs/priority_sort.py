"""The NTM paper's priority sort task as a Gymnasium environment (Graves et al., 2014, 4.5)."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from memrl.checks import check_int
from memrl.envs._bit_task import DELIMITER_COLOUR, BitSequenceEnv, Episode, FlagChannel

PRIORITY_COLOUR = (120, 200, 120)


class PrioritySort(BitSequenceEnv):
    """Observe items with priorities, then emit the highest-priority items, highest first.

    ## Description

    The priority sort task of the Neural Turing Machine paper (Graves et al., 2014) as
    reinforcement learning. An episode shows ``num_items`` random binary vectors of ``bits``
    bits, one per step, each with a scalar priority drawn uniformly from [-1, 1], followed by a
    delimiter step. Then, for ``num_outputs`` steps, the observation carries only the "respond"
    flag and the agent must emit the ``num_outputs`` vectors of highest priority, in order of
    decreasing priority. Timing is as in Copy: the first ``num_items + 1`` steps are input.

    Without memory nothing beats chance: the output-phase observation is the same for every
    target.

    ## Observation Space

    ``Box(low, high, (bits + 3,), float32)``, every entry in [0, 1] except the priority, in
    [-1, 1]:

    | Index    | Meaning                                                      |
    |----------|--------------------------------------------------------------|
    | 0..bits-1| the input vector's bits (input phase), 0 otherwise            |
    | bits     | the vector's priority in [-1, 1] (input phase), 0 otherwise   |
    | bits + 1 | delimiter flag: 1 on the step after the last input vector     |
    | bits + 2 | respond flag: 1 on every output step                         |

    After the last output step the (terminal) observation is all zeros.

    ## Action Space

    ``MultiBinary(bits)``: the vector emitted at this step (an entry counts as 1 when nonzero).
    Actions in the input phase (the first ``num_items + 1`` steps) are ignored.

    ## Rewards

    Each output step pays (fraction of the vector's bits emitted correctly) / ``num_outputs``;
    input steps pay 0. The return is the episode's fraction of correct bits, in [0, 1]: exactly
    1.0 for a perfect answer, about 0.5 for a constant or random output.

    ## Termination and Truncation

    The episode terminates after the last output step, ``num_items + 1 + num_outputs`` steps
    after the reset. It is never truncated. ``step`` after termination raises RuntimeError.

    The reset info holds ``num_items``, ``priorities`` ([num_items] float32, in input order)
    and ``target`` ([num_outputs, bits] int8: the expected vectors, in order). The final step's
    info adds ``emitted``, ``bit_errors``, ``bit_accuracy`` (the return) and ``is_success``.

    ## Registered Variants

    - ``memrl/PrioritySort-v0``: the defaults (8 items, 6 outputs, 4 bits), small enough to
      learn on a CPU.
    - ``memrl/PrioritySortLong-v0``: the paper's sizes (20 items, 16 outputs, 8 bits).

    ## Arguments

    - ``bits`` (int >= 1, default 4): bits per vector.
    - ``num_items`` (int >= 1, default 8): vectors shown.
    - ``num_outputs`` (int in [1, num_items], default 6): vectors to emit.
    - ``render_mode`` (None or "rgb_array"): "rgb_array" makes ``render()`` return an
      [H, W, 3] uint8 frame: observations (positive priorities bright), target and emitted
      bits over time (emitted bits green where correct, red where wrong), the current step
      outlined.
    """

    def __init__(
        self,
        bits: int = 4,
        num_items: int = 8,
        num_outputs: int = 6,
        render_mode: str | None = None,
    ) -> None:
        bits = check_int("bits", bits, minimum=1)
        self.num_items = check_int("num_items", num_items, minimum=1)
        self.num_outputs = check_int("num_outputs", num_outputs, minimum=1, maximum=self.num_items)
        super().__init__(
            bits=bits,
            flags=(FlagChannel("prio", PRIORITY_COLOUR), FlagChannel("delim", DELIMITER_COLOUR)),
            action_size=bits,
            action_extra_labels=(),
            longest_episode=self.num_items + 1 + self.num_outputs,
            render_mode=render_mode,
        )
        low = np.zeros(self.observation_space.shape, dtype=np.float32)
        low[bits] = -1.0
        self.observation_space = spaces.Box(low, np.ones_like(low), dtype=np.float32)

    def _sample_episode(self) -> Episode:
        vectors = self.np_random.integers(0, 2, size=(self.num_items, self.bits), dtype=bool)
        priorities = self.np_random.uniform(-1.0, 1.0, size=self.num_items).astype(np.float32)
        inputs = self._blank_inputs(self.num_items + 1)
        inputs[: self.num_items, : self.bits] = vectors
        inputs[: self.num_items, self.bits] = priorities
        inputs[self.num_items, self.bits + 1] = 1.0
        # Stable sort of the negated priorities: ties (probability 0) keep input order.
        order = np.argsort(-priorities, kind="stable")[: self.num_outputs]
        return Episode(
            inputs=inputs,
            targets=vectors[order],
            info={"num_items": self.num_items, "priorities": priorities.copy()},
        )

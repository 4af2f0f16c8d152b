"""The NTM paper's repeat copy task as a Gymnasium environment (Graves et al., 2014, 4.2)."""

from __future__ import annotations

import numpy as np

from memrl.checks import check_int, check_int_range, check_number
from memrl.envs._bit_task import (
    DELIMITER_COLOUR,
    REPEAT_COLOUR,
    BitSequenceEnv,
    Episode,
    FlagChannel,
)


class RepeatCopy(BitSequenceEnv):
    """Observe a sequence of random bit vectors and a repeat count N, then emit it N times.

    ## Description

    The repeat copy task of the Neural Turing Machine paper (Graves et al., 2014) as
    reinforcement learning. An episode shows a sequence of L random binary vectors of ``bits``
    bits, one per step, then a delimiter step whose "repeats" channel holds the count N (as
    N / ``repeat_scale``). Then the observation carries only the "respond" flag and the agent
    must emit the sequence N times in a row, and, with ``end_marker=True`` (the default, as in
    the paper), raise the end-marker bit on one final step. The output phase lasts N·L steps
    (+1 with the end marker). L and N are drawn uniformly from [``min_length``, ``max_length``]
    and [``min_repeats``, ``max_repeats``] each episode, so generalisation to longer sequences or
    more repeats can be measured with the same model, e.g.
    ``gymnasium.make("memrl/RepeatCopy-v0", min_length=9, max_length=16)``.

    The end marker is what makes the count matter: without it (``end_marker=False``) the episode
    simply stops after N·L output steps and an agent can cycle through the sequence without ever
    reading N.

    ## Observation Space

    ``Box(0, 1, (bits + 3,), float32)``:

    | Index    | Meaning                                                          |
    |----------|------------------------------------------------------------------|
    | 0..bits-1| the input vector's bits (input phase), 0 otherwise                |
    | bits     | delimiter flag: 1 on the step after the last input vector         |
    | bits + 1 | repeats: N / repeat_scale on the delimiter step, 0 otherwise      |
    | bits + 2 | respond flag: 1 on every output step                             |

    After the last output step the (terminal) observation is all zeros.

    ## Action Space

    ``MultiBinary(bits + 1)`` with the end marker (the last entry is the marker), else
    ``MultiBinary(bits)``. An entry counts as 1 when nonzero. Actions in the input phase (the
    first L + 1 steps) are ignored. Target per output step: the sequence's vector with marker 0
    for the N·L repeat steps, then all data bits 0 and the marker 1 on the final step.

    ## Rewards

    Each output step pays (fraction of the action's entries emitted correctly) / (number of
    output steps); input steps pay 0. The return is the episode's fraction of correct entries, in
    [0, 1]: exactly 1.0 for a perfect episode, about 0.5 to 0.6 for a constant output.

    ## Termination and Truncation

    The episode terminates after the last output step, L + 1 + N·L (+1) steps after the reset.
    It is never truncated. ``step`` after termination raises RuntimeError.

    The reset info holds ``length`` (L), ``repeats`` (N) and ``target`` ([T_out, A] int8). The
    final step's info adds ``emitted``, ``bit_errors``, ``bit_accuracy`` (the return) and
    ``is_success``.

    ## Registered Variants

    - ``memrl/RepeatCopy-v0``: the defaults (4 bits, lengths 1 to 8, 1 to 3 repeats, end marker).
    - ``memrl/RepeatCopyLong-v0``: lengths 9 to 16 (generalisation test).

    ## Arguments

    - ``bits`` (int >= 1, default 4): bits per vector.
    - ``min_length``, ``max_length`` (ints, 1 <= min_length <= max_length, defaults 1 and 8): the
      range of the sequence length L, inclusive.
    - ``min_repeats``, ``max_repeats`` (ints, 1 <= min_repeats <= max_repeats <= repeat_scale,
      defaults 1 and 3): the range of the repeat count N, inclusive.
    - ``repeat_scale`` (float > 0, default 10.0): the count is observed as N / repeat_scale. It
      is a fixed constant, not max_repeats, so that a count means the same thing in training and
      in a test on more repeats (keep it equal in both); it bounds max_repeats because
      observations lie in [0, 1].
    - ``end_marker`` (bool, default True): emit an end-of-sequence marker on an extra final step.
    - ``render_mode`` (None or "rgb_array"): "rgb_array" makes ``render()`` return an
      [H, W, 3] uint8 frame: observations, target and emitted bits over time (emitted bits green
      where correct, red where wrong), the current step outlined.
    """

    def __init__(
        self,
        bits: int = 4,
        min_length: int = 1,
        max_length: int = 8,
        min_repeats: int = 1,
        max_repeats: int = 3,
        repeat_scale: float = 10.0,
        end_marker: bool = True,
        render_mode: str | None = None,
    ) -> None:
        bits = check_int("bits", bits, minimum=1)
        self.min_length, self.max_length = check_int_range(
            "min_length", min_length, "max_length", max_length, 1
        )
        self.min_repeats, self.max_repeats = check_int_range(
            "min_repeats", min_repeats, "max_repeats", max_repeats, 1
        )
        repeat_scale = check_number("repeat_scale", repeat_scale)
        if repeat_scale < self.max_repeats:
            raise ValueError(
                f"repeat_scale must be a finite number >= max_repeats ({self.max_repeats}) so that "
                f"N / repeat_scale lies in [0, 1], got {repeat_scale!r}"
            )
        if not isinstance(end_marker, bool | np.bool_):
            raise ValueError(f"end_marker must be True or False, got {end_marker!r}")
        self.repeat_scale = repeat_scale
        self.end_marker = bool(end_marker)
        longest_output = self.max_repeats * self.max_length + int(self.end_marker)
        super().__init__(
            bits=bits,
            flags=(
                FlagChannel("delim", DELIMITER_COLOUR),
                FlagChannel("repeats", REPEAT_COLOUR),
            ),
            action_size=bits + int(self.end_marker),
            action_extra_labels=("end",) if self.end_marker else (),
            longest_episode=self.max_length + 1 + longest_output,
            render_mode=render_mode,
        )

    def _sample_episode(self) -> Episode:
        length = int(self.np_random.integers(self.min_length, self.max_length + 1))
        repeats = int(self.np_random.integers(self.min_repeats, self.max_repeats + 1))
        sequence = self.np_random.integers(0, 2, size=(length, self.bits), dtype=bool)
        inputs = self._blank_inputs(length + 1)
        inputs[:length, : self.bits] = sequence
        inputs[length, self.bits] = 1.0
        inputs[length, self.bits + 1] = repeats / self.repeat_scale
        repeated = np.tile(sequence, (repeats, 1))
        if self.end_marker:
            targets = np.zeros((repeats * length + 1, self.bits + 1), dtype=bool)
            targets[:-1, : self.bits] = repeated
            targets[-1, self.bits] = True
        else:
            targets = repeated
        return Episode(inputs=inputs, targets=targets, info={"length": length, "repeats": repeats})

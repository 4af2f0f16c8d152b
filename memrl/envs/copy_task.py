"""The NTM paper's copy task as a Gymnasium environment (Graves et al., 2014, section 4.1)."""

from __future__ import annotations

from memrl.checks import check_int, check_int_range
from memrl.envs._bit_task import (
    DELIMITER_COLOUR,
    BitSequenceEnv,
    Episode,
    FlagChannel,
)


class Copy(BitSequenceEnv):
    """Observe a sequence of random bit vectors, then emit it again.

    ## Description

    The copy task of the Neural Turing Machine paper (Graves et al., 2014) as reinforcement
    learning. An episode shows a sequence of L random binary vectors of ``bits`` bits, one per
    step, followed by a delimiter step. Then, for L steps, the observation carries only the
    "respond" flag and the agent must emit the sequence, vector by vector, in the original order.
    L is drawn uniformly from [``min_length``, ``max_length``] each episode, so an agent trained
    on short sequences can be tested on longer ones, e.g.
    ``gymnasium.make("memrl/Copy-v0", min_length=9, max_length=16)``; the spaces do not depend on
    the lengths, so the same model runs on both.

    Without memory nothing beats chance: the output-phase observation is the same for every
    target.

    ## Observation Space

    ``Box(0, 1, (bits + 2,), float32)``:

    | Index    | Meaning                                                      |
    |----------|--------------------------------------------------------------|
    | 0..bits-1| the input vector's bits (input phase), 0 otherwise            |
    | bits     | delimiter flag: 1 on the step after the last input vector     |
    | bits + 1 | respond flag: 1 on every output step                         |

    After the last output step the (terminal) observation is all zeros.

    ## Action Space

    ``MultiBinary(bits)``: the vector emitted at this step (an entry counts as 1 when nonzero).
    Actions in the input phase (the first L + 1 steps) are ignored.

    ## Rewards

    Each output step pays (fraction of the vector's bits emitted correctly) / L; input steps pay
    0. The return is the episode's fraction of correct bits, in [0, 1]: exactly 1.0 for a
    perfect copy, about 0.5 for a constant or random output.

    ## Termination and Truncation

    The episode terminates after the last output step, 2L + 1 steps after the reset. It is never
    truncated (no time limit is needed). ``step`` after termination raises RuntimeError.

    The reset info holds ``length`` (L) and ``target`` ([L, bits] int8). The final step's info
    adds ``emitted`` ([L, bits] int8), ``bit_errors`` (int), ``bit_accuracy`` (the return) and
    ``is_success`` (no bit wrong; SB3's evaluation reads it).

    ## Registered Variants

    - ``memrl/Copy-v0``: the defaults (4 bits, lengths 1 to 8).
    - ``memrl/CopyLong-v0``: lengths 9 to 16, to test generalisation beyond training lengths.

    ## Arguments

    - ``bits`` (int >= 1, default 4): bits per vector.
    - ``min_length``, ``max_length`` (ints, 1 <= min_length <= max_length, defaults 1 and 8): the
      range of the sequence length L, inclusive.
    - ``render_mode`` (None or "rgb_array"): "rgb_array" makes ``render()`` return an
      [H, W, 3] uint8 frame: observations, target and emitted bits over time (emitted bits green
      where correct, red where wrong), the current step outlined.
    """

    def __init__(
        self,
        bits: int = 4,
        min_length: int = 1,
        max_length: int = 8,
        render_mode: str | None = None,
    ) -> None:
        bits = check_int("bits", bits, minimum=1)
        self.min_length, self.max_length = check_int_range(
            "min_length", min_length, "max_length", max_length, 1
        )
        super().__init__(
            bits=bits,
            flags=(FlagChannel("delim", DELIMITER_COLOUR),),
            action_size=bits,
            action_extra_labels=(),
            longest_episode=2 * self.max_length + 1,
            render_mode=render_mode,
        )

    def _sample_episode(self) -> Episode:
        length = int(self.np_random.integers(self.min_length, self.max_length + 1))
        sequence = self.np_random.integers(0, 2, size=(length, self.bits), dtype=bool)
        inputs = self._blank_inputs(length + 1)
        inputs[:length, : self.bits] = sequence
        inputs[length, self.bits] = 1.0
        return Episode(inputs=inputs, targets=sequence, info={"length": length})

"""The NTM paper's associative recall task as a Gymnasium environment (Graves et al., 2014, 4.3)."""

from __future__ import annotations

import numpy as np

from memrl.checks import check_int, check_int_range
from memrl.envs._bit_task import (
    DELIMITER_COLOUR,
    QUERY_COLOUR,
    BitSequenceEnv,
    Episode,
    FlagChannel,
)

# Up to this many bits per item, distinct items are drawn as distinct integers (exact); above it
# by rejection, where a collision has probability below n² / 2^63.
_MAX_CODE_BITS = 62


class AssociativeRecall(BitSequenceEnv):
    """Observe a list of items, then a query item; emit the item that followed the query.

    ## Description

    The associative recall task of the Neural Turing Machine paper (Graves et al., 2014) as
    reinforcement learning. An item is ``item_length`` consecutive random binary vectors of
    ``bits`` bits. An episode shows n distinct items, each preceded by an item-delimiter step;
    then a query-delimiter step, one of the first n - 1 items again (the query, chosen
    uniformly), and another query-delimiter step. Then, for ``item_length`` steps, the observation
    carries only the "respond" flag and the agent must emit the item that came right after the
    query in the list. n is drawn uniformly from [``min_length``, ``max_length``] each episode, so
    generalisation to longer lists can be measured with the same model, e.g.
    ``gymnasium.make("memrl/AssociativeRecall-v0", min_length=7, max_length=12)``.

    ## Observation Space

    ``Box(0, 1, (bits + 3,), float32)``:

    | Index    | Meaning                                                          |
    |----------|------------------------------------------------------------------|
    | 0..bits-1| the current vector of an item or of the query, 0 otherwise        |
    | bits     | item delimiter: 1 on the step before each item                   |
    | bits + 1 | query delimiter: 1 on the steps just before and after the query   |
    | bits + 2 | respond flag: 1 on every output step                             |

    After the last output step the (terminal) observation is all zeros.

    ## Action Space

    ``MultiBinary(bits)``: the vector emitted at this step (an entry counts as 1 when nonzero).
    Actions in the input phase (the first n·(item_length + 1) + item_length + 2 steps) are
    ignored.

    ## Rewards

    Each of the ``item_length`` output steps pays (fraction of the vector's bits emitted
    correctly) / item_length; input steps pay 0. The return is the episode's fraction of correct
    bits, in [0, 1]: exactly 1.0 for the right item, about 0.5 for a constant output.

    ## Termination and Truncation

    The episode terminates after the last output step. It is never truncated. ``step`` after
    termination raises RuntimeError.

    The reset info holds ``num_items`` (n), ``query_index`` (0-based position of the query in
    the list; the target is item query_index + 1) and ``target`` ([item_length, bits] int8). The
    final step's info adds ``emitted``, ``bit_errors``, ``bit_accuracy`` (the return) and
    ``is_success``.

    ## Registered Variants

    - ``memrl/AssociativeRecall-v0``: the defaults (4 bits, 2 to 6 items of 3 vectors).
    - ``memrl/AssociativeRecallLong-v0``: 7 to 12 items (generalisation test).

    ## Arguments

    - ``bits`` (int >= 1, default 4): bits per vector (the paper used 6; 4 keeps the action
      space small for RL).
    - ``min_length``, ``max_length`` (ints, 2 <= min_length <= max_length, defaults 2 and 6): the
      range of the number of items n, inclusive. max_length may not exceed the number of
      distinct items, 2^(bits·item_length), as the items of an episode are distinct.
    - ``item_length`` (int >= 1, default 3): vectors per item.
    - ``render_mode`` (None or "rgb_array"): "rgb_array" makes ``render()`` return an
      [H, W, 3] uint8 frame: observations, target and emitted bits over time (emitted bits green
      where correct, red where wrong), the current step outlined.
    """

    def __init__(
        self,
        bits: int = 4,
        min_length: int = 2,
        max_length: int = 6,
        item_length: int = 3,
        render_mode: str | None = None,
    ) -> None:
        bits = check_int("bits", bits, minimum=1)
        self.min_length, self.max_length = check_int_range(
            "min_length", min_length, "max_length", max_length, 2
        )
        self.item_length = check_int("item_length", item_length, minimum=1)
        code_bits = bits * self.item_length
        if code_bits < 64 and 2**code_bits < self.max_length:
            raise ValueError(
                f"max_length must be <= 2**(bits * item_length) = {2**code_bits} so that the "
                f"items can be distinct, got max_length={self.max_length}"
            )
        longest_input = self.max_length * (self.item_length + 1) + self.item_length + 2
        super().__init__(
            bits=bits,
            flags=(FlagChannel("item", DELIMITER_COLOUR), FlagChannel("query", QUERY_COLOUR)),
            action_size=bits,
            action_extra_labels=(),
            longest_episode=longest_input + self.item_length,
            render_mode=render_mode,
        )

    def _distinct_items(self, count: int) -> np.ndarray:
        """[count, item_length, bits] bool, pairwise distinct items."""
        code_bits = self.bits * self.item_length
        if code_bits <= _MAX_CODE_BITS:
            codes = self.np_random.choice(2**code_bits, size=count, replace=False)
            flat = (codes[:, None] >> np.arange(code_bits)) & 1
            return flat.astype(bool).reshape(count, self.item_length, self.bits)
        while True:
            items = self.np_random.integers(
                0, 2, size=(count, self.item_length, self.bits), dtype=bool
            )
            if len(np.unique(items.reshape(count, -1), axis=0)) == count:
                return items

    def _sample_episode(self) -> Episode:
        count = int(self.np_random.integers(self.min_length, self.max_length + 1))
        query_index = int(self.np_random.integers(0, count - 1))
        items = self._distinct_items(count)
        k, bits = self.item_length, self.bits
        inputs = self._blank_inputs(count * (k + 1) + k + 2)
        # Item i occupies rows i(k+1) (delimiter) and i(k+1)+1 .. i(k+1)+k (its vectors).
        item_rows = inputs[: count * (k + 1)].reshape(count, k + 1, -1)
        item_rows[:, 0, bits] = 1.0
        item_rows[:, 1:, :bits] = items
        query_start = count * (k + 1)
        inputs[query_start, bits + 1] = 1.0
        inputs[query_start + 1 : query_start + 1 + k, :bits] = items[query_index]
        inputs[query_start + k + 1, bits + 1] = 1.0
        return Episode(
            inputs=inputs,
            targets=items[query_index + 1],
            info={"num_items": count, "query_index": query_index},
        )

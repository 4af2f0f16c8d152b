"""Bakker's T-maze: a cue at the start decides which arm of the T pays."""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from PIL import Image, ImageDraw

from memrl.checks import check_int, check_number

# Actions (absolute moves; "north" is up on the frame).
NORTH, EAST, SOUTH, WEST = 0, 1, 2, 3

# Observation features (one-hot, exactly one is 1).
OBS_CUE_NORTH, OBS_CUE_SOUTH, OBS_CORRIDOR, OBS_JUNCTION = 0, 1, 2, 3

# Longest corridor accepted: the rendered frame is at least 2 pixels a cell wide.
MAX_CORRIDOR_LENGTH = 10_000

# Frame colours (RGB).
_BACKGROUND = (30, 30, 30)
_FLOOR = (225, 225, 225)
_FLOOR_LINE = (160, 160, 160)
_ARM = (200, 200, 200)
_AGENT = (255, 140, 0)
_CUE_COLOURS = {NORTH: (40, 110, 230), SOUTH: (30, 170, 80)}
_CUED_ARM_TINT = {NORTH: (180, 205, 245), SOUTH: (175, 225, 190)}


class TMaze(gym.Env):
    """
    ## Description

    The T-maze of Bakker (2002), "Reinforcement learning with long short-term memory". The
    agent starts at the west end of a horizontal corridor. The start cell shows a cue, *north*
    or *south*, drawn at random for each episode. East of the start lie `corridor_length`
    corridor cells that all look the same, then the junction of the T, from which one arm
    leads north and one south. Stepping into the arm the cue named pays +1, the other arm -1;
    either ends the episode. Running out of time also pays -1. The junction looks the same
    whichever the cue was, so a policy without memory can do no better than guess (expected
    return 0; see Rewards), while a policy that remembers the cue for `corridor_length + 1`
    steps earns +1 every episode.

    Layout (cells, west to east): start (x = 0), corridor (x = 1 .. corridor_length),
    junction (x = corridor_length + 1); the two arms sit north and south of the junction.

    ## Observation Space

    `Box(0, 1, (4,), float32)`, a one-hot vector:

    | Index | Meaning                                         |
    |-------|-------------------------------------------------|
    | 0     | at the start cell, cue says north               |
    | 1     | at the start cell, cue says south               |
    | 2     | in the corridor (no cue)                        |
    | 3     | at the junction (no cue, same for both cues)    |

    The cue is visible whenever the agent stands on the start cell (on the first step of an
    episode and if it walks back there).

    `info` holds `cue` (`"north"` or `"south"`) and `agent_x`, for logging and oracles; an
    agent must not be given them.

    ## Action Space

    `Discrete(4)`, absolute moves:

    | Num | Action | Effect                                                             |
    |-----|--------|--------------------------------------------------------------------|
    | 0   | north  | at the junction: enter the north arm (ends); elsewhere: no move    |
    | 1   | east   | one cell east; at the junction: no move                            |
    | 2   | south  | at the junction: enter the south arm (ends); elsewhere: no move    |
    | 3   | west   | one cell west; at the start: no move                               |

    ## Rewards

    +1 for entering the cued arm, -1 for entering the other arm, -1 on the step at which time
    runs out, and `-bump_penalty` (default 0.1) for a move that leaves the agent in place
    (into a wall: north or south in the corridor, west at the start, east at the junction),
    `-backtrack_penalty` (default 0) for a step west, 0 otherwise. The best return is +1;
    bumps and steps back make it lower.

    Why time-outs pay -1: it is what makes the task impossible without memory. A memoryless
    policy acts at the junction the same way for both cues, so whenever it enters an arm it
    picks north with the same probability q for both cues. Its chance of a +1 is then
    `R_north * q` under the north cue and `R_south * (1 - q)` under the south cue (R: the
    probability of entering an arm before the time limit), which sum to at most 1; with every
    other outcome paying -1 (and bumps only lowering returns), its expected return is at most
    0, whatever it does with the cue it sees at the start (e.g. waiting there under one cue
    only). Were time-outs worth 0, such a policy could refuse to leave the start under one cue
    and score +0.5.

    Why bumps cost: it is Bakker's rule (standing still costs -0.1), and it matters for
    learning. Without it a random policy spends half its moves in place, reaches the junction
    in about 3% of episodes, and PPO (with or without memory) never learns to walk the
    corridor; with it, agents learn to walk east within a few thousand episodes and the task
    becomes a test of memory rather than of exploration.

    Why steps back may cost: in a long corridor the bump rule is not enough. A policy that has
    learnt not to bump walks east and west at random, and such a walk almost never gets 100
    cells east within the time limit (5 standard deviations of a walk of the 408 steps
    allowed at corridor 100). PPO agents with and without memory then reach the junction only
    now and then, and lose the walk again (envs/memory-hard.yaml). With
    `backtrack_penalty > 0` every move but east costs in the corridor, the penalties alone
    teach the walk east, and the corridor measures how long the cue is remembered: the
    passive T-maze of Ni et al. (2023), "When do Transformers shine in RL? Decoupling memory
    from credit assignment".

    ## Termination and Truncation

    Terminates when the agent enters an arm, or on step `max_steps` if no arm was entered by
    then (reward -1). The time-out is an outcome of the task, like the wrong arm, so it
    terminates rather than truncates: a learner must not bootstrap past it. The default
    `max_steps = 4 * (corridor_length + 2)` is four times the shortest episode
    (`corridor_length + 1` moves east, then one turn). The env never truncates.

    ## Registered Variants

    | Id                   | Arguments               |
    |----------------------|-------------------------|
    | `memrl/TMaze-v0`     | `corridor_length=10`    |
    | `memrl/TMazeLong-v0` | `corridor_length=100`   |

    ## Arguments

    - `corridor_length` (int, >= 1, default 10): cells between the start and the junction.
    - `max_steps` (int or None): steps before the time-out, at least `corridor_length + 2`;
      None means `4 * (corridor_length + 2)`.
    - `bump_penalty` (float >= 0, default 0.1): cost of a move that leaves the agent in place.
    - `backtrack_penalty` (float >= 0, default 0): cost of a step west.
    - `render_mode` (None or `"rgb_array"`): `render()` returns an `[H, W, 3]` uint8 frame
      showing the corridor, the agent (orange ring), the cue (coloured start cell with an
      arrow) and the arms (the cued arm tinted in the cue's colour).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 8}

    def __init__(
        self,
        corridor_length: int = 10,
        max_steps: int | None = None,
        bump_penalty: float = 0.1,
        backtrack_penalty: float = 0.0,
        render_mode: str | None = None,
    ) -> None:
        self.bump_penalty = check_number("bump_penalty", bump_penalty, minimum=0.0)
        self.backtrack_penalty = check_number("backtrack_penalty", backtrack_penalty, minimum=0.0)
        corridor_length = check_int(
            "corridor_length", corridor_length, minimum=1, maximum=MAX_CORRIDOR_LENGTH
        )
        shortest_episode = corridor_length + 2
        if max_steps is None:
            max_steps = 4 * shortest_episode
        elif (
            isinstance(max_steps, bool)
            or not isinstance(max_steps, int | np.integer)
            or max_steps < shortest_episode
        ):
            raise ValueError(
                f"max_steps must be None or an int >= corridor_length + 2 = {shortest_episode} "
                f"(the shortest episode), got {max_steps!r}"
            )
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, "
                f"got {render_mode!r}"
            )

        self.corridor_length = int(corridor_length)
        self.max_steps = int(max_steps)
        self.render_mode = render_mode
        self.junction_x = self.corridor_length + 1

        self.observation_space = spaces.Box(0.0, 1.0, shape=(4,), dtype=np.float32)
        self.action_space = spaces.Discrete(4)

        # Episode state, set by reset().
        self.cue = NORTH
        self.agent_x = 0
        self.steps = 0
        self.finished_arm: int | None = None

        self._frame_layout: _FrameLayout | None = None

    # ------------------------------------------------------------------ gym API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.cue = NORTH if self.np_random.integers(2) == 0 else SOUTH
        self.agent_x = 0
        self.steps = 0
        self.finished_arm = None
        return self._observation(), self._info()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.finished_arm is not None:
            raise RuntimeError("step() called after the episode terminated; call reset() first")
        action = int(action)
        if not 0 <= action < 4:
            raise ValueError(f"action must be in 0..3 (north, east, south, west), got {action}")
        self.steps += 1
        reward = 0.0
        terminated = False
        if self.agent_x == self.junction_x and action in (NORTH, SOUTH):
            reward = 1.0 if action == self.cue else -1.0
            terminated = True
            self.finished_arm = action
        elif action == EAST and self.agent_x < self.junction_x:
            self.agent_x += 1
        elif action == WEST and self.agent_x > 0:
            self.agent_x -= 1
            reward = -self.backtrack_penalty
        else:
            reward = -self.bump_penalty
        if not terminated and self.steps >= self.max_steps:
            reward = -1.0
            terminated = True
        return self._observation(), float(reward), terminated, False, self._info()

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        if self._frame_layout is None:
            self._frame_layout = _FrameLayout(self.corridor_length)
        return self._frame_layout.draw(self.cue, self.agent_x, self.finished_arm)

    # ------------------------------------------------------------------ helpers

    def _observation(self) -> np.ndarray:
        obs = np.zeros(4, dtype=np.float32)
        if self.agent_x == 0:
            obs[OBS_CUE_NORTH if self.cue == NORTH else OBS_CUE_SOUTH] = 1.0
        elif self.agent_x == self.junction_x:
            obs[OBS_JUNCTION] = 1.0
        else:
            obs[OBS_CORRIDOR] = 1.0
        return obs

    def _info(self) -> dict[str, Any]:
        return {"cue": "north" if self.cue == NORTH else "south", "agent_x": self.agent_x}


class _FrameLayout:
    """Pixel geometry of a T-maze frame and its static background (floor, walls, arms).

    Columns: start (wide), `corridor_length` corridor columns (narrow when the corridor is
    long, so the frame stays ~300 px wide), junction (wide). Rows: north arm, corridor,
    south arm.
    """

    MARGIN = 8
    ROW_HEIGHT = 32
    WIDE = 32  # start and junction columns
    CORRIDOR_BUDGET = 256  # pixels available for the corridor cells

    def __init__(self, corridor_length: int) -> None:
        self.corridor_length = corridor_length
        self.cell_width = max(2, min(self.WIDE, self.CORRIDOR_BUDGET // corridor_length))
        self.left = np.empty(corridor_length + 2, dtype=np.int64)
        self.width = np.empty(corridor_length + 2, dtype=np.int64)
        self.left[0], self.width[0] = self.MARGIN, self.WIDE
        self.left[1:-1] = self.MARGIN + self.WIDE + self.cell_width * np.arange(corridor_length)
        self.width[1:-1] = self.cell_width
        self.left[-1] = self.MARGIN + self.WIDE + self.cell_width * corridor_length
        self.width[-1] = self.WIDE
        frame_width = int(self.left[-1] + self.WIDE + self.MARGIN)
        frame_height = 3 * self.ROW_HEIGHT + 2 * self.MARGIN
        self.corridor_top = self.MARGIN + self.ROW_HEIGHT

        background = np.empty((frame_height, frame_width, 3), dtype=np.uint8)
        background[:] = _BACKGROUND
        top, bottom = self.corridor_top, self.corridor_top + self.ROW_HEIGHT
        background[top:bottom, self.MARGIN : frame_width - self.MARGIN] = _FLOOR
        if self.cell_width >= 6:  # cell borders only where they stay readable
            for x in self.left[1:]:
                background[top:bottom, x] = _FLOOR_LINE
        self.background = background

    def _arm_box(self, arm: int) -> tuple[int, int, int, int]:
        left = int(self.left[-1])
        top = self.MARGIN if arm == NORTH else self.corridor_top + self.ROW_HEIGHT
        return left, top, left + self.WIDE - 1, top + self.ROW_HEIGHT - 1

    def draw(self, cue: int, agent_x: int, finished_arm: int | None) -> np.ndarray:
        image = Image.fromarray(self.background.copy())
        draw = ImageDraw.Draw(image)
        for arm in (NORTH, SOUTH):
            fill = _CUED_ARM_TINT[arm] if arm == cue else _ARM
            draw.rectangle(self._arm_box(arm), fill=fill, outline=_FLOOR_LINE)

        # The cue: the start cell in the cue's colour with a white arrow pointing to its arm.
        start_left, top = int(self.left[0]), self.corridor_top
        draw.rectangle(
            (start_left, top, start_left + self.WIDE - 1, top + self.ROW_HEIGHT - 1),
            fill=_CUE_COLOURS[cue],
        )
        centre_x, centre_y = start_left + self.WIDE // 2, top + self.ROW_HEIGHT // 2
        tip = -10 if cue == NORTH else 10
        draw.polygon(
            [(centre_x, centre_y + tip), (centre_x - 8, centre_y), (centre_x + 8, centre_y)],
            fill=(255, 255, 255),
        )
        draw.rectangle(
            (
                centre_x - 2,
                min(centre_y, centre_y - tip),
                centre_x + 2,
                max(centre_y, centre_y - tip),
            ),
            fill=(255, 255, 255),
        )

        # The agent: a disc, larger than a corridor cell when the corridor is long.
        if finished_arm is None:
            agent_left, agent_width = int(self.left[agent_x]), int(self.width[agent_x])
            agent_top = top
        else:
            agent_left, agent_top, _, _ = self._arm_box(finished_arm)
            agent_width = self.WIDE
        centre_x = agent_left + agent_width // 2
        centre_y = agent_top + self.ROW_HEIGHT // 2
        # A thick ring rather than a disc, so the cue arrow stays visible under the agent.
        radius = 13
        draw.ellipse(
            (centre_x - radius, centre_y - radius, centre_x + radius, centre_y + radius),
            outline=_AGENT,
            width=5,
        )
        return np.asarray(image, dtype=np.uint8)

"""A grid world with a hidden goal fixed per episode (the MNM paper's RL task)."""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from PIL import Image, ImageDraw

from memrl.checks import check_int

# Actions (absolute moves; north is up on the frame) and their (row, column) steps.
NORTH, EAST, SOUTH, WEST = 0, 1, 2, 3
MAX_SIZE = 1_000
_MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))

# Frame colours (RGB).
WALL_COLOUR = (70, 70, 70)
FLOOR_COLOUR = (235, 235, 235)
GRID_COLOUR = (200, 200, 200)
AGENT_COLOUR = (255, 140, 0)
GOAL_COLOUR = (220, 30, 30)
VIEW_COLOUR = (40, 110, 230)
FOUND_COLOUR = (255, 215, 0)


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


class GoalSearch(gym.Env):
    """
    ## Description

    The grid world of the reinforcement-learning experiment in Munkhdalai et al. (2019),
    "Metalearned Neural Memory". An open room of `size x size` free cells, surrounded by walls,
    hides a goal at a random free cell, fixed for the whole episode and never shown in the
    observation. The agent sees only a small `view x view` window centred on itself. Stepping
    onto the goal pays +1 and respawns the agent at a random free cell other than the goal;
    the episode goes on for exactly `episode_steps` steps. A memoryless agent has to search
    the room again after every respawn. An agent that remembers where the goal was (and where
    it has been: the walls entering the window let it localise itself) can walk straight back,
    so its return grows with how well it uses memory.

    Coordinates: `(row, column)` inside the room, `0 .. size - 1`, row 0 at the north wall.
    The attributes `agent_position` and `goal_position` give them (for oracles and tests; an
    agent only gets the observation).

    ## Observation Space

    `Box(0, 1, (view * view + 5,), float32)`, the concatenation of:

    | Slice                        | Meaning                                                |
    |------------------------------|--------------------------------------------------------|
    | `[0, view*view)`             | the window, row-major, north first: 1 = wall (or       |
    |                              | outside the room), 0 = free; the agent is at its centre|
    | `[view*view, view*view + 4)` | one-hot of the previous action (all 0 after reset)     |
    | `view*view + 4`              | the previous reward (0 or 1; 0 after reset)            |

    The window is not rotated with the agent (moves are absolute). The goal is not in it.

    `info` holds `goals_found`, the number of goals reached so far in the episode.

    ## Action Space

    `Discrete(4)`: 0 north, 1 east, 2 south, 3 west. A move into a wall leaves the agent in
    place.

    ## Rewards

    +1 for stepping onto the goal, 0 otherwise.

    ## Termination and Truncation

    Never terminates. Truncates after exactly `episode_steps` steps (the env does it itself,
    no `TimeLimit` wrapper needed).

    ## Registered Variants

    | Id                          | Arguments   |
    |-----------------------------|-------------|
    | `memrl/GoalSearch-5x5-v0`   | `size=5`    |
    | `memrl/GoalSearch-v0`       | `size=9`    |
    | `memrl/GoalSearch-13x13-v0` | `size=13`   |

    All with `view=3`, `episode_steps=100`.

    ## Arguments

    - `size` (int, >= 2, default 9): free cells per side of the room.
    - `view` (odd int, 1 <= view <= 2 * size + 1, default 3): side of the egocentric window.
      A window of `2 * size + 1` shows the whole room from any cell; larger ones would only
      add cells outside the room, so they are refused.
    - `episode_steps` (int, >= 1, default 100): steps per episode.
    - `render_mode` (None or `"rgb_array"`): `render()` returns an `[H, W, 3]` uint8 frame:
      walls dark grey, free cells light grey, the goal red, the agent an orange disc, the
      agent's window outlined in blue; the goal gets a gold border on the step after it was
      reached.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 8}

    def __init__(
        self,
        size: int = 9,
        view: int = 3,
        episode_steps: int = 100,
        render_mode: str | None = None,
    ) -> None:
        if not _is_int(size) or size < 2:
            raise ValueError(f"size must be an int >= 2, got {size!r}")
        check_int("size", size, maximum=MAX_SIZE)  # the room is held as size² floats
        if not _is_int(view) or view < 1 or view % 2 == 0 or view > 2 * size + 1:
            raise ValueError(
                f"view must be an odd int with 1 <= view <= 2 * size + 1 = {2 * size + 1} "
                f"(a larger window would only show cells outside the room), got {view!r}"
            )
        if not _is_int(episode_steps) or episode_steps < 1:
            raise ValueError(f"episode_steps must be an int >= 1, got {episode_steps!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, "
                f"got {render_mode!r}"
            )

        self.size = int(size)
        self.view = int(view)
        self.episode_steps = int(episode_steps)
        self.render_mode = render_mode

        self._half_view = self.view // 2
        # The room in a frame of walls thick enough that every window is a plain slice:
        # room cell (row, col) is at padded[row + pad, col + pad].
        self._pad = max(1, self._half_view)
        padded_side = self.size + 2 * self._pad
        self._walls = np.ones((padded_side, padded_side), dtype=np.float32)
        self._walls[self._pad : self._pad + self.size, self._pad : self._pad + self.size] = 0.0
        self._window_cells = self.view * self.view

        self.observation_space = spaces.Box(
            0.0, 1.0, shape=(self._window_cells + 5,), dtype=np.float32
        )
        self.action_space = spaces.Discrete(4)

        # Episode state, set by reset(); positions in room coordinates.
        self._agent_row = self._agent_col = 0
        self._goal_row = self._goal_col = 0
        self._steps = 0
        self._last_action = -1
        self._last_reward = 0.0
        self._goals_found = 0

    # ------------------------------------------------------------------ public state

    @property
    def agent_position(self) -> tuple[int, int]:
        """The agent's `(row, column)` in the room."""
        return self._agent_row, self._agent_col

    @property
    def goal_position(self) -> tuple[int, int]:
        """The goal's `(row, column)` in the room (hidden from the agent)."""
        return self._goal_row, self._goal_col

    # ------------------------------------------------------------------ gym API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        goal = int(self.np_random.integers(self.size * self.size))
        self._goal_row, self._goal_col = divmod(goal, self.size)
        self._respawn()
        self._steps = 0
        self._last_action = -1
        self._last_reward = 0.0
        self._goals_found = 0
        return self._observation(), {"goals_found": 0}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        action = int(action)
        if not 0 <= action < 4:
            raise ValueError(f"action must be in 0..3 (north, east, south, west), got {action}")
        d_row, d_col = _MOVES[action]
        row, col = self._agent_row + d_row, self._agent_col + d_col
        if 0 <= row < self.size and 0 <= col < self.size:
            self._agent_row, self._agent_col = row, col
        reward = 0.0
        if self._agent_row == self._goal_row and self._agent_col == self._goal_col:
            reward = 1.0
            self._goals_found += 1
            self._respawn()
        self._steps += 1
        self._last_action = action
        self._last_reward = reward
        truncated = self._steps >= self.episode_steps
        return self._observation(), reward, False, truncated, {"goals_found": self._goals_found}

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        return self._draw_frame()

    # ------------------------------------------------------------------ helpers

    def _respawn(self) -> None:
        """Put the agent on a uniformly random free cell other than the goal."""
        cell = int(self.np_random.integers(self.size * self.size - 1))
        if cell >= self._goal_row * self.size + self._goal_col:
            cell += 1
        self._agent_row, self._agent_col = divmod(cell, self.size)

    def _observation(self) -> np.ndarray:
        obs = np.zeros(self._window_cells + 5, dtype=np.float32)
        top = self._agent_row + self._pad - self._half_view
        left = self._agent_col + self._pad - self._half_view
        obs[: self._window_cells].reshape(self.view, self.view)[:] = self._walls[
            top : top + self.view, left : left + self.view
        ]
        if self._last_action >= 0:
            obs[self._window_cells + self._last_action] = 1.0
        obs[-1] = self._last_reward
        return obs

    def _draw_frame(self) -> np.ndarray:
        side = self.size + 2  # the room and its walls
        cell = int(np.clip(256 // side, 12, 32))
        frame = np.empty((side * cell, side * cell, 3), dtype=np.uint8)
        frame[:] = WALL_COLOUR
        room = slice(cell, (side - 1) * cell)
        frame[room, room] = FLOOR_COLOUR
        grid_lines = np.arange(cell, (side - 1) * cell + 1, cell)
        frame[grid_lines[:, None], room] = GRID_COLOUR
        frame[room, grid_lines[:, None]] = GRID_COLOUR

        image = Image.fromarray(frame)
        draw = ImageDraw.Draw(image)

        def cell_box(row: int, col: int, inset: int) -> tuple[int, int, int, int]:
            top, left = (row + 1) * cell, (col + 1) * cell  # +1: the wall row/column
            return left + inset, top + inset, left + cell - 1 - inset, top + cell - 1 - inset

        draw.rectangle(
            cell_box(self._goal_row, self._goal_col, 1),
            fill=GOAL_COLOUR,
            outline=FOUND_COLOUR if self._last_reward > 0 else None,
            width=max(2, cell // 8),
        )
        draw.ellipse(
            cell_box(self._agent_row, self._agent_col, max(2, cell // 6)), fill=AGENT_COLOUR
        )

        # The window, clipped to the frame when it reaches past the walls.
        top = (self._agent_row + 1 - self._half_view) * cell
        left = (self._agent_col + 1 - self._half_view) * cell
        extent = self.view * cell
        last = side * cell - 1
        draw.rectangle(
            (max(0, left), max(0, top), min(last, left + extent - 1), min(last, top + extent - 1)),
            outline=VIEW_COLOUR,
            width=3,
        )
        return np.asarray(image, dtype=np.uint8)

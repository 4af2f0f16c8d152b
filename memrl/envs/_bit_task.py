"""Shared machinery of the NTM paper's bit-sequence tasks (Copy, RepeatCopy, AssociativeRecall).

An episode has an input phase and an output phase. In the input phase the agent observes one
vector per step (``bits`` data channels plus task flag channels) and its actions are ignored. In
the output phase it observes only the "respond" flag and must emit the target, one vector per
step, through a ``MultiBinary`` action. Each output step pays the fraction of correct bits divided
by the number of output steps, so an episode's return is its fraction of correct bits, in [0, 1].

Observation layout, ``[bits + F + 1]`` float32 in [0, 1], F = number of task flag channels::

    [ data bits (bits) | task flags (F) | respond ]

A subclass gives its flag channels and action size to ``__init__`` and implements
``_sample_episode``; this module does reset/step and the ``rgb_array`` rendering.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from memrl.checks import check_int

# Render palette (RGB).
_BACKGROUND = np.array([24, 24, 32], dtype=np.float32)
_BIT_OFF = np.array([62, 62, 74], dtype=np.float32)
_BIT_ON = np.array([235, 235, 235], dtype=np.float32)
_RESPOND = (0, 190, 220)
_CURSOR = np.array([255, 215, 0], dtype=np.uint8)
_TEXT = (210, 210, 210)
# Emitted bits, indexed [correct, bit value].
_EMITTED = np.array(
    [[[110, 30, 30], [240, 60, 60]], [[20, 90, 45], [60, 210, 90]]], dtype=np.float32
)
# Upper bounds that keep an episode's arrays (and its rendered frame) small: a bad keyword
# value is refused here instead of asking numpy for gigabytes.
MAX_BITS = 256
MAX_EPISODE_STEPS = 10_000

_FUTURE_DIM = 0.4  # brightness of input columns the agent has not observed yet

DELIMITER_COLOUR = (255, 160, 0)
QUERY_COLOUR = (200, 90, 230)
REPEAT_COLOUR = (90, 150, 255)


@dataclass(frozen=True)
class FlagChannel:
    """A task flag channel of the observation: its short render label and colour."""

    label: str
    colour: tuple[int, int, int]


@dataclass
class Episode:
    """One sampled episode.

    inputs: [T_in, bits + F + 1] float32, the input-phase observations (respond column zero).
    targets: [T_out, A] bool, the vectors to emit in the output phase (A = action size).
    info: the episode's parameters, returned in the reset and final infos.
    """

    inputs: np.ndarray
    targets: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)


class BitSequenceEnv(gym.Env[np.ndarray, np.ndarray]):
    """Base class of the bit-sequence tasks: spaces, reset/step, reward and rendering."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self,
        *,
        bits: int,
        flags: tuple[FlagChannel, ...],
        action_size: int,
        action_extra_labels: tuple[str, ...],
        longest_episode: int,
        render_mode: str | None,
    ) -> None:
        """Set up the spaces.

        bits: data channels of the observation (and of the action's first ``bits`` entries).
        flags: the task flag channels that follow the data channels.
        action_size: A, entries of the MultiBinary action (>= bits).
        action_extra_labels: render labels of action entries bits..A-1 (e.g. an end marker).
        longest_episode: most steps an episode can have; fixes the rendered frame's width.
        """
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, "
                f"got {render_mode!r}"
            )
        self.render_mode = render_mode
        self.bits = check_int("bits", bits, maximum=MAX_BITS)
        check_int(
            "the longest episode (steps, from the lengths given)",
            longest_episode,
            maximum=MAX_EPISODE_STEPS,
        )
        self._flags = flags
        self._action_size = action_size
        self._action_extra_labels = action_extra_labels
        self._longest_episode = longest_episode
        self._obs_size = bits + len(flags) + 1
        self.observation_space = spaces.Box(0.0, 1.0, shape=(self._obs_size,), dtype=np.float32)
        self.action_space = spaces.MultiBinary(action_size)

        self._observations: np.ndarray | None = None  # [T_in + T_out + 1, obs], last row zeros
        self._targets = np.zeros((0, action_size), dtype=bool)
        self._emitted = np.zeros((0, action_size), dtype=bool)
        self._input_steps = 0
        self._output_steps = 0
        self._t = 0
        self._bit_errors = 0
        self._return = 0.0
        self._episode_info: dict[str, Any] = {}
        self._render_template: np.ndarray | None = None

    # -- subclass hook ------------------------------------------------------------------------

    def _sample_episode(self) -> Episode:
        """Draw one episode from ``self.np_random``."""
        raise NotImplementedError

    def _blank_inputs(self, steps: int) -> np.ndarray:
        """[steps, bits + F + 1] float32 zeros for a subclass to fill."""
        return np.zeros((steps, self._obs_size), dtype=np.float32)

    # -- Gymnasium API ------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode; ``info`` holds its parameters and ``target`` [T_out, A] int8."""
        super().reset(seed=seed)
        episode = self._sample_episode()
        self._input_steps = episode.inputs.shape[0]
        self._output_steps = episode.targets.shape[0]
        total = self._input_steps + self._output_steps
        observations = np.zeros((total + 1, self._obs_size), dtype=np.float32)
        observations[: self._input_steps] = episode.inputs
        observations[self._input_steps : total, -1] = 1.0
        self._observations = observations
        self._targets = episode.targets.astype(bool)
        self._emitted = np.zeros_like(self._targets)
        self._t = 0
        self._bit_errors = 0
        self._return = 0.0
        self._episode_info = episode.info
        info = dict(episode.info)
        info["target"] = self._targets.astype(np.int8)
        return observations[0].copy(), info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Read ``action`` [A] (nonzero = 1) in the output phase; ignore it in the input phase."""
        if self._observations is None:
            raise RuntimeError("call reset() before step()")
        if self._t >= self._input_steps + self._output_steps:
            raise RuntimeError("the episode has terminated; call reset() to start a new one")
        output_index = self._t - self._input_steps
        self._t += 1
        if output_index < 0:
            return self._observations[self._t].copy(), 0.0, False, False, {}

        emitted = np.asarray(action)
        if emitted.shape != (self._action_size,):
            raise ValueError(
                f"action must have shape ({self._action_size},) (a MultiBinary sample), "
                f"got shape {emitted.shape}"
            )
        emitted = emitted != 0
        errors = int(np.count_nonzero(emitted != self._targets[output_index]))
        self._emitted[output_index] = emitted
        self._bit_errors += errors
        terminated = output_index == self._output_steps - 1
        total_bits = self._output_steps * self._action_size
        if terminated:
            # Paying the remainder of the score makes the summed rewards equal the episode's
            # fraction of correct bits exactly (1.0 for a perfect episode), not up to rounding;
            # the clamp keeps a rounding residue from making a reward negative.
            reward = max(0.0, (total_bits - self._bit_errors) / total_bits - self._return)
        else:
            reward = (self._action_size - errors) / total_bits
        self._return += reward
        info: dict[str, Any] = {}
        if terminated:
            info = dict(self._episode_info)
            info["target"] = self._targets.astype(np.int8)
            info["emitted"] = self._emitted.astype(np.int8)
            info["bit_errors"] = self._bit_errors
            info["bit_accuracy"] = (total_bits - self._bit_errors) / total_bits
            info["is_success"] = self._bit_errors == 0
        return self._observations[self._t].copy(), reward, terminated, False, info

    # -- rendering ----------------------------------------------------------------------------

    def _layout(self) -> dict[str, int]:
        """Pixel geometry of the frame; depends only on the constructor arguments."""
        columns = self._longest_episode
        cell = 14 if columns * 14 <= 1400 else max(4, 1400 // columns)
        margin, header, marker, gap = 64, 18, 10, 8
        input_top = header + marker
        target_top = input_top + self._obs_size * cell + gap
        output_top = target_top + self._action_size * cell + gap
        bottom = output_top + self._action_size * cell + 6
        return {
            "cell": cell,
            "left": margin,
            "header": header,
            "marker_top": header,
            "input_top": input_top,
            "target_top": target_top,
            "output_top": output_top,
            "grid_bottom": output_top + self._action_size * cell,
            # Multiples of 16 keep video encoders from resizing the frames.
            "height": 16 * math.ceil(bottom / 16),
            "width": 16 * math.ceil((margin + columns * cell + 4) / 16),
        }

    def _template(self) -> np.ndarray:
        """The frame's static part: background and labels. [H, W, 3] uint8, cached."""
        if self._render_template is None:
            from PIL import Image, ImageDraw

            layout = self._layout()
            cell = layout["cell"]
            image = Image.new(
                "RGB", (layout["width"], layout["height"]), tuple(_BACKGROUND.astype(int))
            )
            draw = ImageDraw.Draw(image)
            font = _font(11)
            for name in ("input", "target", "output"):
                draw.text((4, layout[f"{name}_top"]), name, fill=_TEXT, font=font)
            if cell >= 10:
                small = _font(min(10, cell - 2))
                row_labels = [(flag.label, flag.colour) for flag in self._flags]
                row_labels.append(("respond", _RESPOND))
                for row, (label, colour) in enumerate(row_labels, start=self.bits):
                    y = layout["input_top"] + row * cell
                    draw.text((layout["left"] - 4, y), label, fill=colour, font=small, anchor="ra")
                for panel in ("target_top", "output_top"):
                    for row, label in enumerate(self._action_extra_labels, start=self.bits):
                        y = layout[panel] + row * cell
                        draw.text(
                            (layout["left"] - 4, y), label, fill=_TEXT, font=small, anchor="ra"
                        )
            self._render_template = np.asarray(image, dtype=np.uint8).copy()
        return self._render_template

    def render(self) -> np.ndarray | None:
        """[H, W, 3] uint8: observations, target and emitted bits over time, step marked.

        Columns are time steps. Top panel: the observations (columns not yet observed are dim).
        Middle: the target in the output-phase columns. Bottom: the emitted bits, green where
        correct and red where wrong (bright = 1, dark = 0). The current step's column is outlined
        in yellow with a marker above it. The frame size is fixed per environment instance.
        """
        if self.render_mode is None:
            gym.logger.warn(
                "render() was called without a render_mode; pass render_mode='rgb_array' "
                "to the constructor or gymnasium.make"
            )
            return None
        frame = self._template().copy()
        if self._observations is None:
            return frame
        layout = self._layout()
        cell, left = layout["cell"], layout["left"]
        total = self._input_steps + self._output_steps

        # Input panel: [obs, T] colours blended from "off" to each row's "on" colour.
        values = self._observations[:total].T
        on = np.empty((self._obs_size, 3), dtype=np.float32)
        on[: self.bits] = _BIT_ON
        for row, flag in enumerate(self._flags, start=self.bits):
            on[row] = flag.colour
        on[-1] = _RESPOND
        # Scalar channels (the repeat count) stay visible at small values.
        intensity = np.where(values > 0, np.maximum(values, 0.45), 0.0)[..., None]
        colours = _BIT_OFF * (1 - intensity) + on[:, None, :] * intensity
        future = np.arange(total) > self._t
        colours[:, future] = colours[:, future] * _FUTURE_DIM + _BACKGROUND * (1 - _FUTURE_DIM)
        _paint(frame, layout["input_top"], left, cell, colours)

        # Target panel: only the output-phase columns.
        targets = np.broadcast_to(_BACKGROUND, (self._action_size, total, 3)).copy()
        targets[:, self._input_steps :] = np.where(self._targets.T[..., None], _BIT_ON, _BIT_OFF)
        _paint(frame, layout["target_top"], left, cell, targets)

        # Output panel: the emitted bits of the output steps taken so far.
        emitted = np.broadcast_to(_BACKGROUND, (self._action_size, total, 3)).copy()
        done = max(0, self._t - self._input_steps)
        if done:
            bits = self._emitted[:done].T.astype(np.intp)
            correct = (self._emitted[:done] == self._targets[:done]).T.astype(np.intp)
            emitted[:, self._input_steps : self._input_steps + done] = _EMITTED[correct, bits]
        _paint(frame, layout["output_top"], left, cell, emitted)

        if self._t < total:
            x0 = left + self._t * cell
            top, bottom = layout["input_top"] - 1, layout["grid_bottom"]
            frame[top:bottom, max(x0 - 2, 0) : x0] = _CURSOR
            frame[top:bottom, x0 + cell - 1 : x0 + cell + 1] = _CURSOR
            centre = x0 + cell // 2
            for dy in range(8):  # a downward triangle above the current column
                half = max(1, (cell // 2) * (8 - dy) // 8)
                frame[layout["marker_top"] + dy, centre - half : centre + half] = _CURSOR
        return _draw_header(frame, self._header_text(total))

    def _header_text(self, total: int) -> str:
        step = min(self._t, total)
        phase = "input" if self._t < self._input_steps else "output"
        if self._t >= total:
            phase = "done"
        return f"step {step}/{total}  {phase}  bit errors {self._bit_errors}"


def _paint(frame: np.ndarray, top: int, left: int, cell: int, colours: np.ndarray) -> None:
    """Draw colours [R, C, 3] as R x C cells of ``cell`` pixels with 1-pixel gaps into frame."""
    rows, columns = colours.shape[:2]
    block = np.repeat(np.repeat(colours.astype(np.uint8), cell, axis=0), cell, axis=1)
    block[cell - 1 :: cell] = _BACKGROUND.astype(np.uint8)
    block[:, cell - 1 :: cell] = _BACKGROUND.astype(np.uint8)
    frame[top : top + rows * cell, left : left + columns * cell] = block


@functools.lru_cache(maxsize=8)
def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # Pillow < 10.1 or without FreeType
        return ImageFont.load_default()


def _draw_header(frame: np.ndarray, text: str) -> np.ndarray:
    from PIL import Image, ImageDraw

    image = Image.fromarray(frame)
    ImageDraw.Draw(image).text((4, 3), text, fill=_TEXT, font=_font(11))
    return np.asarray(image, dtype=np.uint8).copy()

"""Replay frames with memory-recall overlays: a pure drawing function and GIF/MP4 writers.

One composed frame of step t (every size is fixed by the env frame's shape, the number of
read heads R and the top-k K, so all frames of an episode have the same size and stack):

    +--------------------------------------------------------------------+
    | header: episode, core, env, step t/T-1, action, reward             |
    +----------------------------+---------------------------------------+
    | current frame (step t)     | head 0  [thumb] [thumb] ... K thumbs  |
    |                            |         t=12 w=0.83  ...              |
    |                            | head 1  [thumb] ...   (R rows)        |
    +----------------------------+---------------------------------------+
    | recall map S x S: row = step, column = past step,  | legend        |
    | brightness = read weight; rows 0..t filled, cursor |               |
    +--------------------------------------------------------------------+

A thumbnail is the frame of the *source step* of a top-k read: the past step whose write
the read landed on (see ``memrl.recall.records``). A cell whose source step is -1 (unwritten
slot, or fewer than K candidates) is drawn empty. Without addressable memory (LSTM/GRU
records, ``has_recall`` false) the recall panel is replaced by a note and there is no map.

The recall map M [T, T] of an episode is M[t, t'] = sum over heads r and ranks k of
read_weights[t, r, k] where source_steps[t, r, k] == t'. Its brightness is M / max(M)
(negative values, e.g. MNM cosine similarities, are drawn black).

Everything here is a pure function of numpy arrays (no display, no global state): the same
inputs give the same pixels. Labels use Pillow's default bitmap font.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from memrl.recall.records import EpisodeRecord

__all__ = [
    "NO_RECALL_NOTE",
    "compose_step",
    "episode_frames",
    "recall_map",
    "recall_map_image",
    "write_gif",
    "write_mp4",
    "write_replay",
]

NO_RECALL_NOTE = "no addressable memory (LSTM/GRU core): nothing to recall"
REPLAY_SUFFIXES = (".gif", ".mp4", ".html")

BACKGROUND = (24, 24, 28)
HEADER_BACKGROUND = (44, 44, 54)
TEXT = (232, 232, 232)
MUTED_TEXT = (150, 150, 160)
EMPTY_CELL = (58, 58, 64)
THUMB_BORDER = (90, 90, 100)
MAP_UNFILLED = (34, 38, 56)
MAP_BORDER = (110, 110, 120)
CURSOR = (255, 140, 0)
# The map's brightest colour: a warm white, so it reads as "weight" next to the cursor's orange.
MAP_HOT = np.array([255.0, 244.0, 200.0])

PAD = 6
LINE = 13  # text line height: Pillow's bitmap font is 11 pixels high
HEADER_HEIGHT = LINE + PAD
DISPLAY_MAX_SIDE = 400  # larger env frames are shrunk to this
DISPLAY_MIN_SIDE = 160  # smaller env frames are enlarged (by a whole factor) to this


@functools.cache
def _font() -> ImageFont.ImageFont:
    """Pillow's built-in bitmap font (no FreeType needed; the same pixels everywhere)."""
    # Pillow >= 10.1 returns a FreeType font from load_default(); the bitmap one is kept
    # under load_default_imagefont. Pillow 10.0's load_default() is the bitmap font.
    return getattr(ImageFont, "load_default_imagefont", ImageFont.load_default)()


def _text_width(text: str) -> int:
    return int(np.ceil(_font().getlength(text)))


# --------------------------------------------------------------------------- the recall map


def recall_map(record: EpisodeRecord) -> np.ndarray:
    """Read-weight mass of each step on each past step.

    Returns ``M: [T, T] float32`` with ``M[t, t'] = sum_{r,k} read_weights[t, r, k] *
    [source_steps[t, r, k] == t']`` (reads with source step -1 or outside ``[0, T)`` are
    left out). All zeros for a record without recall.
    """
    length = record.length
    matrix = np.zeros((length, length), dtype=np.float32)
    if not record.has_recall or length == 0:
        return matrix
    sources = np.asarray(record.source_steps).reshape(length, -1)
    weights = np.asarray(record.read_weights, dtype=np.float32).reshape(length, -1)
    steps = np.broadcast_to(np.arange(length)[:, None], sources.shape)
    valid = (sources >= 0) & (sources < length)
    np.add.at(matrix, (steps[valid], sources[valid]), weights[valid])
    return matrix


def _bin_starts(n_values: int, n_pixels: int) -> np.ndarray:
    """First value index covered by each pixel when n_values are drawn over n_pixels."""
    return (np.arange(n_pixels) * n_values) // n_pixels


def _pool_max(values: np.ndarray, size: int) -> np.ndarray:
    """Resample a [T, T] matrix to [size, size]: nearest when enlarging, max when shrinking."""
    starts = _bin_starts(values.shape[0], size)
    rows = np.maximum.reduceat(values, starts, axis=0)
    starts = _bin_starts(values.shape[1], size)
    return np.maximum.reduceat(rows, starts, axis=1)


def _step_pixel_rows(step: int, n_steps: int, size: int) -> tuple[int, int]:
    """Pixel rows [y0, y1) showing ``step`` in a map of ``size`` pixels over ``n_steps``."""
    y0 = -(-step * size // n_steps)
    y1 = -(-(step + 1) * size // n_steps)
    if y1 <= y0:  # several steps share a pixel row when shrinking
        y0 = step * size // n_steps
        y1 = y0 + 1
    return y0, y1


def recall_map_image(
    matrix: np.ndarray,
    size: int,
    filled_rows: int | None = None,
    map_max: float | None = None,
) -> np.ndarray:
    """Draw a recall map as pixels (no cursor, no labels).

    Args:
        matrix: ``[T_rows, T]`` recall map (``T_rows <= T``: the rows known so far).
        size: side S of the square image in pixels.
        filled_rows: rows ``0 .. filled_rows - 1`` are drawn; later rows get the "not yet"
            colour. Default: all of ``matrix``'s rows.
        map_max: the weight drawn at full brightness. Default: the largest entry (1 when
            the map has no positive entry).

    Returns:
        ``[S, S, 3] uint8``.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] > matrix.shape[1]:
        raise ValueError(
            f"recall map must be [T_rows, T] with T_rows <= T, got shape {matrix.shape}"
        )
    if size < 1:
        raise ValueError(f"map size must be a positive number of pixels, got {size}")
    n_steps = matrix.shape[1]
    if n_steps == 0:
        return np.full((size, size, 3), MAP_UNFILLED, dtype=np.uint8)
    known = np.zeros((n_steps, n_steps))
    known[: matrix.shape[0]] = matrix
    n_filled = matrix.shape[0] if filled_rows is None else min(filled_rows, matrix.shape[0])
    n_filled = max(n_filled, 0)
    known[n_filled:] = 0.0
    if map_max is None:
        map_max = float(known.max()) if known.max() > 0 else 1.0
    brightness = np.clip(_pool_max(known, size) / max(map_max, 1e-12), 0.0, 1.0)
    image = brightness[..., None] * MAP_HOT
    row_filled = _bin_starts(n_steps, size) < n_filled
    image[~row_filled] = MAP_UNFILLED
    return np.round(image).astype(np.uint8)


# --------------------------------------------------------------------------- layout helpers


def as_rgb(frame: np.ndarray) -> np.ndarray:
    """Return ``[H, W, 3] uint8`` from an RGB, RGBA or grey uint8 frame."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 RGB images, got dtype {frame.dtype}")
    if frame.ndim == 2:
        frame = frame[..., None]
    if frame.ndim != 3 or frame.shape[2] not in (1, 3, 4) or min(frame.shape[:2]) == 0:
        raise ValueError(f"a frame must be [H, W, 3] (or grey/RGBA), got shape {frame.shape}")
    if frame.shape[2] == 1:
        frame = np.repeat(frame, 3, axis=2)
    return np.ascontiguousarray(frame[..., :3])


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    if image.shape[:2] == (height, width):
        return image
    shrinking = height < image.shape[0] or width < image.shape[1]
    resample = Image.Resampling.BOX if shrinking else Image.Resampling.NEAREST
    return np.asarray(Image.fromarray(image).resize((width, height), resample=resample))


def _fit(height: int, width: int, box_height: int, box_width: int) -> tuple[int, int]:
    """Largest (h, w) with the aspect ratio of (height, width) inside the box."""
    scale = min(box_height / height, box_width / width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def _display_size(height: int, width: int) -> tuple[int, int]:
    """Size the current frame is shown at: shrunk to DISPLAY_MAX_SIDE, or enlarged by a
    whole factor to about DISPLAY_MIN_SIDE (pixel-art frames stay crisp)."""
    if max(height, width) > DISPLAY_MAX_SIDE:
        return _fit(height, width, DISPLAY_MAX_SIDE, DISPLAY_MAX_SIDE)
    factor = max(1, DISPLAY_MIN_SIDE // max(height, width))
    return height * factor, width * factor


@dataclass(frozen=True)
class _Layout:
    """Pixel positions of one composed frame (depend only on shapes, never on values)."""

    width: int
    height: int
    frame_xy: tuple[int, int]
    frame_hw: tuple[int, int]
    panel_xy: tuple[int, int]
    head_label_width: int
    cell_width: int
    cell_height: int
    thumb_hw: tuple[int, int]
    map_xy: tuple[int, int] | None
    map_size: int
    note_width: int


def _layout(
    frame_hw: tuple[int, int],
    read_heads: int,
    top_k: int,
    has_recall: bool,
    map_size: int,
    thumb_box: tuple[int, int],
    weight_label: str,
) -> _Layout:
    display_hw = _display_size(*frame_hw)
    frame_xy = (PAD, HEADER_HEIGHT + PAD)
    panel_x = frame_xy[0] + display_hw[1] + 2 * PAD
    if not has_recall:
        note_width = 200
        width = panel_x + note_width + PAD
        height = frame_xy[1] + max(display_hw[0], 4 * LINE) + PAD
        return _Layout(
            width=max(width, _text_width("x" * 60)),
            height=height,
            frame_xy=frame_xy,
            frame_hw=display_hw,
            panel_xy=(panel_x, frame_xy[1]),
            head_label_width=0,
            cell_width=0,
            cell_height=0,
            thumb_hw=(0, 0),
            map_xy=None,
            map_size=0,
            note_width=note_width,
        )
    thumb_hw = _fit(frame_hw[0], frame_hw[1], *thumb_box)
    label_width = _text_width(f"t=9999 {weight_label}=-0.00")
    cell_width = max(thumb_hw[1], label_width) + PAD
    cell_height = thumb_hw[0] + LINE + PAD
    head_label_width = _text_width("head 00") + PAD
    panel_title = LINE
    panel_width = head_label_width + top_k * cell_width
    panel_height = panel_title + read_heads * cell_height
    body_bottom = frame_xy[1] + max(display_hw[0], panel_height)
    width = panel_x + panel_width + PAD
    height = body_bottom + PAD
    map_xy = None
    if map_size > 0:
        tick_width = _text_width("9999") + PAD
        map_xy = (PAD + tick_width, body_bottom + PAD + LINE)  # a title line above the map
        legend_width = _text_width("brightness = read weight / 0.00") + 2 * PAD
        width = max(width, map_xy[0] + map_size + 2 * PAD + legend_width)
        height = map_xy[1] + map_size + 2 * LINE + PAD
    return _Layout(
        width=width,
        height=height,
        frame_xy=frame_xy,
        frame_hw=display_hw,
        panel_xy=(panel_x, frame_xy[1]),
        head_label_width=head_label_width,
        cell_width=cell_width,
        cell_height=cell_height,
        thumb_hw=thumb_hw,
        map_xy=map_xy,
        map_size=map_size,
        note_width=0,
    )


def _paste(canvas: np.ndarray, image: np.ndarray, x: int, y: int) -> None:
    canvas[y : y + image.shape[0], x : x + image.shape[1]] = image


def format_action(action: Any) -> str:
    """Short text of one step's action: ``2``, ``0.50`` or ``[1 0 1]`` (cut after 24 chars)."""
    values = np.asarray(action)
    if values.ndim == 0:
        item = values.item()
        return f"{item:.2f}" if isinstance(item, float) else str(item)
    flat = values.reshape(-1)
    text = " ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in flat.tolist())
    return "[" + (text if len(text) <= 24 else text[:21] + "...") + "]"


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and _text_width(lines[-1] + " " + word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


# --------------------------------------------------------------------------- composing a step


def compose_step(
    frame: np.ndarray,
    recalled_frames: np.ndarray | Sequence[Sequence[np.ndarray | None]] | None,
    weights: np.ndarray | None,
    source_steps: np.ndarray | None,
    step: int,
    recall_map: np.ndarray | None,
    cursor: int | None = None,
    *,
    length: int | None = None,
    action: Any = None,
    reward: float | None = None,
    title: str = "",
    weight_label: str = "w",
    map_max: float | None = None,
    map_size: int = 160,
    thumb_box: tuple[int, int] = (64, 96),
    no_recall_note: str = NO_RECALL_NOTE,
) -> np.ndarray:
    """Draw one replay frame: the current frame, the recalled past frames and the recall map.

    Args:
        frame: ``[H, W, 3] uint8`` env frame of step ``step``.
        recalled_frames: ``[R, K, h, w, 3] uint8``, or R lists of K frames (``None`` where
            nothing was recalled): the frames of the source steps, any size (they are
            resized to thumbnails). ``None`` or ``R * K == 0``: no recall panel, a note.
        weights: ``[R, K]`` read weight of each top-k read (MNM: key similarity).
        source_steps: ``[R, K]`` source step of each read; -1 draws an empty cell.
        step: the step shown (header label).
        recall_map: ``[T_rows, T]`` recall map (see :func:`recall_map`); rows
            ``0 .. cursor`` are drawn, later ones shown as not yet filled. ``None``: no map.
        cursor: the map row marked as current (default ``step``).
        length: episode length T for the header (``step t/T-1``).
        action, reward: shown in the header when given.
        title: text at the start of the header (e.g. core and env id).
        weight_label: short name of the weight in the cell labels (``"w"``, MNM ``"sim"``).
        map_max: the weight drawn at full brightness; pass the episode's maximum so the
            brightness scale stays fixed over the episode (default: the map's maximum).
        map_size: side of the drawn recall map in pixels (fixed whatever T is).
        thumb_box: ``(height, width)`` box each thumbnail is fitted into (aspect kept).
        no_recall_note: the text shown instead of the recall panel without recall.

    Returns:
        ``[H', W', 3] uint8`` with ``H' > H`` and ``W' > W``; ``(H', W')`` depends only on
        ``(H, W)``, R, K, whether there is recall, ``map_size``, ``thumb_box`` and
        ``weight_label`` — so all steps of an episode have the same size.
    """
    frame = as_rgb(frame)
    cursor = step if cursor is None else cursor
    weights_rk = np.zeros((0, 0)) if weights is None else np.asarray(weights, dtype=np.float64)
    sources_rk = np.full(weights_rk.shape, -1) if source_steps is None else np.asarray(source_steps)
    if weights_rk.ndim != 2 or sources_rk.shape != weights_rk.shape:
        raise ValueError(
            "weights and source_steps must both be [R, K], got shapes "
            f"{weights_rk.shape} and {sources_rk.shape}"
        )
    read_heads, top_k = weights_rk.shape
    has_recall = recalled_frames is not None and read_heads * top_k > 0
    layout = _layout(
        frame.shape[:2],
        read_heads,
        top_k,
        has_recall,
        map_size if recall_map is not None else 0,
        thumb_box,
        weight_label,
    )
    canvas = np.empty((layout.height, layout.width, 3), dtype=np.uint8)
    canvas[:] = BACKGROUND
    canvas[:HEADER_HEIGHT] = HEADER_BACKGROUND
    _paste(canvas, _resize(frame, *layout.frame_hw), *layout.frame_xy)

    if has_recall:
        thumbnails = _thumbnails(recalled_frames, sources_rk, layout.thumb_hw)
        if layout.map_xy is not None and recall_map is not None:
            map_pixels = recall_map_image(recall_map, layout.map_size, cursor + 1, map_max)
            _paste(canvas, map_pixels, *layout.map_xy)
        for (head, rank), thumbnail in thumbnails.items():
            x, y = _cell_xy(layout, head, rank)
            _paste(canvas, thumbnail, x, y)

    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    font = _font()
    header = [title] if title else []
    header.append(f"step {step}" + (f"/{length - 1}" if length is not None else ""))
    if action is not None:
        header.append(f"action {format_action(action)}")
    if reward is not None:
        header.append(f"reward {float(reward):+.2f}")
    draw.text((PAD, PAD // 2), "   ".join(header), fill=TEXT, font=font)

    if not has_recall:
        x, y = layout.panel_xy
        for i, line in enumerate(_wrap(no_recall_note, layout.note_width)):
            draw.text((x, y + i * LINE), line, fill=MUTED_TEXT, font=font)
        return np.asarray(image)

    _draw_panel_labels(draw, layout, weights_rk, sources_rk, weight_label, thumbnails)
    if layout.map_xy is not None and recall_map is not None:
        _draw_map_labels(draw, layout, np.asarray(recall_map), cursor, map_max)
    return np.asarray(image)


def _cell_xy(layout: _Layout, head: int, rank: int) -> tuple[int, int]:
    """Top-left pixel of the thumbnail of read (head, rank)."""
    x0, y0 = layout.panel_xy
    return (
        x0 + layout.head_label_width + rank * layout.cell_width,
        y0 + LINE + head * layout.cell_height,
    )


def _thumbnails(
    recalled_frames: np.ndarray | Sequence[Sequence[np.ndarray | None]],
    sources: np.ndarray,
    thumb_hw: tuple[int, int],
) -> dict[tuple[int, int], np.ndarray]:
    """Resized frames of the reads that have a source step, keyed by (head, rank)."""
    thumbnails = {}
    for head in range(sources.shape[0]):
        for rank in range(sources.shape[1]):
            if sources[head, rank] < 0:
                continue
            try:
                recalled = recalled_frames[head][rank]
            except (IndexError, TypeError) as error:
                raise ValueError(
                    f"recalled_frames has no frame for head {head}, rank {rank} although its "
                    f"source step is {sources[head, rank]}; give [R, K] frames"
                ) from error
            if recalled is None:
                continue
            thumbnails[(head, rank)] = _resize(as_rgb(recalled), *thumb_hw)
    return thumbnails


def _draw_panel_labels(
    draw: ImageDraw.ImageDraw,
    layout: _Layout,
    weights: np.ndarray,
    sources: np.ndarray,
    weight_label: str,
    thumbnails: dict[tuple[int, int], np.ndarray],
) -> None:
    font = _font()
    x0, y0 = layout.panel_xy
    draw.text((x0, y0), "recalled past frames (top-k per read head)", fill=MUTED_TEXT, font=font)
    thumb_h, thumb_w = layout.thumb_hw
    for head in range(sources.shape[0]):
        _, row_y = _cell_xy(layout, head, 0)
        draw.text((x0, row_y + thumb_h // 2 - LINE // 2), f"head {head}", fill=TEXT, font=font)
        for rank in range(sources.shape[1]):
            x, y = _cell_xy(layout, head, rank)
            box = (x - 1, y - 1, x + thumb_w, y + thumb_h)
            if (head, rank) in thumbnails:
                draw.rectangle(box, outline=THUMB_BORDER)
                label = f"t={int(sources[head, rank])} {weight_label}={weights[head, rank]:.2f}"
                draw.text((x, y + thumb_h + 1), label, fill=TEXT, font=font)
            else:
                draw.rectangle(box, fill=EMPTY_CELL)
                draw.text((x + 2, y + 1), "none", fill=MUTED_TEXT, font=font)


def _draw_map_labels(
    draw: ImageDraw.ImageDraw,
    layout: _Layout,
    matrix: np.ndarray,
    cursor: int,
    map_max: float | None,
) -> None:
    assert layout.map_xy is not None
    font = _font()
    mx, my = layout.map_xy
    size = layout.map_size
    n_steps = matrix.shape[1]
    draw.text((PAD, my - LINE - 1), "recall map", fill=MUTED_TEXT, font=font)
    draw.rectangle((mx - 1, my - 1, mx + size, my + size), outline=MAP_BORDER)
    last = str(max(n_steps - 1, 0))
    draw.text((mx - _text_width("0") - 3, my - 2), "0", fill=MUTED_TEXT, font=font)
    draw.text((mx - _text_width(last) - 3, my + size - LINE + 2), last, fill=MUTED_TEXT, font=font)
    draw.text((mx, my + size + 2), "0", fill=MUTED_TEXT, font=font)
    draw.text((mx + size - _text_width(last), my + size + 2), last, fill=MUTED_TEXT, font=font)
    draw.text((mx + size // 2 - 30, my + size + 2), "past step", fill=MUTED_TEXT, font=font)
    if n_steps > 0 and 0 <= cursor < n_steps:
        _, y1 = _step_pixel_rows(cursor, n_steps, size)
        line_y = my + min(y1, size - 1)
        draw.line((mx - 4, line_y, mx + size + 3, line_y), fill=CURSOR, width=1)
        draw.polygon([(mx - 7, line_y - 3), (mx - 7, line_y + 3), (mx - 2, line_y)], fill=CURSOR)
    if map_max is None:
        filled = np.asarray(matrix, dtype=np.float64)[: cursor + 1]
        map_max = float(filled.max()) if filled.size and filled.max() > 0 else 1.0
    legend = [
        "row = step (0 at top)",
        "column = past step recalled",
        f"brightness = read weight / {map_max:.2f}",
        "orange line = current step",
    ]
    lx = mx + size + 2 * PAD
    for i, line in enumerate(legend):
        draw.text((lx, my + i * LINE), line, fill=CURSOR if i == 3 else MUTED_TEXT, font=font)


# --------------------------------------------------------------------------- whole episodes


def as_record_list(records: EpisodeRecord | Sequence[EpisodeRecord]) -> list[EpisodeRecord]:
    """One record or several, as a non-empty list (ValueError for anything else)."""
    items = [records] if isinstance(records, EpisodeRecord) else list(records)
    if not items:
        raise ValueError("no episode records to render: give at least one EpisodeRecord")
    for item in items:
        if not isinstance(item, EpisodeRecord):
            raise ValueError(f"expected EpisodeRecord objects, got {type(item).__name__}")
    return items


def episode_title(record: EpisodeRecord, episode: int | None = None) -> str:
    """Short header text from the record's metadata (episode index, core, env id, return)."""
    meta = record.metadata
    parts = [] if episode is None else [f"episode {episode}"]
    parts += [str(meta[key]) for key in ("core", "env_id") if meta.get(key)]
    if meta.get("episode_return") is not None:
        parts.append(f"return {float(meta['episode_return']):.2f}")
    return " | ".join(parts)


def record_weight_label(record: EpisodeRecord) -> str:
    """``"sim"`` for MNM key-similarity records, ``"w"`` for read weights."""
    return "sim" if record.metadata.get("recall_kind") == "keys" else "w"


def step_card(step: int, height: int = 96, width: int = 128) -> np.ndarray:
    """``[height, width, 3] uint8``: the stand-in drawn for a step whose frame was not kept."""
    image = Image.new("RGB", (width, height), EMPTY_CELL)
    draw = ImageDraw.Draw(image)
    draw.text((PAD, PAD), f"step {step}", fill=TEXT, font=_font())
    draw.text((PAD, PAD + LINE), "no frame kept", fill=MUTED_TEXT, font=_font())
    return np.asarray(image)


def check_frames(record: EpisodeRecord) -> None:
    """Raise a ValueError when the record keeps frames that are not one ``[H, W, 3]`` per step
    (a record without frames passes: it is drawn with cards)."""
    if record.frames is None:
        return
    shape = np.shape(record.frames)
    if len(shape) != 4 or shape[0] != record.length:
        raise ValueError(
            f"record frames must be [T, H, W, 3] with T = {record.length} steps, got shape {shape}"
        )


def replay_frames_of(record: EpisodeRecord) -> np.ndarray:
    """The record's ``[T, H, W, 3] uint8`` frames to draw.

    A record kept without frames (as ``RecallCallback`` keeps them during training) gets a
    card per step naming the step, so its recall panel and map can still be replayed.
    """
    check_frames(record)
    if record.frames is None:
        return np.stack([step_card(step) for step in range(record.length)])
    return np.asarray(record.frames)


def episode_frames(
    record: EpisodeRecord,
    *,
    title: str | None = None,
    map_size: int = 160,
    thumb_box: tuple[int, int] = (64, 96),
) -> list[np.ndarray]:
    """Compose every step of a recorded episode (see :func:`compose_step`).

    Args:
        record: an episode record; without frames each step is drawn as a card (see
            :func:`replay_frames_of`).
        title: header text (default: from the metadata, see :func:`episode_title`).
        map_size, thumb_box: as in :func:`compose_step`.

    Returns:
        T frames ``[H', W', 3] uint8``, all of one size.

    Raises:
        ValueError: the record's frames are not one per step.
    """
    frames = replay_frames_of(record)
    length = record.length
    title = episode_title(record) if title is None else title
    matrix = recall_map(record) if record.has_recall else None
    map_max = None
    if matrix is not None:
        map_max = float(matrix.max()) if matrix.size and matrix.max() > 0 else 1.0
    thumb_hw = _fit(frames.shape[1], frames.shape[2], *thumb_box)
    thumbnail_cache: dict[int, np.ndarray] = {}

    def thumbnail(source: int) -> np.ndarray | None:
        if not 0 <= source < length:
            return None
        if source not in thumbnail_cache:
            thumbnail_cache[source] = _resize(as_rgb(frames[source]), *thumb_hw)
        return thumbnail_cache[source]

    composed = []
    for step in range(length):
        recalled = None
        weights = sources = None
        if record.has_recall:
            sources = np.asarray(record.source_steps[step])
            weights = np.asarray(record.read_weights[step])
            sources = np.where((sources >= 0) & (sources < length), sources, -1)
            recalled = [[thumbnail(int(s)) for s in head] for head in sources]
        composed.append(
            compose_step(
                frames[step],
                recalled,
                weights,
                sources,
                step,
                matrix,
                cursor=step,
                length=length,
                action=np.asarray(record.actions)[step],
                reward=float(record.rewards[step]),
                title=title,
                weight_label=record_weight_label(record),
                map_max=map_max,
                map_size=map_size,
                thumb_box=thumb_box,
            )
        )
    return composed


def _replay_frames(
    records: EpisodeRecord | Sequence[EpisodeRecord], multiple: int = 1
) -> list[np.ndarray]:
    """Composed frames of all records, padded to one size (a multiple of ``multiple``)."""
    items = as_record_list(records)
    for item in items:
        check_frames(item)  # fail before any drawing
    frames: list[np.ndarray] = []
    for index, item in enumerate(items):
        episode = index if len(items) > 1 else None
        frames += episode_frames(item, title=episode_title(item, episode))
    height = max(f.shape[0] for f in frames)
    width = max(f.shape[1] for f in frames)
    height = -(-height // multiple) * multiple
    width = -(-width // multiple) * multiple
    padded = []
    for frame in frames:
        if frame.shape[:2] != (height, width):
            canvas = np.empty((height, width, 3), dtype=np.uint8)
            canvas[:] = BACKGROUND
            _paste(canvas, frame, 0, 0)
            frame = canvas
        padded.append(frame)
    return padded


# --------------------------------------------------------------------------- writers


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` only on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp{target.suffix}"
    # os.open with 0o666 applies the umask, so the file ends up with the usual permissions
    # (tempfile.mkstemp would leave it readable by its owner only).
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def check_fps(fps: float) -> float:
    if not np.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a positive number of frames per second, got {fps}")
    return float(fps)


def write_gif(
    records: EpisodeRecord | Sequence[EpisodeRecord],
    path: str | os.PathLike[str],
    fps: float = 4,
) -> Path:
    """Write the replay of one or several episodes as an animated GIF (looping).

    One GIF frame per step; several records are played one after the other. Written
    atomically. Returns the path.
    """
    fps = check_fps(fps)
    images = [Image.fromarray(frame) for frame in _replay_frames(records)]
    with atomic_path(path) as temporary:
        images[0].save(
            temporary,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=round(1000 / fps),
            loop=0,
        )
    return Path(path)


def _imageio_ffmpeg() -> Any:
    try:
        return importlib.import_module("imageio_ffmpeg")
    except ImportError as error:
        raise ImportError(
            "writing MP4 needs the imageio-ffmpeg package (it bundles an ffmpeg binary): "
            "`pip install imageio-ffmpeg` or `pip install memrl[video]`; or write a .gif or "
            ".html replay instead"
        ) from error


def write_mp4(
    records: EpisodeRecord | Sequence[EpisodeRecord],
    path: str | os.PathLike[str],
    fps: float = 4,
) -> Path:
    """Write the replay of one or several episodes as an H.264 MP4 (needs imageio-ffmpeg).

    Frames are padded to a multiple of 16 pixels (the codec's block size). Written
    atomically. Returns the path.

    Raises:
        ImportError: imageio-ffmpeg is not installed (the message says how to install it).
    """
    fps = check_fps(fps)
    _imageio_ffmpeg()
    import imageio.v2 as imageio

    frames = _replay_frames(records, multiple=16)
    with atomic_path(path) as temporary:
        writer = imageio.get_writer(
            temporary,
            format="FFMPEG",
            mode="I",
            fps=fps,
            codec="libx264",
            pixelformat="yuv420p",
            macro_block_size=16,
            ffmpeg_log_level="error",
        )
        with writer:
            for frame in frames:
                writer.append_data(frame)
    return Path(path)


def write_replay(
    records: EpisodeRecord | Sequence[EpisodeRecord],
    path: str | os.PathLike[str],
    fps: float = 4,
) -> Path:
    """Write a replay, choosing the format by the suffix: ``.gif``, ``.mp4`` or ``.html``."""
    suffix = Path(path).suffix.lower()
    if suffix == ".gif":
        return write_gif(records, path, fps)
    if suffix == ".mp4":
        return write_mp4(records, path, fps)
    if suffix == ".html":
        from memrl.recall.html import write_html

        return write_html(records, path, fps)
    raise ValueError(
        f"cannot write a replay to {str(path)!r}: unknown suffix {suffix!r}; "
        f"use one of {', '.join(REPLAY_SUFFIXES)}"
    )

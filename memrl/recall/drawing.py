"""One replay frame of a step: the current frame, the recalled past frames and the recall map.

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
records) the recall panel is replaced by a note and there is no map. The map itself is
``memrl.recall.maps``.

Everything here is a pure function of numpy arrays (no display, no global state, no
records): the same inputs give the same pixels. Labels use Pillow's default bitmap font.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from memrl.recall.maps import map_scale, recall_map_image, step_pixel_rows

__all__ = [
    "CURSOR",
    "NO_RECALL_NOTE",
    "as_rgb",
    "compose_step",
    "format_action",
    "label_font",
    "pad_frame",
    "step_card",
    "thumbnail",
]

NO_RECALL_NOTE = "no addressable memory (LSTM/GRU core): nothing to recall"

BACKGROUND = (24, 24, 28)
HEADER_BACKGROUND = (44, 44, 54)
TEXT = (232, 232, 232)
MUTED_TEXT = (150, 150, 160)
EMPTY_CELL = (58, 58, 64)
THUMB_BORDER = (90, 90, 100)
MAP_BORDER = (110, 110, 120)
CURSOR = (255, 140, 0)

PAD = 6
LINE = 13  # text line height: Pillow's bitmap font is 11 pixels high
HEADER_HEIGHT = LINE + PAD
DISPLAY_MAX_SIDE = 400  # larger env frames are shrunk to this
DISPLAY_MIN_SIDE = 160  # smaller env frames are enlarged (by a whole factor) to this


@functools.cache
def label_font() -> ImageFont.ImageFont:
    """Pillow's built-in bitmap font (no FreeType needed; the same pixels everywhere)."""
    # Pillow >= 10.1 returns a FreeType font from load_default(); the bitmap one is kept
    # under load_default_imagefont. Pillow 10.0's load_default() is the bitmap font.
    return getattr(ImageFont, "load_default_imagefont", ImageFont.load_default)()


def _text_width(text: str) -> int:
    return int(np.ceil(label_font().getlength(text)))


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
        recall_map: ``[T_rows, T]`` recall map (see ``memrl.recall.maps.recall_map``); rows
            ``0 .. cursor`` are drawn, later ones shown as not yet filled. ``None``: no map.
        cursor: the map row marked as current (default ``step``).
        length: episode length T for the header (``step t/T-1``).
        action, reward: shown in the header when given.
        title: text at the start of the header (e.g. core and env id).
        weight_label: short name of the weight in the cell labels (``"w"``, MNM ``"sim"``).
        map_max: the weight drawn at full brightness; pass the episode's maximum so the
            brightness scale stays fixed over the episode (default: ``map_scale`` of the
            rows drawn).
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

    # The map is laid out only with recall and a map; its scale is fixed once for the
    # pixels and the legend.
    matrix = None if layout.map_xy is None else np.asarray(recall_map, dtype=np.float64)
    scale = 1.0
    if matrix is not None:
        scale = map_scale(matrix[: cursor + 1]) if map_max is None else map_max
        map_pixels = recall_map_image(matrix, layout.map_size, cursor + 1, scale)
        _paste(canvas, map_pixels, *layout.map_xy)
    if has_recall:
        thumbnails = _thumbnails(recalled_frames, sources_rk, layout.thumb_hw)
        for (head, rank), picture in thumbnails.items():
            x, y = _cell_xy(layout, head, rank)
            _paste(canvas, picture, x, y)

    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    font = label_font()
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
    if matrix is not None:
        _draw_map_labels(draw, layout, matrix.shape[1], cursor, scale)
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
    font = label_font()
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
    n_steps: int,
    cursor: int,
    map_max: float,
) -> None:
    assert layout.map_xy is not None
    font = label_font()
    mx, my = layout.map_xy
    size = layout.map_size
    draw.text((PAD, my - LINE - 1), "recall map", fill=MUTED_TEXT, font=font)
    draw.rectangle((mx - 1, my - 1, mx + size, my + size), outline=MAP_BORDER)
    last = str(max(n_steps - 1, 0))
    draw.text((mx - _text_width("0") - 3, my - 2), "0", fill=MUTED_TEXT, font=font)
    draw.text((mx - _text_width(last) - 3, my + size - LINE + 2), last, fill=MUTED_TEXT, font=font)
    draw.text((mx, my + size + 2), "0", fill=MUTED_TEXT, font=font)
    draw.text((mx + size - _text_width(last), my + size + 2), last, fill=MUTED_TEXT, font=font)
    draw.text((mx + size // 2 - 30, my + size + 2), "past step", fill=MUTED_TEXT, font=font)
    if n_steps > 0 and 0 <= cursor < n_steps:
        _, y1 = step_pixel_rows(cursor, n_steps, size)
        line_y = my + min(y1, size - 1)
        draw.line((mx - 4, line_y, mx + size + 3, line_y), fill=CURSOR, width=1)
        draw.polygon([(mx - 7, line_y - 3), (mx - 7, line_y + 3), (mx - 2, line_y)], fill=CURSOR)
    legend = [
        "row = step (0 at top)",
        "column = past step recalled",
        f"brightness = read weight / {map_max:.2f}",
        "orange line = current step",
    ]
    lx = mx + size + 2 * PAD
    for i, line in enumerate(legend):
        draw.text((lx, my + i * LINE), line, fill=CURSOR if i == 3 else MUTED_TEXT, font=font)


def step_card(step: int, height: int = 96, width: int = 128) -> np.ndarray:
    """``[height, width, 3] uint8``: the stand-in drawn for a step whose frame was not kept."""
    image = Image.new("RGB", (width, height), EMPTY_CELL)
    draw = ImageDraw.Draw(image)
    draw.text((PAD, PAD), f"step {step}", fill=TEXT, font=label_font())
    draw.text((PAD, PAD + LINE), "no frame kept", fill=MUTED_TEXT, font=label_font())
    return np.asarray(image)


def thumbnail(frame: np.ndarray, thumb_box: tuple[int, int] = (64, 96)) -> np.ndarray:
    """``frame`` resized to fit the ``(height, width)`` box, aspect kept, as ``[h, w, 3] uint8``
    (the size :func:`compose_step` draws the recalled frames of a frame of that shape at)."""
    frame = as_rgb(frame)
    return _resize(frame, *_fit(frame.shape[0], frame.shape[1], *thumb_box))


def pad_frame(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """``frame`` at the top left of a ``[height, width, 3]`` canvas of the background colour
    (``height`` and ``width`` at least the frame's)."""
    if frame.shape[:2] == (height, width):
        return frame
    canvas = np.empty((height, width, 3), dtype=np.uint8)
    canvas[:] = BACKGROUND
    _paste(canvas, frame, 0, 0)
    return canvas

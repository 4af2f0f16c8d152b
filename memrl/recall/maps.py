"""The recall map of an episode: which past steps each step read, and how it is drawn.

The recall map M [T, T] of an episode is M[t, t'] = sum over heads r and ranks k of
read_weights[t, r, k] where source_steps[t, r, k] == t'. Its brightness is M / scale, the
scale being the map's largest entry (:func:`map_scale`; negative values, e.g. MNM cosine
similarities, are drawn black).

Both replay writers (the GIF/MP4 frames of ``memrl.recall.drawing`` and the HTML page of
``memrl.recall.html``) take the map, its scale and the drawable source steps from here, so
a frame and a page of the same record show the same numbers. Pure numpy, no drawing library.
"""

from __future__ import annotations

import numpy as np

from memrl.checks import check_int
from memrl.recall.records import EpisodeRecord

__all__ = [
    "MAP_HOT",
    "MAP_UNFILLED",
    "map_scale",
    "recall_map",
    "recall_map_image",
    "recalled_steps",
    "step_pixel_rows",
]

MAP_UNFILLED = (34, 38, 56)  # rows of steps not played yet
# The map's brightest colour: a warm white, so it reads as "weight" next to the cursor's orange.
MAP_HOT = np.array([255.0, 244.0, 200.0])


def recalled_steps(record: EpisodeRecord) -> np.ndarray:
    """The record's source steps with everything outside ``[0, T)`` set to -1.

    Returns ``[T, R, K]`` integers: the step whose frame each top-k read shows, -1 where
    there is nothing to show (an unwritten slot, padding, or a step the record lacks).
    """
    sources = np.asarray(record.source_steps)
    return np.where((sources >= 0) & (sources < record.length), sources, -1)


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
    sources = recalled_steps(record).reshape(length, -1)
    weights = np.asarray(record.read_weights, dtype=np.float32).reshape(length, -1)
    steps = np.broadcast_to(np.arange(length)[:, None], sources.shape)
    valid = sources >= 0
    np.add.at(matrix, (steps[valid], sources[valid]), weights[valid])
    return matrix


def map_scale(matrix: np.ndarray) -> float:
    """The weight drawn at full brightness: the largest entry of ``matrix`` (any shape),
    or 1 when it has no positive entry (an empty or all-zero map stays dark)."""
    values = np.asarray(matrix, dtype=np.float64)
    largest = float(values.max()) if values.size else 0.0
    return largest if largest > 0 else 1.0


def _bin_starts(n_values: int, n_pixels: int) -> np.ndarray:
    """First value index covered by each pixel when n_values are drawn over n_pixels."""
    return (np.arange(n_pixels) * n_values) // n_pixels


def _pool_max(values: np.ndarray, size: int) -> np.ndarray:
    """Resample a [T, T] matrix to [size, size]: nearest when enlarging, max when shrinking."""
    starts = _bin_starts(values.shape[0], size)
    rows = np.maximum.reduceat(values, starts, axis=0)
    starts = _bin_starts(values.shape[1], size)
    return np.maximum.reduceat(rows, starts, axis=1)


def step_pixel_rows(step: int, n_steps: int, size: int) -> tuple[int, int]:
    """Pixel rows ``[y0, y1)`` showing ``step`` in a map of ``size`` pixels over ``n_steps``."""
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
        map_max: the weight drawn at full brightness. Default: :func:`map_scale` of the
            filled rows.

    Returns:
        ``[S, S, 3] uint8``.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] > matrix.shape[1]:
        raise ValueError(
            f"recall map must be [T_rows, T] with T_rows <= T, got shape {matrix.shape}"
        )
    size = check_int("size", size, minimum=1)
    n_steps = matrix.shape[1]
    if n_steps == 0:
        return np.full((size, size, 3), MAP_UNFILLED, dtype=np.uint8)
    n_filled = matrix.shape[0] if filled_rows is None else min(filled_rows, matrix.shape[0])
    n_filled = max(n_filled, 0)
    known = np.zeros((n_steps, n_steps))
    known[:n_filled] = matrix[:n_filled]
    if map_max is None:
        map_max = map_scale(known)
    brightness = np.clip(_pool_max(known, size) / max(map_max, 1e-12), 0.0, 1.0)
    image = brightness[..., None] * MAP_HOT
    row_filled = _bin_starts(n_steps, size) < n_filled
    image[~row_filled] = MAP_UNFILLED
    return np.round(image).astype(np.uint8)

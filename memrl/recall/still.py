"""A still image of one episode's memory: the recall map and MNM's write similarities.

``write_png`` draws the first record as one PNG (``memrl replay ... --out FILE.png``)::

    +------------------------------------------------------------------------+
    | title: core, env, return                                               |
    |        recall map          write keys            target values        |
    | labels [S x S]      labels [S x S]        labels [S x S]               |
    |        labels              labels                labels                |
    | legend                                                                 |
    +------------------------------------------------------------------------+

Panels: the recall map (``memrl.recall.maps``) when the record has recall, and the two
causal similarity matrices of ``memrl.recall.similarity`` when it keeps MNM's writes. Every
panel is ``S = T * cell`` pixels square, ``cell = ceil(PANEL_SIZE / T)`` pixels a step, with
a gutter of ``GUTTER`` pixels on its left (row labels) and below (column labels, turned a
quarter): the record's labels (StoryQA's words) or the step numbers, thinned to one every
``ceil(LINE / cell)`` steps. The size depends only on T and on which panels there are.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from memrl.atomic import atomic_path
from memrl.recall.drawing import BACKGROUND, LINE, MUTED_TEXT, TEXT, label_font
from memrl.recall.episodes import as_record_list, episode_title
from memrl.recall.maps import map_scale, recall_map, recall_map_image
from memrl.recall.records import EpisodeRecord
from memrl.recall.similarity import has_write_similarity, similarity_image, write_similarity

__all__ = ["GUTTER", "PAD", "PANEL_SIZE", "still_image", "write_png"]

PANEL_SIZE = 360  # a panel is at least this many pixels square
GUTTER = 80  # room for a label of about 12 characters beside and below a panel
PAD = 8
LEGEND = (
    "row = step (0 at top), column = earlier step.  Similarity of the writes: warm = 1, "
    "dark = 0, blue = -1, grey = no earlier step."
)


def _panels(record: EpisodeRecord) -> list[tuple[str, np.ndarray]]:
    """``(caption, [S, S, 3] pixels)`` of each panel the record has."""
    length = record.length
    size = length * -(-PANEL_SIZE // length)
    panels = []
    if record.has_recall:
        matrix = recall_map(record)
        scale = map_scale(matrix)
        caption = f"recall map (brightness = read weight / {scale:.2f})"
        panels.append((caption, recall_map_image(matrix, size, map_max=scale)))
    if has_write_similarity(record):
        keys, values = write_similarity(record)
        panels.append(("write keys: cosine similarity", similarity_image(keys, size)))
        panels.append(("target values: cosine similarity", similarity_image(values, size)))
    return panels


def _fitted(text: str, width: int) -> str:
    """``text``, cut with ".." to at most ``width`` pixels."""
    font = label_font()
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "..") > width:
        text = text[:-1]
    return text + ".."


def _axis_labels(image: Image.Image, record: EpisodeRecord, x: int, y: int, size: int) -> None:
    """Row labels left of the panel at ``(x, y)`` and turned column labels below it."""
    draw = ImageDraw.Draw(image)
    font = label_font()
    length = record.length
    cell = size // length
    every = -(-LINE // cell)
    for step in range(0, length, every):
        text = _fitted(
            str(record.labels[step]) if record.labels is not None else str(step), GUTTER - PAD
        )
        centre = step * cell + cell // 2
        width = int(np.ceil(font.getlength(text)))
        draw.text((x - PAD // 2 - width, y + centre - LINE // 2), text, fill=MUTED_TEXT, font=font)
        # The column label: drawn on its own strip, turned to read upwards.
        strip = Image.new("RGB", (max(width, 1), LINE), BACKGROUND)
        ImageDraw.Draw(strip).text((0, 0), text, fill=MUTED_TEXT, font=font)
        turned = strip.rotate(90, expand=True)  # reads upwards, its end at the axis
        image.paste(turned, (x + centre - LINE // 2, y + size + PAD // 2))


def still_image(record: EpisodeRecord) -> np.ndarray:
    """Draw the still image of one record (see the module docstring).

    Returns:
        ``[H, W, 3] uint8`` with ``W = PAD + n * (GUTTER + S + PAD)`` and
        ``H = 2 * LINE + 3 * PAD + S + GUTTER + LINE``, n the number of panels (1 to 3).

    Raises:
        ValueError: the record breaks the schema, or has neither recall nor MNM writes
            (an LSTM/GRU record: nothing to draw).
    """
    (record,) = as_record_list(record)
    panels = _panels(record)
    if not panels:
        raise ValueError(
            f"nothing to draw in a still image: the {record.metadata.get('core') or ''} record "
            "has no recall (no addressable memory) and no MNM writes"
        )
    size = panels[0][1].shape[0]
    width = PAD + len(panels) * (GUTTER + size + PAD)
    top = 2 * LINE + 2 * PAD  # the title and the panel captions
    height = top + size + GUTTER + PAD + LINE
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = label_font()
    draw.text((PAD, PAD), episode_title(record), fill=TEXT, font=font)
    for index, (caption, pixels) in enumerate(panels):
        x = PAD + index * (GUTTER + size + PAD) + GUTTER
        image.paste(Image.fromarray(pixels), (x, top))
        draw.text((x, top - LINE - 1), _fitted(caption, size + GUTTER), fill=TEXT, font=font)
        _axis_labels(image, record, x, top, size)
    draw.text(
        (PAD, height - LINE - PAD // 2),
        _fitted(LEGEND, width - 2 * PAD),
        fill=MUTED_TEXT,
        font=font,
    )
    return np.asarray(image)


def write_png(
    records: EpisodeRecord | Sequence[EpisodeRecord], path: str | os.PathLike[str]
) -> Path:
    """Write the still image of the first record (see :func:`still_image`) as a PNG,
    atomically. Returns the path."""
    image = Image.fromarray(still_image(as_record_list(records)[0]))
    with atomic_path(path) as temporary:
        image.save(temporary, format="PNG", optimize=True)
    return Path(path)

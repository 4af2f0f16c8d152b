"""MNM's write similarities in the replays: the still PNG (``write_replay`` to ``.png``) and
the matrices embedded in the HTML page."""

from __future__ import annotations

import base64
import io
import json
import math
import re

import numpy as np
import pytest
from mnm_records import WORDS, mnm_record, random_writes
from PIL import Image

from memrl.recall import write_replay
from memrl.recall.drawing import LINE
from memrl.recall.html import MAP_DISPLAY_SIZE, replay_html
from memrl.recall.maps import map_scale, recall_map, recall_map_image
from memrl.recall.similarity import similarity_image, write_similarity
from memrl.recall.still import GUTTER, PAD, PANEL_SIZE, still_image


def story_record(length: int = len(WORDS), labels: bool = True, writes: bool = True):
    """The story's MNM record: step t recalls step t // 2 with similarity 0.9; random writes."""
    return mnm_record(
        length,
        random_writes(length, seed=3) if writes else None,
        WORDS[:length] if labels else None,
    )


def panel_origin(index: int, size: int) -> tuple[int, int]:
    """Top-left pixel of panel ``index`` of a still image (the layout of memrl.recall.still)."""
    return PAD + index * (GUTTER + size + PAD) + GUTTER, 2 * LINE + 2 * PAD


@pytest.mark.parametrize("labels", [True, False])
def test_still_png_has_the_three_panels_at_the_expected_size(tmp_path, labels):
    record = story_record(labels=labels)
    path = write_replay(record, tmp_path / "still.PNG")  # suffix in any case
    image = np.asarray(Image.open(path).convert("RGB"))
    length = record.length
    size = length * math.ceil(PANEL_SIZE / length)
    assert image.shape == (3 * LINE + 3 * PAD + size + GUTTER, PAD + 3 * (GUTTER + size + PAD), 3)
    matrix = recall_map(record)
    keys, values = write_similarity(record)
    panels = [
        recall_map_image(matrix, size, map_max=map_scale(matrix)),
        similarity_image(keys, size),
        similarity_image(values, size),
    ]
    for index, expected in enumerate(panels):
        x, y = panel_origin(index, size)
        np.testing.assert_array_equal(image[y : y + size, x : x + size], expected)
    # Row labels are drawn in the gutter left of each panel, column labels below it.
    x, y = panel_origin(1, size)
    background = image[-1, -1]
    assert (image[y : y + size, x - GUTTER + 2 : x - 2] != background).any()
    assert (image[y + size + 2 : y + size + GUTTER - 2, x : x + size] != background).any()


def test_still_png_without_writes_is_the_recall_map_alone_and_without_recall_refused(tmp_path):
    record = story_record(labels=False, writes=False)
    size = record.length * math.ceil(PANEL_SIZE / record.length)
    assert still_image(record).shape[1] == PAD + GUTTER + size + PAD
    empty = story_record(labels=False, writes=False)
    for name in ("read_slots", "source_steps"):
        setattr(empty, name, np.zeros((empty.length, 0, 0), dtype=np.int32))
    empty.read_weights = np.zeros((empty.length, 0, 0), dtype=np.float32)
    with pytest.raises(ValueError, match="nothing to draw"):
        write_replay(empty, tmp_path / "lstm.png")
    assert not (tmp_path / "lstm.png").exists()


def decode_png(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    data = base64.b64decode(uri.removeprefix("data:image/png;base64,"))
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def page_payload(page: str) -> dict:
    found = re.search(r'<script id="replay-data" type="application/json">(.*?)</script>', page)
    assert found
    return json.loads(found.group(1))


def test_html_page_embeds_both_matrices_and_the_labels():
    record = story_record()
    payload = page_payload(replay_html([record, story_record(labels=False, writes=False)]))
    episode, plain = payload["episodes"]
    keys, values = write_similarity(record)
    length = record.length
    pixels = length * math.ceil(MAP_DISPLAY_SIZE / length)
    np.testing.assert_array_equal(
        decode_png(episode["similarity"]["keys"]), similarity_image(keys, pixels)
    )
    np.testing.assert_array_equal(
        decode_png(episode["similarity"]["values"]), similarity_image(values, pixels)
    )
    assert episode["labels"] == WORDS
    assert "similarity" not in plain and plain["labels"] is None

"""Replay rendering: the recall overlay (pure function of arrays), the recall map, and the
GIF / MP4 / HTML writers, checked on hand-made episode records (no env, no display)."""

from __future__ import annotations

import json
import re
import sys

import imageio.v2 as imageio_v2
import numpy as np
import pytest
from PIL import Image

from memrl.recall.drawing import CURSOR, compose_step
from memrl.recall.episodes import episode_frames
from memrl.recall.html import replay_html, write_html
from memrl.recall.maps import recall_map, recall_map_image
from memrl.recall.records import EpisodeRecord
from memrl.recall.render import write_gif, write_mp4, write_replay

FRAME_H, FRAME_W = 20, 30


def step_colour(step: int) -> tuple[int, int, int]:
    """A colour per step (up to 30 steps) that the overlay's greys and orange never use."""
    return (200, 10 + 8 * step, 250 - 7 * step)


def solid_frames(length: int) -> np.ndarray:
    frames = np.empty((length, FRAME_H, FRAME_W, 3), dtype=np.uint8)
    for step in range(length):
        frames[step] = step_colour(step)
    return frames


def make_record(
    length: int = 6, heads: int = 2, top_k: int = 3, frames: bool = True, seed: int = 0
) -> EpisodeRecord:
    """Head r, rank k of step t reads source step t - 1 - k - r (or -1 before step 0)."""
    rng = np.random.default_rng(seed)
    steps = np.arange(length).reshape(-1, 1, 1)
    offsets = 1 + np.arange(top_k).reshape(1, 1, -1) + np.arange(heads).reshape(1, -1, 1)
    sources = (steps - offsets).astype(np.int32)
    sources[sources < 0] = -1
    weights = np.where(sources >= 0, rng.uniform(0.1, 1.0, sources.shape), 0.0)
    return EpisodeRecord(
        actions=rng.integers(0, 4, size=length),
        rewards=rng.normal(size=length).astype(np.float32),
        read_slots=np.where(sources >= 0, sources % 4, -1).astype(np.int32),
        read_weights=weights.astype(np.float32),
        source_steps=sources,
        write_slots=np.zeros((length, 1), dtype=np.int32),
        slots_in_use=np.full(length, np.nan, dtype=np.float32),
        frames=solid_frames(length) if frames else None,
        metadata={"core": "dnc", "env_id": "memrl/TMaze-v0", "recall_kind": "slots"},
    )


def no_recall_record(length: int = 5) -> EpisodeRecord:
    return EpisodeRecord(
        actions=np.zeros(length, dtype=np.int64),
        rewards=np.zeros(length, dtype=np.float32),
        read_slots=np.zeros((length, 0, 0), dtype=np.int32),
        read_weights=np.zeros((length, 0, 0), dtype=np.float32),
        source_steps=np.zeros((length, 0, 0), dtype=np.int32),
        write_slots=np.zeros((length, 0), dtype=np.int32),
        slots_in_use=np.full(length, np.nan, dtype=np.float32),
        frames=solid_frames(length),
        metadata={"core": "lstm", "recall_kind": "none"},
    )


def colour_box(image: np.ndarray, colour: tuple[int, int, int]) -> tuple[int, int, int, int] | None:
    """(y0, x0, y1, x1) bounding box of the pixels of exactly that colour, None if absent."""
    ys, xs = np.nonzero((image == np.array(colour, dtype=np.uint8)).all(axis=-1))
    if ys.size == 0:
        return None
    return int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1


def compose_record_step(record: EpisodeRecord, step: int, **kwargs) -> np.ndarray:
    sources = record.source_steps[step]
    recalled = [[record.frames[s] if s >= 0 else None for s in head] for head in sources]
    return compose_step(
        record.frames[step],
        recalled,
        record.read_weights[step],
        sources,
        step,
        recall_map(record),
        **kwargs,
    )


# --------------------------------------------------------------------------- compose_step


def test_compose_step_is_a_larger_uint8_frame_of_constant_size() -> None:
    record = make_record(length=6)
    first = compose_record_step(record, 0)
    last = compose_record_step(record, 5)
    assert first.dtype == np.uint8 and first.ndim == 3 and first.shape[2] == 3
    assert first.shape[0] > FRAME_H and first.shape[1] > FRAME_W
    assert first.shape == last.shape
    np.testing.assert_array_equal(compose_record_step(record, 5), last)  # deterministic
    assert not np.array_equal(first, last)


def test_current_frame_is_shown_enlarged() -> None:
    record = make_record(length=6)
    image = compose_record_step(record, 1)
    # 20 x 30 frames are enlarged by the whole factor 160 // 30 = 5.
    y0, x0, y1, x1 = colour_box(image, step_colour(1))
    assert (y1 - y0, x1 - x0) == (5 * FRAME_H, 5 * FRAME_W)


def test_thumbnails_are_the_source_frames_one_row_per_head_in_rank_order() -> None:
    record = make_record(length=6, heads=2, top_k=3)
    step = 5  # head r, rank k reads step 4 - k - r: head 0 -> 4, 3, 2; head 1 -> 3, 2, 1
    image = compose_record_step(record, step)
    frame_box = colour_box(image, step_colour(step))
    head0_rank0 = colour_box(image, step_colour(4))  # step 4: only head 0, rank 0
    head1_rank2 = colour_box(image, step_colour(1))  # step 1: only head 1, rank 2
    # 20 x 30 frames fit the default 64 x 96 thumbnail box exactly (scale 3.2).
    assert (head0_rank0[2] - head0_rank0[0], head0_rank0[3] - head0_rank0[1]) == (64, 96)
    assert (head1_rank2[2] - head1_rank2[0], head1_rank2[3] - head1_rank2[1]) == (64, 96)
    assert head0_rank0[1] > frame_box[3]  # beside the current frame, to its right
    assert head1_rank2[0] > head0_rank0[2]  # head 1's row is below head 0's
    assert head1_rank2[1] > head0_rank0[3]  # rank 2 is right of rank 0
    # Steps 3 and 2 are recalled by both heads: two whole thumbnails each.
    for source in (3, 2):
        mask = (image == np.array(step_colour(source), dtype=np.uint8)).all(axis=-1)
        assert mask.sum() == 2 * 64 * 96
    # Step 0 is not recalled at step 5, so its frame is nowhere in the image.
    assert colour_box(image, step_colour(0)) is None


def test_minus_one_sources_draw_empty_cells_even_with_array_input() -> None:
    recalled = np.zeros((1, 3, FRAME_H, FRAME_W, 3), dtype=np.uint8)
    recalled[0, 0] = step_colour(2)
    recalled[0, 1] = step_colour(7)  # source -1 below: must not be drawn
    recalled[0, 2] = step_colour(8)
    image = compose_step(
        solid_frames(10)[3],
        recalled,
        np.array([[0.7, 0.0, -0.2]]),
        np.array([[2, -1, -1]]),
        step=3,
        recall_map=np.zeros((10, 10), dtype=np.float32),
    )
    assert colour_box(image, step_colour(2)) is not None
    assert colour_box(image, step_colour(7)) is None
    assert colour_box(image, step_colour(8)) is None


def test_compose_step_without_recall_shows_frame_and_a_note() -> None:
    frame = solid_frames(3)[2]
    image = compose_step(frame, None, None, None, step=2, recall_map=None, length=3)
    assert image.shape[0] > FRAME_H and image.shape[1] > FRAME_W
    _, _, y1, x1 = colour_box(image, step_colour(2))
    note_area = image[y1 - 5 * FRAME_H : y1, x1 + 4 :]
    # The note is text: its pixels differ from the background there.
    assert len(np.unique(note_area.reshape(-1, 3), axis=0)) > 1
    with_recall = compose_record_step(make_record(length=3), 2)
    assert with_recall.shape[0] > image.shape[0]  # the recall map sits below


def test_compose_step_rejects_mismatched_weights_and_sources() -> None:
    with pytest.raises(ValueError, match=r"\[R, K\]"):
        compose_step(
            solid_frames(1)[0], [[None]], np.ones((1, 2)), np.ones((2, 1)), 0, np.zeros((1, 1))
        )


def test_cursor_moves_down_the_map_with_the_step() -> None:
    record = make_record(length=8)
    cursor_rows = []
    for step in (1, 4, 7):
        image = compose_record_step(record, step)
        orange_per_row = (image == np.array(CURSOR, dtype=np.uint8)).all(axis=-1).sum(axis=1)
        assert orange_per_row.max() > 100  # a line across the map
        cursor_rows.append(int(orange_per_row.argmax()))
    assert cursor_rows[0] < cursor_rows[1] < cursor_rows[2]


# --------------------------------------------------------------------------- recall map


def test_recall_map_equals_hand_computed_matrix() -> None:
    # T = 4 steps, R = 2 heads, K = 2 reads each.
    sources = np.array(
        [
            [[-1, -1], [-1, -1]],
            [[0, -1], [0, -1]],
            [[1, 0], [0, -1]],
            [[2, 0], [1, 2]],
        ],
        dtype=np.int32,
    )
    weights = np.array(
        [
            [[0.0, 0.0], [0.0, 0.0]],
            [[0.9, 0.0], [0.5, 0.0]],
            [[0.6, 0.3], [0.8, 0.0]],
            [[0.4, 0.2], [0.7, 0.1]],
        ],
        dtype=np.float32,
    )
    record = make_record(length=4, heads=2, top_k=2)
    record.source_steps = sources
    record.read_weights = weights
    expected = np.array(
        [
            [0.0, 0.0, 0.0, 0.0],
            [0.9 + 0.5, 0.0, 0.0, 0.0],
            [0.3 + 0.8, 0.6, 0.0, 0.0],
            [0.2, 0.7, 0.4 + 0.1, 0.0],
        ],
        dtype=np.float32,
    )
    matrix = recall_map(record)
    assert matrix.dtype == np.float32 and matrix.shape == (4, 4)
    np.testing.assert_allclose(matrix, expected, rtol=1e-6)


def test_recall_map_of_a_record_without_recall_is_zero() -> None:
    np.testing.assert_array_equal(recall_map(no_recall_record(5)), np.zeros((5, 5)))


def test_recall_map_image_fills_rows_so_far_and_keeps_peaks_when_shrinking() -> None:
    matrix = np.zeros((300, 300))
    matrix[250, 17] = 2.0  # one bright read late in a long episode
    image = recall_map_image(matrix, size=100)
    assert image.shape == (100, 100, 3) and image.dtype == np.uint8
    # 300 steps over 100 pixels: step 250 -> pixel row 83, step 17 -> column 5; max-pooled.
    assert image[83, 5].min() > 150
    assert image.sum() == image[83, 5].sum()
    partial = recall_map_image(matrix, size=100, filled_rows=200)
    assert partial[83, 5].max() < 100  # row 250 is not filled yet: "not yet" colour
    np.testing.assert_array_equal(partial[90], partial[99])


# --------------------------------------------------------------------------- whole episodes


def test_episode_frames_one_per_step_all_one_size() -> None:
    record = make_record(length=7)
    frames = episode_frames(record)
    assert len(frames) == 7
    assert len({frame.shape for frame in frames}) == 1


def test_record_without_frames_is_drawn_with_a_card_per_step(tmp_path) -> None:
    record = make_record(length=6, frames=False)
    frames = episode_frames(record)
    assert len(frames) == 6
    assert len({frame.shape for frame in frames}) == 1
    # The recall panel is there: the composed frame is larger than the card alone.
    assert frames[0].shape[0] > 96 and frames[0].shape[1] > 128
    assert not np.array_equal(frames[1], frames[2])  # each card names its step
    for suffix in (".gif", ".html"):
        assert write_replay(record, tmp_path / f"replay{suffix}").is_file()


def test_record_with_frames_not_one_per_step_is_a_clear_error(tmp_path) -> None:
    record = make_record(length=6)
    record.frames = record.frames[:4]
    with pytest.raises(ValueError, match="T = 6 steps"):
        episode_frames(record)
    for suffix in (".gif", ".mp4", ".html"):
        with pytest.raises(ValueError, match="T = 6 steps"):
            write_replay(record, tmp_path / f"replay{suffix}")
    assert list(tmp_path.iterdir()) == []


def test_gif_has_one_frame_per_step_larger_than_the_env_frame(tmp_path) -> None:
    record = make_record(length=9)
    path = write_gif(record, tmp_path / "replay.gif", fps=5)
    with Image.open(path) as gif:
        assert gif.n_frames == 9
        assert gif.size[0] > FRAME_W and gif.size[1] > FRAME_H
        assert gif.info["duration"] == 200


def test_gif_of_several_records_concatenates_them(tmp_path) -> None:
    records = [make_record(length=4), make_record(length=6, seed=1), no_recall_record(3)]
    path = write_replay(records, tmp_path / "replay.GIF")
    with Image.open(path) as gif:
        assert gif.n_frames == 4 + 6 + 3


def test_mp4_has_one_frame_per_step(tmp_path) -> None:
    pytest.importorskip("imageio_ffmpeg", reason="MP4 needs imageio-ffmpeg")
    record = make_record(length=8)
    path = write_replay(record, tmp_path / "replay.mp4", fps=4)
    with imageio_v2.get_reader(path, format="FFMPEG") as reader:
        frames = [frame for frame in reader.iter_data()]  # list() asks len(): inf here
    assert len(frames) == 8
    height, width = frames[0].shape[:2]
    assert height > FRAME_H and width > FRAME_W and height % 16 == 0 and width % 16 == 0


def test_mp4_without_imageio_ffmpeg_says_how_to_install_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # makes the import fail
    with pytest.raises(ImportError, match=r"pip install imageio-ffmpeg.*memrl\[video\]"):
        write_mp4(make_record(), tmp_path / "replay.mp4")
    assert list(tmp_path.iterdir()) == []


def test_unknown_suffix_is_a_value_error(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"\.gif, \.mp4, \.html"):
        write_replay(make_record(), tmp_path / "replay.avi")
    with pytest.raises(ValueError, match="fps"):
        write_gif(make_record(), tmp_path / "replay.gif", fps=0)


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch) -> None:
    target = tmp_path / "replay.gif"
    target.write_bytes(b"old")

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        write_gif(make_record(), target)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["replay.gif"]


# --------------------------------------------------------------------------- HTML page


def embedded_data(page: str) -> dict:
    match = re.search(r'<script id="replay-data" type="application/json">(.*?)</script>', page)
    assert match is not None
    return json.loads(match.group(1))


def test_html_is_self_contained_with_the_controls(tmp_path) -> None:
    record = make_record(length=6)
    path = write_html([record, no_recall_record(4)], tmp_path / "replay.html", fps=3)
    page = path.read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:)""", page)
    for element_id in ("step-slider", "step-label", "recall-panel", "play", "recall-map"):
        assert f'id="{element_id}"' in page
    data = embedded_data(page)
    assert data["fps"] == 3
    first, second = data["episodes"]
    assert first["length"] == 6 and len(first["frames"]) == 6
    assert all(uri.startswith("data:image/png;base64,") for uri in first["frames"])
    assert first["reads"][5][1][2] == [1, pytest.approx(record.read_weights[5, 1, 2], abs=1e-4), 1]
    assert first["reads"][0][0][0][0] == -1
    assert second["hasRecall"] is False and "reads" not in second


def test_html_escapes_script_breaking_text() -> None:
    record = make_record(length=2)
    record.metadata["env_id"] = "</script><b>x"
    page = replay_html(record)
    assert page.count("</script>") == 2  # the data block's and the program's own
    assert embedded_data(page)["episodes"][0]["title"].endswith("</script><b>x")


def test_html_of_a_thirty_step_episode_is_small(tmp_path) -> None:
    rng = np.random.default_rng(0)
    record = make_record(length=30, heads=1, top_k=5)
    # Grid-world-like frames: 112 x 330, a few flat colours and some noise.
    frames = np.full((30, 112, 330, 3), 220, dtype=np.uint8)
    frames[:, 40:70, ::30] = rng.integers(0, 255, size=(30, 30, 11, 3), dtype=np.uint8)
    record.frames = frames
    path = write_html(record, tmp_path / "replay.html")
    assert path.stat().st_size < 2_000_000


def test_html_rejects_bad_image_format() -> None:
    with pytest.raises(ValueError, match="png, jpeg"):
        replay_html(make_record(), image_format="webp")

"""Whole recorded episodes as replay frames: record checks, titles and one frame per step.

The record-level helpers both replay writers share (the GIF/MP4 writers of
``memrl.recall.render`` and the HTML page of ``memrl.recall.html``): which records to draw,
their titles and weight labels, the frames to show (a card per step for a record kept without
frames), and :func:`episode_frames`, every step of an episode composed by
``memrl.recall.drawing.compose_step``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from memrl.recall.drawing import compose_step, step_card, thumbnail
from memrl.recall.maps import map_scale, recall_map, recalled_steps
from memrl.recall.records import EpisodeRecord

__all__ = [
    "as_record_list",
    "episode_frames",
    "episode_title",
    "record_weight_label",
    "replay_frames_of",
]


def as_record_list(records: EpisodeRecord | Sequence[EpisodeRecord]) -> list[EpisodeRecord]:
    """One record or several, as a non-empty list of valid records.

    Every record is validated (``EpisodeRecord.validate``) before anything is drawn, so a bad
    record fails before minutes of drawing and no replay file is started.

    Raises:
        ValueError: no records, something that is not an ``EpisodeRecord``, or a record that
            breaks the schema (``RecordError``; e.g. frames that are not one per step).
    """
    items = [records] if isinstance(records, EpisodeRecord) else list(records)
    if not items:
        raise ValueError("no episode records to render: give at least one EpisodeRecord")
    for item in items:
        if not isinstance(item, EpisodeRecord):
            raise ValueError(f"expected EpisodeRecord objects, got {type(item).__name__}")
        item.validate()
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


def replay_frames_of(record: EpisodeRecord) -> np.ndarray:
    """The record's ``[T, H, W, 3] uint8`` frames to draw.

    A record kept without frames (as ``RecallCallback`` keeps them during training) gets a
    card per step naming the step, so its recall panel and map can still be replayed.

    Raises:
        RecordError: the record breaks the schema (e.g. frames not one per step).
    """
    record.validate()
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
    """Compose every step of a recorded episode (see ``memrl.recall.drawing.compose_step``).

    Args:
        record: an episode record; without frames each step is drawn as a card (see
            :func:`replay_frames_of`).
        title: header text (default: from the metadata, see :func:`episode_title`).
        map_size, thumb_box: as in ``compose_step``.

    Returns:
        T frames ``[H', W', 3] uint8``, all of one size.

    Raises:
        ValueError: the record breaks the schema (e.g. frames not one per step).
    """
    frames = replay_frames_of(record)
    length = record.length
    title = episode_title(record) if title is None else title
    matrix = recall_map(record) if record.has_recall else None
    # One scale for the whole episode, so a step's brightness means the same at every step.
    map_max = None if matrix is None else map_scale(matrix)
    sources = recalled_steps(record)
    weights = np.asarray(record.read_weights)
    actions = np.asarray(record.actions)
    thumbnails: dict[int, np.ndarray] = {}  # source step -> its thumbnail, made once

    def recalled(source: int) -> np.ndarray | None:
        if source < 0:
            return None
        if source not in thumbnails:
            thumbnails[source] = thumbnail(frames[source], thumb_box)
        return thumbnails[source]

    composed = []
    for step in range(length):
        panel = None
        if record.has_recall:
            panel = [[recalled(int(s)) for s in head] for head in sources[step]]
        composed.append(
            compose_step(
                frames[step],
                panel,
                weights[step] if record.has_recall else None,
                sources[step] if record.has_recall else None,
                step,
                matrix,
                cursor=step,
                length=length,
                action=actions[step],
                reward=float(record.rewards[step]),
                title=title,
                weight_label=record_weight_label(record),
                map_max=map_max,
                map_size=map_size,
                thumb_box=thumb_box,
            )
        )
    return composed

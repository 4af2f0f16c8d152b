"""Replay files: ``write_gif``, ``write_mp4`` and ``write_replay`` (format by suffix).

The writers on top of the replay layers: ``memrl.recall.episodes`` turns records into
composed frames (``memrl.recall.drawing`` draws one step, ``memrl.recall.maps`` computes the
recall map), and ``memrl.recall.html`` writes the HTML page. Every file is written through
``memrl.atomic``: a reader never sees half a replay, and a failed write leaves no temporary.
``write_replay`` also writes a still PNG of the first episode (``memrl.recall.still``).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from memrl.atomic import atomic_path
from memrl.checks import check_number
from memrl.recall.drawing import pad_frame
from memrl.recall.episodes import as_record_list, episode_frames, episode_title
from memrl.recall.html import write_html
from memrl.recall.records import EpisodeRecord
from memrl.recall.still import write_png

__all__ = ["REPLAY_SUFFIXES", "write_gif", "write_mp4", "write_replay"]


def _replay_frames(
    records: EpisodeRecord | Sequence[EpisodeRecord], multiple: int = 1
) -> list[np.ndarray]:
    """Composed frames of all records, one after the other, padded to one size (a multiple
    of ``multiple``)."""
    items = as_record_list(records)
    frames: list[np.ndarray] = []
    for index, item in enumerate(items):
        episode = index if len(items) > 1 else None
        frames += episode_frames(item, title=episode_title(item, episode))
    height = -(-max(f.shape[0] for f in frames) // multiple) * multiple
    width = -(-max(f.shape[1] for f in frames) // multiple) * multiple
    return [pad_frame(frame, height, width) for frame in frames]


def write_gif(
    records: EpisodeRecord | Sequence[EpisodeRecord],
    path: str | os.PathLike[str],
    fps: float = 4,
) -> Path:
    """Write the replay of one or several episodes as an animated GIF (looping).

    One GIF frame per step; several records are played one after the other. Written
    atomically. Returns the path.
    """
    fps = check_number("fps", fps, positive=True)
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
    fps = check_number("fps", fps, positive=True)
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


_WRITERS = {
    ".gif": write_gif,
    ".mp4": write_mp4,
    ".html": write_html,
    ".png": lambda records, path, fps: write_png(records, path),  # a still: no fps
}
REPLAY_SUFFIXES = tuple(_WRITERS)


def write_replay(
    records: EpisodeRecord | Sequence[EpisodeRecord],
    path: str | os.PathLike[str],
    fps: float = 4,
) -> Path:
    """Write a replay, choosing the format by the suffix (any case): ``.gif``, ``.mp4``,
    ``.html``, or ``.png`` (a still image of the first episode: its recall map and, for MNM,
    the write similarities; ``fps`` unused). Returns the path.

    Raises:
        ValueError: an unknown suffix, bad fps, or a record that breaks the schema.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in _WRITERS:
        raise ValueError(
            f"cannot write a replay to {str(path)!r}: unknown suffix {suffix!r}; "
            f"use one of {', '.join(REPLAY_SUFFIXES)}"
        )
    return _WRITERS[suffix](records, path, fps)

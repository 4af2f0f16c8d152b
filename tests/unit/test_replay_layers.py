"""The HTML page loads without the GIF/MP4 writers (the import graph itself is checked in
test_import_layers.py), and every replay file and episode record is created with the
umask's permissions."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import memrl.recall
from memrl.recall.html import write_html
from memrl.recall.records import EpisodeRecord
from memrl.recall.render import write_gif, write_mp4

RECALL_DIR = Path(memrl.recall.__file__).parent


def test_html_page_loads_without_the_video_writers() -> None:
    # The package's __init__ imports every writer, so load memrl.recall as a bare package.
    program = (
        "import sys, types\n"
        f"package = types.ModuleType('memrl.recall'); package.__path__ = [{str(RECALL_DIR)!r}]\n"
        "sys.modules['memrl.recall'] = package\n"
        "import memrl.recall.html\n"
        "print('memrl.recall.render' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def small_record(length: int = 3) -> EpisodeRecord:
    sources = np.arange(length).reshape(-1, 1, 1) - 1
    return EpisodeRecord(
        actions=np.zeros(length, dtype=np.int64),
        rewards=np.ones(length, dtype=np.float32),
        read_slots=np.maximum(sources, 0).astype(np.int32),
        read_weights=np.full((length, 1, 1), 0.5, dtype=np.float32),
        source_steps=sources.astype(np.int32),
        write_slots=np.zeros((length, 1), dtype=np.int32),
        slots_in_use=np.full(length, np.nan, dtype=np.float32),
        frames=np.full((length, 8, 8, 3), 100, dtype=np.uint8),
        metadata={"core": "dnc", "recall_kind": "slots"},
    )


@pytest.fixture(params=[0o022, 0o002], ids=["umask022", "umask002"])
def umask(request):
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def test_record_gif_and_html_get_the_umask_mode(tmp_path, umask) -> None:
    record = small_record()
    written = [
        record.save(tmp_path / "episode.npz"),
        write_gif(record, tmp_path / "replay.gif"),
        write_html(record, tmp_path / "replay.html"),
    ]
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path.name
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in sorted(written)]


def test_mp4_gets_the_umask_mode(tmp_path, umask) -> None:
    pytest.importorskip("imageio_ffmpeg", reason="MP4 needs imageio-ffmpeg")
    path = write_mp4(small_record(), tmp_path / "replay.mp4")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask

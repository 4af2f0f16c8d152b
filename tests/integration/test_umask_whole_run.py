"""Everything ``memrl train``, ``memrl replay`` and ``memrl eval`` write into a run directory,
TensorBoard's event files and the directories included, follows the umask.

umask 027 tells the writers apart: a file made by ``tempfile.mkstemp`` would be 0600 and one
with a fixed mode 0644, where the umask gives 0640 (and 0750 for directories).
"""

from __future__ import annotations

import os
import stat

from tiny_runs import TINY_MEMNET_OVERRIDES

from memrl.cli import main

UMASK = 0o027
TINY = TINY_MEMNET_OVERRIDES


def test_every_file_and_directory_of_a_run_follows_the_umask(tmp_path, capsys):
    run_dir = tmp_path / "run"
    previous = os.umask(UMASK)
    try:
        train = ["train", "--agent", "memnet", "--steps", "128", "--run-dir", str(run_dir)]
        assert main([*train, "--no-progress", "--set", *TINY]) == 0
        assert main(["replay", str(run_dir), "--out", str(run_dir / "replay.gif")]) == 0
        assert main(["eval", str(run_dir), "--episodes", "2"]) == 0
    finally:
        os.umask(previous)
    capsys.readouterr()
    paths = [run_dir, *run_dir.rglob("*")]
    names = {path.name for path in paths}
    assert {"model.zip", "checkpoint.zip", "replay.gif", "replay_episode0.npz"} <= names
    assert any(name.startswith("events.out.tfevents") for name in names), names
    assert any(path.parent.name == "recall" for path in paths), "no recall record"
    for path in paths:
        wanted = (0o777 if path.is_dir() else 0o666) & ~UMASK
        assert stat.S_IMODE(path.stat().st_mode) == wanted, (path, oct(path.stat().st_mode))

"""Every file of a run directory is written with the umask's permissions (0666 & ~umask),
like any other tool's files: config, checkpoint, progress, curve, model, evaluation and
recall records."""

from __future__ import annotations

import os
import stat

import pytest
from tiny_runs import TINY_MEMNET_OVERRIDES

from memrl.recall import RecallCallback
from memrl.run import make_run_config, train

TINY = TINY_MEMNET_OVERRIDES


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_run_directory_files_follow_the_umask(tmp_path, umask):
    config = make_run_config("memnet", "memrl/TMaze-v0", steps=128, overrides=TINY)
    run_dir = tmp_path / "run"
    previous = os.umask(umask)
    try:
        recall = RecallCallback(top_k=2, every=0, out_dir=run_dir / "recall")
        train(config, run_dir, callbacks=[recall], progress=False, log=None)
    finally:
        os.umask(previous)
    written = [p for p in run_dir.rglob("*") if p.is_file() and "tb" not in p.parts]
    names = {p.name for p in written}
    assert {"config.yaml", "checkpoint.zip", "progress.json", "curve.csv"} <= names
    assert {"model.zip", "eval.json"} <= names
    assert any(p.suffix == ".npz" for p in written), "no recall record was written"
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path

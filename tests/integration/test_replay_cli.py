"""`memrl replay` on a trained run and on a saved episode record, and `memrl train`'s recall."""

from __future__ import annotations

from PIL import Image

from memrl.cli import main
from memrl.recall import load_episode


def test_train_records_recall_and_replay_renders_run_and_record(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--steps",
                "1024",
                "--run-dir",
                str(run_dir),
                "--no-progress",
                "--set",
                "env.kwargs.corridor_length=2",
                "memory_kwargs.memory_slots=8",
                "n_envs=2",
                "batch_size=128",
            ]
        )
        == 0
    )
    assert list((run_dir / "recall").glob("*.npz")), "RecallCallback is on by default"

    assert main(["replay", str(run_dir), "--episodes", "1", "--top-k", "3"]) == 0
    gif = Image.open(run_dir / "replay.gif")
    record = load_episode(run_dir / "replay_episode0.npz")
    assert gif.n_frames == record.length
    assert gif.size[0] > record.frames.shape[2] and gif.size[1] >= record.frames.shape[1]

    assert (
        main(
            ["replay", str(run_dir / "replay_episode0.npz"), "--out", str(tmp_path / "again.html")]
        )
        == 0
    )
    page = (tmp_path / "again.html").read_text()
    assert "step-slider" in page and "http://" not in page

    # Training records keep no frames: replayed with a card per step and the recall panel.
    training_record = sorted((run_dir / "recall").glob("*.npz"))[0]
    assert main(["replay", str(training_record), "--out", str(tmp_path / "training.gif")]) == 0
    assert Image.open(tmp_path / "training.gif").n_frames == load_episode(training_record).length

    assert main(["replay", str(run_dir), "--out", str(tmp_path / "x.txt")]) == 2
    assert "unknown suffix" in capsys.readouterr().err


def test_replay_of_a_missing_run_is_a_clear_error(tmp_path, capsys):
    assert main(["replay", str(tmp_path / "nothing")]) == 2
    assert "nothing" in capsys.readouterr().err

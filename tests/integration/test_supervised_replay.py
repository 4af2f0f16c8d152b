"""`memrl replay` of a `memrl supervised` run: a tiny MNM trained on StoryQA records the
story's words and its writes, acts as its own full-sequence forward does, and replays as the
still image with the write similarities; an LSTM Copy run replays as a GIF; wrong inputs are
one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from memrl.cli import main
from memrl.envs import make
from memrl.recall import load_episode, still_image
from memrl.run import make_run_config
from memrl.run.files import write_config
from memrl.supervised import SupervisedConfig, load_model, record_episodes, train_supervised

TINY = dict(train_lengths=(2, 3), test_lengths=(2,), iterations=2, test_episodes=2)


@pytest.fixture(scope="module")
def story_run(tmp_path_factory):
    """A StoryQA MNM run trained for two batches."""
    run_dir = tmp_path_factory.mktemp("story") / "run"
    config = SupervisedConfig(
        "StoryQA",
        "mnm",
        core_kwargs=dict(controller_size=16, key_size=8),
        task_kwargs={"task": "single_fact"},
        **TINY,
    )
    train_supervised(config, run_dir, progress=False, log=None)
    return run_dir


def story(seed: int, sentences: int) -> tuple[list[str], np.ndarray, int]:
    """StoryQA's words and observations [T, F] with ``seed``, and the answer's index."""
    env = make("memrl/StoryQA-v0", task="single_fact", num_sentences=sentences)
    obs, info = env.reset(seed=seed)
    words, observations, answer = [info["words"]], [obs], info["answer_index"]
    for _ in range(info["num_words"] - 1):
        obs, _, _, _, info = env.step(0)
        words.append(info["words"])
        observations.append(obs)
    return words, np.stack(observations), answer


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("memrl replay: error: ") and err.count("\n") == 1, err
    return err


def test_story_record_has_the_words_writes_and_the_models_answers(story_run, tmp_path, capsys):
    config, model = load_model(story_run)
    (record,) = record_episodes(config, model, length=3, seed=5)
    words, observations, answer = story(5, sentences=3)
    assert record.labels.tolist() == words
    assert record.write_keys.shape == (len(words), 1, 8)
    assert record.write_values.shape[0] == len(words)
    assert record.metadata["source"] == "supervised" and record.metadata["core"] == "mnm"

    with torch.no_grad():
        logits = model(torch.as_tensor(observations).unsqueeze(1))  # [T, 1, 41]
    predicted = logits[:, 0].argmax(-1).numpy()
    assert record.actions[-1] == predicted[-1]  # the answer
    np.testing.assert_array_equal(record.actions, predicted)
    assert record.rewards.tolist() == [0.0] * (len(words) - 1) + [float(predicted[-1] == answer)]

    png = tmp_path / "story.png"
    argv = ["replay", str(story_run), "--out", str(png), "--length", "3", "--seed", "5"]
    assert main(argv) == 0
    assert str(png) in capsys.readouterr().out
    assert np.asarray(Image.open(png).convert("RGB")).shape == still_image(record).shape
    assert load_episode(tmp_path / "story_episode0.npz").labels.tolist() == words


def test_story_run_replays_at_its_longest_training_length_by_default(story_run):
    config, model = load_model(story_run)
    (record,) = record_episodes(config, model, seed=5)
    assert record.labels.tolist() == story(5, sentences=3)[0]
    assert record.metadata["task_length"] == 3


def test_lstm_copy_run_replays_as_gif_but_has_no_still(tmp_path, capsys):
    run_dir = tmp_path / "copy"
    config = SupervisedConfig("Copy", "lstm", core_kwargs={"hidden_size": 8}, **TINY)
    train_supervised(config, run_dir, progress=False, log=None)
    assert main(["replay", str(run_dir), "--episodes", "2"]) == 0
    records = [load_episode(run_dir / f"replay_episode{i}.npz") for i in range(2)]
    bits = load_model(run_dir)[1].readout.out_features
    assert records[0].metadata["recall_kind"] == "none"
    assert records[0].actions.shape == (records[0].length, bits)  # the predicted bits
    assert Image.open(run_dir / "replay.gif").n_frames == sum(r.length for r in records)
    capsys.readouterr()

    assert main(["replay", str(run_dir), "--out", str(tmp_path / "copy.png")]) == 2
    assert "no recall" in one_error_line(capsys)
    assert main(["replay", str(run_dir), "--length", "100000"]) == 2
    assert "length" in one_error_line(capsys)


def test_length_is_refused_for_an_rl_run(tmp_path, capsys):
    rl_run = tmp_path / "rl"
    write_config(rl_run, make_run_config("lstm", "memrl/TMaze-v0", steps=64))
    assert main(["replay", str(rl_run), "--length", "4"]) == 2
    assert "--length" in one_error_line(capsys)


def test_wrong_supervised_directories_are_one_line_errors(tmp_path, capsys):
    not_supervised = tmp_path / "other"
    not_supervised.mkdir()
    (not_supervised / "config.json").write_text(json.dumps({"learning": "rate"}))
    assert main(["replay", str(not_supervised)]) == 2
    assert "not the config of a memrl supervised run" in one_error_line(capsys)

    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    config = SupervisedConfig("Copy", "lstm", **TINY)
    (unfinished / "config.json").write_text(json.dumps(config.to_dict()))
    assert main(["replay", str(unfinished)]) == 2
    assert "model.pt: no trained model" in one_error_line(capsys)
    (unfinished / "model.pt").write_bytes(b"garbage")
    assert main(["replay", str(unfinished)]) == 2
    assert "model.pt: not a file memrl supervised wrote" in one_error_line(capsys)

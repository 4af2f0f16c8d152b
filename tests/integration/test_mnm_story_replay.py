"""An MNM agent on StoryQA: the record keeps the story's words, MNM's write keys and values,
and `memrl replay RECORD --out FILE.png` draws the still image (no training: an untrained
model's writes are enough to check the plumbing)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from memrl.cli import main
from memrl.envs import make, make_vec
from memrl.recall import RecallCallback, load_episode, record_episodes, still_image
from memrl.sb3 import MemoryPPO

STORY = "memrl/StoryQA-v0"


def story_words(seed: int) -> list[str]:
    """The words StoryQA shows with ``seed``, one per step, read from its infos."""
    env = make(STORY)
    _, info = env.reset(seed=seed)
    words = [info["words"]]
    for _ in range(info["num_words"] - 1):
        words.append(env.step(0)[4]["words"])
    return words


def tiny_mnm(n_envs: int = 1) -> MemoryPPO:
    return MemoryPPO(
        "MlpMemoryPolicy",
        make_vec(STORY, n_envs=n_envs, seed=0),
        n_steps=16,
        batch_size=16 * n_envs,
        n_epochs=1,
        seed=0,
        device="cpu",
        policy_kwargs=dict(memory="mnm", memory_kwargs=dict(controller_size=16, key_size=8)),
    )


def test_story_record_keeps_words_and_writes_and_replays_as_png(tmp_path, capsys):
    model = tiny_mnm()
    (record,) = record_episodes(model, STORY, n=1, seed=3)
    words = story_words(3)
    assert record.labels.tolist() == words
    assert record.write_keys.shape == (len(words), 1, 8)
    assert record.write_values.shape == (len(words), 1, 8)
    assert np.isfinite(record.write_values.astype(np.float32)).all()

    path = record.save(tmp_path / "story.npz")
    out = tmp_path / "story.png"
    assert main(["replay", str(path), "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    image = np.asarray(Image.open(out).convert("RGB"))
    assert image.shape == still_image(load_episode(path)).shape


def test_training_records_keep_the_words_of_their_story(tmp_path):
    callback = RecallCallback(top_k=2, every=0, out_dir=tmp_path, env_index=1)
    tiny_mnm(n_envs=2).learn(96, callback=callback)
    records = [load_episode(path) for path in callback.saved]
    assert records
    for record in records:
        words = record.labels.tolist()
        # a story: a name first, sentences ending with ".", then the question and "?"
        assert words[0][0].isupper() and words[-1] == "?" and "." in words
        assert "" not in words and record.write_keys.shape[0] == len(words)

"""Learning test of the recall record: the default agent, trained as `memrl train` trains it,
recalls the cue step when it turns at the T-maze junction.

Why this shows recall and not chance: in memrl/TMaze-v0 only step 0 shows the cue, the
junction is reached at step 11 and the MemNet core keeps the last 16 steps, one per slot, so
the record's source step of a read is exactly the step that was read. With 12 filled slots an
uninformed read spreads ~1/12 of the weight per slot; the test asks that step 0 gets the
largest weight, at least one half, at the turn of every one of 20 episodes.
"""

from __future__ import annotations

import pytest

from memrl.recall import record_episodes
from memrl.run import DEFAULT_AGENT, DEFAULT_ENV, load_model, make_run_config, train

pytestmark = pytest.mark.slow


def test_default_agent_recalls_the_cue_step_at_the_junction(tmp_path) -> None:
    assert (DEFAULT_AGENT, DEFAULT_ENV) == ("memnet", "memrl/TMaze-v0")
    config = make_run_config(device="cpu", overrides=["env.eval_episodes=20"])
    result = train(config, tmp_path / "run", progress=False, log=None)
    assert result.evaluation is not None and result.evaluation.mean_return >= 0.9

    model = load_model(config, tmp_path / "run" / "model.zip", device="cpu")
    records = record_episodes(model, DEFAULT_ENV, n=20, top_k=3, seed=1000)
    for record in records:
        assert record.metadata["episode_return"] > 0.5, "took the wrong arm"
        turn = record.length - 1  # the last action turns from the junction into an arm
        assert record.source_steps[turn, 0, 0] == 0, record.source_steps[turn, 0]
        assert record.read_weights[turn, 0, 0] >= 0.5, record.read_weights[turn, 0]

"""memory.trace_stats: the one definition of read statistics (PPO logs and the recorder)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from memrl.memory import (
    IN_USE_THRESHOLD,
    LSTMCore,
    Recall,
    core_trace,
    read_entropy,
    read_statistics,
    slots_in_use,
)
from memrl.recall import RecallRecorder


def test_read_entropy_and_slots_in_use():
    uniform, one_hot = torch.full((2, 3, 4), 0.25), torch.eye(4)[None]
    torch.testing.assert_close(read_entropy(uniform), torch.full((2, 3), math.log(4)))
    torch.testing.assert_close(read_entropy(one_hot), torch.zeros(1, 4))
    usage = torch.tensor([[0.0, IN_USE_THRESHOLD, 0.6, 1.0], [1.0, 1.0, 1.0, 1.0]])
    torch.testing.assert_close(slots_in_use(usage), torch.tensor([0.5, 1.0]))


def test_read_statistics_keys_follow_the_trace():
    assert read_statistics(None) == {}
    assert read_statistics(Recall()) == {}
    trace = Recall(
        read_weights=torch.full((2, 1, 4), 0.25),
        write_weights=torch.full((2, 1, 4), 0.25),
        usage=torch.tensor([[0.0, 1.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]]),
        write_strengths=torch.tensor([[0.2], [0.4]]),
    )
    stats = read_statistics(trace)
    assert set(stats) == {"read_entropy", "slots_in_use", "write_rate"}
    torch.testing.assert_close(stats["read_entropy"], torch.tensor(math.log(4)))
    torch.testing.assert_close(stats["slots_in_use"], torch.tensor(0.625))
    torch.testing.assert_close(stats["write_rate"], torch.tensor(0.3))


def test_core_trace_is_none_without_read_trace():
    assert core_trace(object(), state=None) is None
    core = LSTMCore(input_size=3, hidden_size=4)
    assert core_trace(core, core.initial_state(2)) == Recall()


def test_recorder_summary_uses_the_same_statistics():
    rng = np.random.default_rng(0)
    traces = []
    for _ in range(5):
        reads = torch.as_tensor(rng.dirichlet(np.ones(6), size=(1, 2)))  # [1, R=2, N=6]
        writes = torch.as_tensor(rng.dirichlet(np.ones(6), size=(1, 1)))
        usage = torch.as_tensor(rng.uniform(size=(1, 6)))
        traces.append(Recall(read_weights=reads, write_weights=writes, usage=usage))
    recorder = RecallRecorder(n_envs=1, top_k=2)
    records = []
    for t, trace in enumerate(traces):
        records += recorder.step(trace, [t == 0], dones=[t == len(traces) - 1])
    (record,) = records
    per_step = [read_statistics(trace) for trace in traces]
    assert record.metadata["recall_stats"]["read_entropy"] == pytest.approx(
        float(np.mean([s["read_entropy"] for s in per_step]))
    )
    np.testing.assert_allclose(
        record.slots_in_use, [float(s["slots_in_use"]) for s in per_step], rtol=1e-6
    )


def test_recorder_takes_none_traces():
    recorder = RecallRecorder(n_envs=2, top_k=3)
    records = []
    for t in range(3):
        records += recorder.step(None, [t == 0] * 2, rewards=[1.0, 2.0], dones=[t == 2] * 2)
    assert len(records) == 2
    for record in records:
        assert record.metadata["recall_kind"] == "none"
        assert record.read_slots.shape == (3, 0, 0) and record.write_slots.shape == (3, 0)
        assert record.metadata["recall_stats"]["mean_age"] is None
    assert records[1].metadata["episode_return"] == 6.0
    # an empty Recall is the same kind: no recall
    assert recorder.step(Recall(), [True, True], dones=[True, True])[0].length == 1

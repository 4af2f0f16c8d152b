"""What MNM writes: the write values in its trace, the recorder's write keys/values and labels,
and ``write_similarity`` against matrices computed here by hand and with numpy loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from mnm_records import mnm_record

from memrl.memory import MNM, reset_where
from memrl.memory.mnm import gradient_write, local_write, memory_forward
from memrl.recall import EpisodeRecord, RecallRecorder, RecordError, load_episode
from memrl.recall.similarity import write_similarity


def record_with_writes(write_keys, write_values, labels=None) -> EpisodeRecord:
    """A hand-built MNM record with the given writes ``[T, Wh, K]``, ``[T, Wh, V]`` as float32."""
    keys = np.asarray(write_keys, dtype=np.float32)
    values = np.asarray(write_values, dtype=np.float32)
    return mnm_record(len(keys), (keys, values), labels)


def test_write_similarity_of_a_hand_worked_record():
    # One write head, 2-d keys and values. By hand, row t against the earlier steps s < t:
    #   keys   k0 = (1, 0), k1 = (0, 2), k2 = (1, 1), k3 = (0, 0) (zero: similarity 0)
    #   values v0 = (1, 0), v1 = (-1, 0), v2 = (0, 3), v3 = (2, 0)
    keys = [[[1, 0]], [[0, 2]], [[1, 1]], [[0, 0]]]
    values = [[[1, 0]], [[-1, 0]], [[0, 3]], [[2, 0]]]
    key_similarity, value_similarity = write_similarity(record_with_writes(keys, values))
    r = 1 / math.sqrt(2)
    nan = np.nan
    np.testing.assert_allclose(
        key_similarity,
        [[nan, nan, nan, nan], [0, nan, nan, nan], [r, r, nan, nan], [0, 0, 0, nan]],
        atol=1e-7,
    )
    np.testing.assert_allclose(
        value_similarity,
        [[nan, nan, nan, nan], [-1, nan, nan, nan], [0, 0, nan, nan], [1, -1, 0, nan]],
        atol=1e-7,
    )
    assert key_similarity.dtype == value_similarity.dtype == np.float32


def test_write_similarity_matches_numpy_loops_over_heads():
    rng = np.random.default_rng(0)
    steps, heads, key_size, value_size = 9, 2, 3, 5
    keys = rng.normal(size=(steps, heads, key_size))
    values = rng.normal(size=(steps, heads, value_size))
    got_keys, got_values = write_similarity(record_with_writes(keys, values))
    for got, writes in ((got_keys, keys), (got_values, values)):
        flat = writes.astype(np.float32).astype(np.float64).reshape(steps, -1)  # heads joined
        for t in range(steps):
            for s in range(steps):
                if s >= t:
                    assert np.isnan(got[t, s]), (t, s)
                else:
                    cosine = flat[t] @ flat[s] / np.linalg.norm(flat[t]) / np.linalg.norm(flat[s])
                    assert got[t, s] == pytest.approx(cosine, abs=1e-6)


def test_write_similarity_needs_write_keys():
    record = record_with_writes(np.ones((3, 1, 2)), np.ones((3, 1, 2)))
    record.write_keys = record.write_values = None
    with pytest.raises(RecordError, match="no write_keys and no write_values"):
        write_similarity(record)


@pytest.mark.parametrize("update", ["gradient", "local"])
def test_mnm_trace_write_values_are_the_values_the_step_wrote(update):
    torch.manual_seed(0)
    core = MNM(
        input_size=3, controller_size=10, key_size=4, value_size=3, write_heads=2, update=update
    ).double()
    state = core.initial_state(2)
    for _ in range(3):
        before = state
        _, state = core.step(torch.randn(2, 3, dtype=torch.float64), state)
    trace = core.read_trace(state)
    assert trace.write_values.shape == (2, 2, 3) and not trace.write_values.requires_grad
    # Writing the trace's keys and values with the trace's rates into the previous memory
    # gives this step's memory, by the reference write rules of mnm.py.
    weights, biases = core.unpack(before.fast_weights)
    keys, values, rates = trace.write_keys, trace.write_values, trace.write_strengths
    if update == "gradient":
        weights, biases = gradient_write(weights, biases, keys, values, rates)
    else:
        targets = core.feedback_targets(values)
        weights, biases = local_write(weights, biases, keys, targets, rates)
    torch.testing.assert_close(core.pack(weights, biases), state.fast_weights)
    # and the meta loss is the error of the written memory on them
    written = memory_forward(*core.unpack(state.fast_weights), keys)[-1]
    torch.testing.assert_close(((written - values) ** 2).mean(dim=(1, 2)), state.meta_loss)


def test_recorder_keeps_mnm_writes_and_labels_and_the_record_round_trips(tmp_path):
    torch.manual_seed(0)
    core = MNM(input_size=3, controller_size=8, key_size=4, value_size=6, write_heads=2)
    recorder = RecallRecorder(core, n_envs=2, top_k=2)
    state = core.initial_state(2)
    traces, records = [], []
    for t in range(5):
        starts = np.array([t == 0, t in (0, 3)])
        state = reset_where(torch.as_tensor(starts), state, core.initial_state(2))
        _, state = core.step(torch.randn(2, 3), state)
        traces.append(core.read_trace(state))
        labels = [f"w{t}", None if t == 1 else f"v{t}"]
        records += recorder.step(traces[-1], starts, labels=labels)
    records += recorder.flush()
    by_env = {(r.metadata["env_index"], r.length): r for r in records}
    assert sorted(by_env) == [(0, 5), (1, 2), (1, 3)]

    first = by_env[(0, 5)]
    assert first.write_keys.shape == (5, 2, 4) and first.write_values.shape == (5, 2, 6)
    assert first.write_keys.dtype == first.write_values.dtype == np.float16
    expected_keys = torch.stack([trace.write_keys[0] for trace in traces]).detach().numpy()
    expected_values = torch.stack([trace.write_values[0] for trace in traces]).numpy()
    np.testing.assert_allclose(first.write_keys, expected_keys, atol=1e-3)
    np.testing.assert_allclose(first.write_values, expected_values, atol=1e-3)
    assert first.labels.tolist() == ["w0", "w1", "w2", "w3", "w4"]
    assert by_env[(1, 3)].labels.tolist() == ["v0", "", "v2"]  # None: no label that step
    assert by_env[(1, 2)].labels.tolist() == ["v3", "v4"]
    keys, values = write_similarity(first)
    assert keys.shape == values.shape == (5, 5)

    path = first.save(tmp_path / "mnm.npz")
    loaded = load_episode(path)  # allow_pickle=False: the labels are a plain str array
    for name in ("write_keys", "write_values", "labels"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(first, name))
    assert loaded.write_keys.dtype == np.float16 and loaded.labels.dtype.kind == "U"


def test_a_record_without_writes_or_labels_still_loads(tmp_path):
    record = record_with_writes(np.ones((3, 1, 2)), np.ones((3, 1, 2)))
    record.write_keys = record.write_values = None
    loaded = load_episode(record.save(tmp_path / "plain.npz"))
    assert loaded.write_keys is None and loaded.write_values is None and loaded.labels is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("write_keys", np.ones((2, 1, 2), dtype=np.float32), r"write_keys must have shape"),
        ("write_values", np.ones((3, 2), dtype=np.float32), r"write_values must have shape"),
        ("write_keys", np.ones((3, 1, 2), dtype=np.int32), r"write_keys must be a float"),
        ("labels", np.array(["a", "b"]), r"labels must be a str array of shape \[T\]"),
        ("labels", np.arange(3), r"labels must be a str array"),
    ],
)
def test_bad_optional_arrays_are_record_errors(field, value, message):
    record = record_with_writes(np.ones((3, 1, 2)), np.ones((3, 1, 2)), labels=["a", "b", "c"])
    setattr(record, field, value)
    with pytest.raises(RecordError, match=message):
        record.validate()

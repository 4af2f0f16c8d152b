"""RecallRecorder: source steps, top-k reads and MNM key recall against hand and brute force."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from memrl.memory import MNM, MemNet, Recall, reset_where
from memrl.recall import EpisodeRecord, RecallRecorder


def slot_trace(reads, writes, usage=None) -> Recall:
    """A batch-1 slot Recall from numpy ``reads [R, N]`` and ``writes [Wh, N]``."""
    return Recall(
        read_weights=torch.as_tensor(np.asarray(reads, dtype=np.float64))[None],
        write_weights=torch.as_tensor(np.asarray(writes, dtype=np.float64))[None],
        usage=None if usage is None else torch.as_tensor(np.asarray(usage, dtype=np.float64))[None],
    )


def run_single(recorder: RecallRecorder, traces: list[Recall]) -> EpisodeRecord:
    """Feed one env's episode and return its record (finished by ``dones`` at the end)."""
    records = []
    for t, trace in enumerate(traces):
        done = t == len(traces) - 1
        records += recorder.step(trace, [t == 0], rewards=[float(t)], dones=[done])
    assert len(records) == 1
    return records[0]


def brute_force_sources(writes: np.ndarray, threshold: float) -> np.ndarray:
    """Source step of every slot after every step, by the definition (O(T^2 N)).

    ``writes``: ``[T, Wh, N]``. Score of t' at step t: w_t'[n] * prod_{t' < u <= t}(1 - w_u[n])
    with w the combined write; argmax over t' <= t with w_t' > threshold (newest on ties),
    -1 where no such t'.
    """
    combined = 1.0 - np.prod(1.0 - writes, axis=1)  # [T, N]
    steps, slots = combined.shape
    sources = np.full((steps, slots), -1)
    for t in range(steps):
        for n in range(slots):
            best, best_step = -1.0, -1
            for s in range(t + 1):
                if combined[s, n] <= threshold:
                    continue
                score = combined[s, n] * np.prod(1.0 - combined[s + 1 : t + 1, n])
                if score >= best:
                    best, best_step = score, s
            sources[t, n] = best_step
    return sources


def test_source_steps_hand_worked_example():
    # N = 3 slots, one write head. By hand, with score(t') = w_t' * prod_{later}(1 - w):
    #   t=0: slot 0 written fully                      -> sources [0, -1, -1]
    #   t=1: slot 1 written fully                      -> sources [0,  1, -1]
    #   t=2: slot 0: t0 scores 1*(1-0.6)=0.4 < t2 0.6; slot 2 first written (0.4)
    #                                                  -> sources [2,  1,  2]
    #   t=3: slot 1: t1 scores 1*(1-0.3)=0.7 > t3 0.3;
    #        slot 2: t2 scores 0.4*(1-0.5)=0.2 < t3 0.5 -> sources [2,  1,  3]
    writes = [[1, 0, 0], [0, 1, 0], [0.6, 0, 0.4], [0, 0.3, 0.5]]
    expected = [[0, -1, -1], [0, 1, -1], [2, 1, 2], [2, 1, 3]]
    # head 0 reads slots in order 0, 1, 2; head 1 in order 2, 1, 0
    reads = [[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]]
    traces = [slot_trace(reads, [w]) for w in writes]
    record = run_single(RecallRecorder(n_envs=1, top_k=3), traces)

    np.testing.assert_array_equal(record.read_slots[:, 0], [[0, 1, 2]] * 4)
    np.testing.assert_array_equal(record.read_slots[:, 1], [[2, 1, 0]] * 4)
    np.testing.assert_array_equal(record.source_steps[:, 0], expected)
    np.testing.assert_array_equal(record.source_steps[:, 1], np.asarray(expected)[:, ::-1])
    np.testing.assert_allclose(record.read_weights[:, 0], [[0.5, 0.3, 0.2]] * 4, rtol=1e-6)
    # argmax write slot per head; nothing is below the threshold here
    np.testing.assert_array_equal(record.write_slots[:, 0], [0, 1, 0, 2])
    assert np.isnan(record.slots_in_use).all()  # no usage in the trace
    # the read at t=2 sees the write of t=2 (the cores write, then read)
    assert record.source_steps[2, 1, 0] == 2
    assert record.metadata["recall_kind"] == "slots"
    assert record.metadata["length"] == 4
    assert record.metadata["episode_return"] == pytest.approx(0 + 1 + 2 + 3)


def test_two_write_heads_combine_and_below_threshold_is_unwritten():
    # two heads writing 0.5 each to slot 0 -> combined 1 - 0.5 * 0.5 = 0.75;
    # slot 2 gets only 1e-4 (below the 1e-3 threshold): unwritten, and its write slot is -1
    writes = [[[0.5, 0, 1e-4], [0.5, 0, 0]], [[0, 0, 0], [0, 0, 0]]]
    reads = [[0.1, 0.2, 0.7]]
    record = run_single(RecallRecorder(n_envs=1, top_k=3), [slot_trace(reads, w) for w in writes])
    np.testing.assert_array_equal(record.source_steps[:, 0], [[-1, -1, 0]] * 2)  # slots 2, 1, 0
    np.testing.assert_array_equal(record.write_slots, [[0, 0], [-1, -1]])
    np.testing.assert_allclose(
        record.metadata["recall_stats"]["fresh_read_fraction"], 0.1, rtol=1e-6
    )


def test_source_steps_and_top_k_match_brute_force():
    rng = np.random.default_rng(0)
    steps, heads, write_heads, slots, k = 14, 2, 2, 6, 4
    # sparse-ish writes so that sources differ from "the latest step"
    writes = rng.dirichlet(np.full(slots, 0.3), size=(steps, write_heads)) * rng.uniform(
        0, 1, size=(steps, write_heads, 1)
    )
    reads = rng.dirichlet(np.ones(slots), size=(steps, heads))
    usage = rng.uniform(size=(steps, slots))
    traces = [slot_trace(reads[t], writes[t], usage[t]) for t in range(steps)]
    record = run_single(RecallRecorder(n_envs=1, top_k=k), traces)

    sources = brute_force_sources(writes, threshold=1e-3)
    for t in range(steps):
        for h in range(heads):
            top = np.argsort(-reads[t, h])[:k]
            np.testing.assert_array_equal(record.read_slots[t, h], top)
            np.testing.assert_allclose(record.read_weights[t, h], reads[t, h, top], rtol=1e-6)
            np.testing.assert_array_equal(record.source_steps[t, h], sources[t, top])
    np.testing.assert_array_equal(record.write_slots, writes.argmax(-1))
    np.testing.assert_allclose(record.slots_in_use, (usage > 0.5).mean(-1), rtol=1e-6)
    # the incremental rule must not degenerate to "the latest write" on this data
    assert (sources[-1] != sources[-1].max()).any()


def test_top_k_larger_than_slots_pads_and_zero_weights_are_padding():
    reads = [[1.0, 0.0]]  # a one-hot (Gumbel) read over N = 2 slots
    record = run_single(RecallRecorder(n_envs=1, top_k=4), [slot_trace(reads, [[1.0, 0.0]])])
    np.testing.assert_array_equal(record.read_slots[0, 0], [0, -1, -1, -1])
    np.testing.assert_array_equal(record.source_steps[0, 0], [0, -1, -1, -1])
    np.testing.assert_array_equal(record.read_weights[0, 0], [1.0, 0, 0, 0])


def test_resets_mid_batch_match_separate_recorders():
    rng = np.random.default_rng(1)
    steps, slots = 7, 5
    reads = rng.dirichlet(np.ones(slots), size=(steps, 2, 1))  # [T, B, R, N]
    writes = rng.dirichlet(np.ones(slots), size=(steps, 2, 1))
    # env 0: one episode of 7 steps; env 1: episodes of steps 0-2 and 3-6 (new start at 3,
    # no done given: the start itself finishes the first episode)
    starts = np.zeros((steps, 2), dtype=bool)
    starts[0] = True
    starts[3, 1] = True
    batched = RecallRecorder(n_envs=2, top_k=3)
    out: list[EpisodeRecord] = []
    for t in range(steps):
        trace = Recall(
            read_weights=torch.as_tensor(reads[t]), write_weights=torch.as_tensor(writes[t])
        )
        out += batched.step(trace, starts[t], actions=np.array([t, 10 + t]), rewards=[1.0, 2.0])
        if t == 3:
            assert [r.metadata["env_index"] for r in out] == [1]
    out += batched.flush()
    assert [(r.metadata["env_index"], r.length) for r in out] == [(1, 3), (0, 7), (1, 4)]

    for record, env, span in [
        (out[1], 0, range(7)),
        (out[0], 1, range(3)),
        (out[2], 1, range(3, 7)),
    ]:
        single = RecallRecorder(n_envs=1, top_k=3)
        expected = run_single(single, [slot_trace(reads[t, env], writes[t, env]) for t in span])
        np.testing.assert_array_equal(record.source_steps, expected.source_steps)
        np.testing.assert_array_equal(record.read_slots, expected.read_slots)
        np.testing.assert_array_equal(record.actions, [10 * env + t for t in span])
        assert record.metadata["episode_return"] == pytest.approx((1.0 + env) * len(span))
    assert batched._history == []  # nothing kept once every episode is finished


def mnm_trace(read_keys, write_keys) -> Recall:
    return Recall(
        read_keys=torch.as_tensor(read_keys)[None],
        write_keys=torch.as_tensor(write_keys)[None],
        write_strengths=torch.ones(1, len(write_keys), dtype=torch.float64),
    )


def test_mnm_key_recall_matches_brute_force():
    rng = np.random.default_rng(2)
    steps, read_heads, write_heads, key_size, k = 80, 2, 2, 5, 3  # > 64: the buffer grows
    read_keys = rng.normal(size=(steps, read_heads, key_size))
    write_keys = rng.normal(size=(steps, write_heads, key_size))
    traces = [mnm_trace(read_keys[t], write_keys[t]) for t in range(steps)]
    record = run_single(RecallRecorder(n_envs=1, top_k=k), traces)

    unit_w = write_keys / np.linalg.norm(write_keys, axis=-1, keepdims=True)
    unit_r = read_keys / np.linalg.norm(read_keys, axis=-1, keepdims=True)
    for t in range(steps):
        # similarity of each past step s <= t: best over write heads
        similarity = np.einsum("rk,shk->rsh", unit_r[t], unit_w[: t + 1]).max(-1)
        for h in range(read_heads):
            top = np.argsort(-similarity[h])[:k]
            padded = np.full(k, -1)
            padded[: len(top)] = top
            np.testing.assert_array_equal(record.source_steps[t, h], padded)
            np.testing.assert_array_equal(record.read_slots[t, h], padded)
            np.testing.assert_allclose(
                record.read_weights[t, h, : len(top)], similarity[h, top], rtol=1e-5
            )
    np.testing.assert_array_equal(record.write_slots, np.repeat(np.arange(steps)[:, None], 2, 1))
    assert record.metadata["recall_kind"] == "keys"


def test_mnm_core_records_only_steps_of_the_current_episode():
    torch.manual_seed(0)
    core = MNM(input_size=3, controller_size=8, key_size=4, read_heads=2).double()
    recorder = RecallRecorder(core, n_envs=2, top_k=4)
    state = core.initial_state(2)
    records = []
    for t in range(6):
        starts = np.array([t == 0, t in (0, 4)])
        state = reset_where(torch.as_tensor(starts), state, core.initial_state(2))
        _, state = core.step(torch.randn(2, 3, dtype=torch.float64), state)
        records += recorder.step(core.read_trace(state), starts)
    records += recorder.flush()
    lengths = sorted((r.metadata["env_index"], r.length) for r in records)
    assert lengths == [(0, 6), (1, 2), (1, 4)]
    for record in records:
        steps = np.arange(record.length).reshape(-1, 1, 1)
        assert (record.source_steps <= steps).all()
        valid = record.source_steps >= 0
        assert (valid.sum(-1) == np.minimum(steps[:, :, 0] + 1, 4)).all()
    assert records[0].metadata["core"] == "mnm"


def test_memnet_slots_map_to_exact_steps():
    torch.manual_seed(0)
    slots = 4
    core = MemNet(input_size=3, memory_slots=slots, key_size=6, hops=2).double()
    state = core.initial_state(1)
    recorder = RecallRecorder(core, n_envs=1, top_k=slots)
    written, records = [], []
    steps = 11  # wraps the ring buffer twice
    for t in range(steps):
        _, state = core.step(torch.randn(1, 3, dtype=torch.float64), state)
        written.append(state.write_step[0].long().numpy().copy())
        records += recorder.step(core.read_trace(state), [t == 0], dones=[t == steps - 1])
    (record,) = records
    assert record.metadata["core"] == "memnet"
    for t in range(steps):
        valid = record.read_slots[t, 0] >= 0
        # min(t + 1, N) filled slots get attention, the empty ones are padding
        assert valid.sum() == min(t + 1, slots)
        slot_ids = record.read_slots[t, 0][valid]
        np.testing.assert_array_equal(record.source_steps[t, 0][valid], written[t][slot_ids])
        np.testing.assert_array_equal(record.source_steps[t, 0][valid] % slots, slot_ids)
    np.testing.assert_array_equal(record.write_slots[:, 0], np.arange(steps) % slots)


def test_core_without_recall():
    recorder = RecallRecorder("lstm", n_envs=2, top_k=3)
    records = []
    for t in range(3):
        records += recorder.step(Recall(), [t == 0] * 2, dones=[t == 2, False])
    records += recorder.flush()
    assert [r.length for r in records] == [3, 3]
    record = records[0]
    assert not record.has_recall and record.read_slots.shape == (3, 0, 0)
    assert record.write_slots.shape == (3, 0)
    assert record.metadata["recall_kind"] == "none" and record.metadata["core"] == "lstm"
    record.validate()


def test_frames_and_actions_are_kept_per_env():
    recorder = RecallRecorder(n_envs=2, top_k=1)
    frames = np.arange(2 * 3 * 4 * 2 * 3, dtype=np.uint8).reshape(3, 2, 4, 2, 3)
    out = []
    for t in range(3):
        out += recorder.step(
            Recall(read_weights=torch.ones(2, 1, 2) / 2, write_weights=torch.ones(2, 1, 2) / 2),
            [t == 0] * 2,
            actions=np.array([[t, 1], [t, 2]]),
            dones=[t == 2] * 2,
            frames=frames[t],
        )
    assert len(out) == 2
    np.testing.assert_array_equal(out[1].frames, frames[:, 1])
    np.testing.assert_array_equal(out[1].actions, [[0, 2], [1, 2], [2, 2]])


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="top_k"):
        RecallRecorder(n_envs=1, top_k=0)
    with pytest.raises(ValueError, match="n_envs"):
        RecallRecorder(n_envs=0)
    recorder = RecallRecorder(n_envs=2)
    with pytest.raises(ValueError, match="episode_starts"):
        recorder.step(Recall(), [True])
    recorder = RecallRecorder(n_envs=1)
    with pytest.raises(ValueError, match="n_envs=1"):
        recorder.step(
            Recall(read_weights=torch.ones(2, 1, 3), write_weights=torch.ones(2, 1, 3)), [True]
        )
    recorder = RecallRecorder(n_envs=1)
    recorder.step(slot_trace([[1.0]], [[1.0]]), [True])
    with pytest.raises(ValueError, match="changed kind"):
        recorder.step(Recall(), [False])


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_traces_give_the_cpu_result():
    rng = np.random.default_rng(3)
    reads = torch.as_tensor(rng.dirichlet(np.ones(6), size=(5, 2, 2)))  # [T, B, R, N]
    writes = torch.as_tensor(rng.dirichlet(np.ones(6), size=(5, 2, 1)))
    results = []
    for device in ("cpu", "cuda"):
        recorder = RecallRecorder(n_envs=2, top_k=3)
        for t in range(5):
            trace = Recall(read_weights=reads[t].to(device), write_weights=writes[t].to(device))
            recorder.step(trace, [t == 0] * 2)
        results.append(recorder.flush())
    for cpu, cuda in zip(*results, strict=True):
        np.testing.assert_array_equal(cpu.source_steps, cuda.source_steps)
        np.testing.assert_array_equal(cpu.read_slots, cuda.read_slots)

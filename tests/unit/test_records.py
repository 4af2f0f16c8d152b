"""Episode record files: round trip, atomic writes, and every kind of bad file."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from memrl.recall import SCHEMA_VERSION, EpisodeRecord, RecordError, load_episode
from memrl.recall import records as records_module


def make_record(steps: int = 6, frames: bool = False, heads: int = 2, k: int = 3) -> EpisodeRecord:
    rng = np.random.default_rng(0)
    sources = np.minimum(
        rng.integers(-1, steps, size=(steps, heads, k)), np.arange(steps)[:, None, None]
    )
    return EpisodeRecord(
        actions=rng.integers(0, 4, size=steps),
        rewards=rng.normal(size=steps).astype(np.float32),
        read_slots=rng.integers(0, 8, size=(steps, heads, k)).astype(np.int32),
        read_weights=rng.uniform(size=(steps, heads, k)).astype(np.float32),
        source_steps=sources.astype(np.int32),
        write_slots=rng.integers(-1, 8, size=(steps, 1)).astype(np.int32),
        slots_in_use=np.full(steps, np.nan, dtype=np.float32),
        frames=rng.integers(0, 256, size=(steps, 5, 7, 3), dtype=np.uint8) if frames else None,
        metadata=dict(
            core="dnc",
            core_kwargs={"memory_slots": 8},
            env_id="memrl/TMaze-v0",
            seed=np.int64(3),  # numpy scalars are stored as plain JSON numbers
            episode_return=float(np.float32(1.5)),
            length=steps,
            top_k=k,
            recall_kind="slots",
            recall_stats={"mean_age": 2.0, "read_entropy": None},
        ),
    )


def assert_same(a: EpisodeRecord, b: EpisodeRecord) -> None:
    for name in (
        "actions",
        "rewards",
        "read_slots",
        "read_weights",
        "source_steps",
        "write_slots",
        "slots_in_use",
    ):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        assert getattr(a, name).dtype == getattr(b, name).dtype, name
    if a.frames is None:
        assert b.frames is None
    else:
        np.testing.assert_array_equal(a.frames, b.frames)


@pytest.mark.parametrize("frames", [False, True])
def test_round_trip(tmp_path, frames):
    record = make_record(frames=frames)
    path = record.save(tmp_path / "ep.npz")
    loaded = load_episode(path)
    assert_same(record, loaded)
    assert loaded.metadata["seed"] == 3 and loaded.metadata["core_kwargs"] == {"memory_slots": 8}
    assert loaded.metadata["recall_stats"] == {"mean_age": 2.0, "read_entropy": None}
    assert loaded.length == 6 and loaded.has_recall
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ep.npz"]  # no temp file left


def test_round_trip_without_recall(tmp_path):
    steps = 4
    record = EpisodeRecord(
        actions=np.zeros((steps, 2), dtype=np.float32),
        rewards=np.ones(steps, dtype=np.float32),
        read_slots=np.zeros((steps, 0, 0), dtype=np.int32),
        read_weights=np.zeros((steps, 0, 0), dtype=np.float32),
        source_steps=np.zeros((steps, 0, 0), dtype=np.int32),
        write_slots=np.zeros((steps, 0), dtype=np.int32),
        slots_in_use=np.full(steps, np.nan, dtype=np.float32),
        metadata={"recall_kind": "none"},
    )
    loaded = load_episode(record.save(tmp_path / "lstm.npz"))
    assert_same(record, loaded)
    assert not loaded.has_recall


def test_frames_are_compressed(tmp_path):
    record = make_record(steps=20, frames=True)
    record.frames = np.zeros((20, 64, 64, 3), dtype=np.uint8)
    path = record.save(tmp_path / "ep.npz")
    assert path.stat().st_size < record.frames.nbytes / 20


def test_save_overwrites_atomically_and_cleans_up_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "ep.npz"
    make_record(steps=3).save(path)

    def broken(file, **arrays):
        file.write(b"PK\x03\x04 half an archive")
        raise OSError("disk full")

    monkeypatch.setattr(records_module.np, "savez_compressed", broken)
    with pytest.raises(OSError, match="disk full"):
        make_record(steps=5).save(path)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ep.npz"]
    assert load_episode(path).length == 3  # the old record is intact


def test_save_validates_first(tmp_path):
    record = make_record()
    record.source_steps[2, 0, 0] = 5  # step 2 cannot recall step 5
    with pytest.raises(RecordError, match="later step"):
        record.save(tmp_path / "bad.npz")
    assert list(tmp_path.iterdir()) == []


def write_npz(path, **arrays) -> None:
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def good_arrays(**header_changes) -> dict[str, np.ndarray]:
    """The arrays of a valid record file, with the header's fields changed as given."""
    record = make_record()
    header = {"format": "memrl.episode_record", "schema_version": SCHEMA_VERSION}
    header["metadata"] = record.metadata | {"seed": 3}
    header.update(header_changes)
    return {
        "memrl_record": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
        "actions": record.actions,
        "rewards": record.rewards,
        "read_slots": record.read_slots,
        "read_weights": record.read_weights,
        "source_steps": record.source_steps,
        "write_slots": record.write_slots,
        "slots_in_use": record.slots_in_use,
    }


def test_hand_built_good_file_loads(tmp_path):
    # guards the bad-file tests below: they differ from this file in one thing only
    write_npz(tmp_path / "ok.npz", **good_arrays())
    assert load_episode(tmp_path / "ok.npz").length == 6


def test_truncated_file(tmp_path):
    path = make_record(frames=True).save(tmp_path / "ep.npz")
    data = path.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 30):
        path.write_bytes(data[:cut])
        with pytest.raises(RecordError, match=r"ep\.npz.*(truncated|not)"):
            load_episode(path)


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.npz"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(RecordError, match=r"noise\.npz"):
        load_episode(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    with pytest.raises(RecordError, match=r"empty\.npz"):
        load_episode(path)


def test_plain_npz_without_header(tmp_path):
    path = tmp_path / "plain.npz"
    write_npz(path, x=np.arange(3))
    with pytest.raises(RecordError, match=r"plain\.npz: not a memrl episode record.*header"):
        load_episode(path)


def test_single_npy_array(tmp_path):
    path = tmp_path / "one.npy"
    np.save(path, np.arange(3))
    with pytest.raises(RecordError, match="not a memrl episode record"):
        load_episode(path)


def test_pickled_arrays_are_refused(tmp_path):
    path = tmp_path / "pickle.npz"
    arrays = good_arrays()
    arrays["actions"] = np.array([{"a": 1}] * 6, dtype=object)
    write_npz(path, **arrays)
    with pytest.raises(RecordError, match=r"pickle\.npz"):
        load_episode(path)


def test_zip_of_other_files(tmp_path):
    path = tmp_path / "other.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(RecordError, match=r"other\.npz"):
        load_episode(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "something.else"}, "not a memrl episode record"),
        ({"schema_version": SCHEMA_VERSION + 1}, "upgrade memrl"),
        ({"schema_version": "1"}, "invalid schema version"),
        ({"schema_version": 0}, "invalid schema version"),
        ({"metadata": [1, 2]}, "metadata is not a dict"),
    ],
)
def test_bad_header(tmp_path, change, message):
    path = tmp_path / "ep.npz"
    write_npz(path, **good_arrays(**change))
    with pytest.raises(RecordError, match=rf"ep\.npz: .*{message}"):
        load_episode(path)


def test_header_not_json(tmp_path):
    path = tmp_path / "ep.npz"
    arrays = good_arrays()
    arrays["memrl_record"] = np.frombuffer(b"{not json", dtype=np.uint8)
    write_npz(path, **arrays)
    with pytest.raises(RecordError, match="corrupt episode record header"):
        load_episode(path)


@pytest.mark.parametrize("missing", ["actions", "rewards", "read_slots", "source_steps"])
def test_missing_arrays(tmp_path, missing):
    path = tmp_path / "ep.npz"
    arrays = good_arrays()
    del arrays[missing]
    write_npz(path, **arrays)
    with pytest.raises(RecordError, match=rf"missing arrays: {missing}"):
        load_episode(path)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("rewards", np.zeros(5, dtype=np.float32), "T = 5|with T"),
        ("rewards", np.zeros((6, 1), dtype=np.float32), r"rewards must have shape \[T\]"),
        ("read_weights", np.zeros((6, 2, 2), dtype=np.float32), "same shape"),
        ("read_slots", np.zeros((6, 2, 3), dtype=np.float32), "integer"),
        ("rewards", np.zeros(6, dtype=np.int32), "float"),
        ("write_slots", np.zeros((6,), dtype=np.int32), r"\[T, Wh\]"),
        ("slots_in_use", np.zeros((7,), dtype=np.float32), r"\[T\]"),
        ("actions", np.zeros((5,), dtype=np.int64), r"\[T, \.\.\.\]"),
        ("actions", np.array(["a"] * 6), "numeric"),
        ("frames", np.zeros((6, 4, 4), dtype=np.uint8), "frames must be uint8"),
        ("frames", np.zeros((6, 4, 4, 3), dtype=np.float32), "frames must be uint8"),
        ("source_steps", np.full((6, 2, 3), -2, dtype=np.int32), "below -1"),
        ("source_steps", np.full((6, 2, 3), 5, dtype=np.int32), "later step"),
    ],
)
def test_wrong_dtypes_and_shapes(tmp_path, name, value, message):
    path = tmp_path / "ep.npz"
    arrays = good_arrays()
    arrays[name] = value
    write_npz(path, **arrays)
    with pytest.raises(RecordError, match=rf"ep\.npz: invalid episode record: .*({message})"):
        load_episode(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.npz"):
        load_episode(tmp_path / "nope.npz")


def test_record_error_is_a_value_error():
    assert issubclass(RecordError, ValueError)

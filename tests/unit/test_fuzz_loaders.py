"""Fuzzing (Hypothesis): the record loader, the config loaders and memrl's env constructors
either work or raise memrl's own error type with a message: nothing else escapes, nothing
hangs (a deadline per example).

Budget: 60 examples per test (``MEMRL_FUZZ_EXAMPLES`` sets another, e.g. 2000 for a deep
run with fresh random examples), about 15 s for the whole file on one core.
"""

from __future__ import annotations

import inspect
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from memrl.checks import CheckError  # noqa: E402
from memrl.config import (  # noqa: E402
    AgentConfig,
    ConfigError,
    RunConfig,
    SuiteConfig,
    agent_presets,
    load_agent,
    load_run_config,
    load_suite,
    suite_files,
)
from memrl.recall import EpisodeRecord, RecordError, load_episode  # noqa: E402

EXAMPLES = os.environ.get("MEMRL_FUZZ_EXAMPLES")
FUZZ = settings(
    max_examples=int(EXAMPLES or 60),
    deadline=2000,  # ms per example: a hang or a huge allocation fails the test
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    # The normal run sees the same examples every time (a failure is reproducible); a deep
    # run draws new ones.
    derandomize=EXAMPLES is None,
)


@pytest.fixture(scope="module")
def scratch():
    directory = Path(tempfile.mkdtemp(prefix="memrl-fuzz-"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


# --- episode records -------------------------------------------------------------------------


def valid_record_bytes(directory: Path) -> bytes:
    rng = np.random.default_rng(0)
    steps, heads, k = 5, 2, 3
    record = EpisodeRecord(
        actions=rng.integers(0, 4, size=steps),
        rewards=rng.normal(size=steps).astype(np.float32),
        read_slots=rng.integers(0, 8, size=(steps, heads, k)).astype(np.int32),
        read_weights=rng.uniform(size=(steps, heads, k)).astype(np.float32),
        source_steps=np.zeros((steps, heads, k), dtype=np.int32),
        write_slots=rng.integers(-1, 8, size=(steps, 1)).astype(np.int32),
        slots_in_use=np.full(steps, 0.5, dtype=np.float32),
        frames=rng.integers(0, 256, size=(steps, 4, 4, 3), dtype=np.uint8),
        metadata={"core": "dnc", "env_id": "memrl/TMaze-v0"},
    )
    return record.save(directory / "valid.npz").read_bytes()


def assert_loads_or_record_error(path: Path) -> None:
    try:
        record = load_episode(path)
    except RecordError as error:
        assert str(error).startswith(str(path)), error
    else:
        record.validate()


@FUZZ
@given(data=st.binary(max_size=2048))
def test_record_loader_arbitrary_bytes(scratch, data):
    path = scratch / "bytes.npz"
    path.write_bytes(data)
    assert_loads_or_record_error(path)


@FUZZ
@given(data=st.binary(max_size=512))
def test_record_loader_arbitrary_bytes_after_a_zip_header(scratch, data):
    # Past the first check (the zip signature), into numpy's and zipfile's parsers.
    path = scratch / "zip-bytes.npz"
    path.write_bytes(b"PK\x03\x04" + data)
    assert_loads_or_record_error(path)


@FUZZ
@given(cut=st.floats(0, 1), edits=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255))))
def test_record_loader_truncated_and_altered_records(scratch, cut, edits):
    data = bytearray(valid_record_bytes(scratch))
    for where, value in edits:
        data[min(int(where * len(data)), len(data) - 1)] = value
    path = scratch / "altered.npz"
    path.write_bytes(bytes(data[: max(1, int(cut * len(data)))]) if cut < 1 else bytes(data))
    assert_loads_or_record_error(path)


@FUZZ
@given(
    name=st.sampled_from(["actions", "rewards", "read_slots", "source_steps", "memrl_record"]),
    array=st.one_of(
        st.just(np.array([{"a": 1}], dtype=object)),
        st.lists(st.integers(-5, 5), max_size=6).map(np.array),
        st.lists(st.floats(allow_nan=True), max_size=6).map(np.array),
        st.text(max_size=8).map(lambda t: np.array([t])),
    ),
)
def test_record_loader_replaced_arrays(scratch, name, array):
    source = scratch / "source.npz"
    source.write_bytes(valid_record_bytes(scratch))
    path = scratch / "replaced.npz"
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(path, "w") as new:
        for item in old.namelist():
            if item != f"{name}.npy":
                new.writestr(item, old.read(item))
        with new.open(f"{name}.npy", "w") as handle:
            np.lib.format.write_array(handle, array, allow_pickle=True)
    assert_loads_or_record_error(path)


# --- configuration files ---------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),  # NaN and infinities included
    st.text(max_size=12),
    st.sampled_from(["lstm", "dnc", "memrl/TMaze-v0", "linear", "1e-3", "auto", "flatten"]),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def write_yaml(directory: Path, name: str, data: Any) -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def assert_config_error(load, *args) -> None:
    try:
        load(*args)
    except ConfigError as error:
        assert str(error), "empty message"


@FUZZ
@given(document=documents)
def test_config_loaders_arbitrary_documents(scratch, document):
    path = write_yaml(scratch, "doc.yaml", document)
    assert_config_error(load_agent, path)
    assert_config_error(load_suite, path)
    assert_config_error(load_run_config, path)


@FUZZ
@given(text=st.text(max_size=200))
def test_config_loaders_arbitrary_text(scratch, text):
    path = scratch / "text.yaml"
    path.write_text(text, encoding="utf-8")
    assert_config_error(load_agent, path)


def preset_data(kind: str) -> list[tuple[str, dict]]:
    files = agent_presets() if kind == "agents" else suite_files()
    return [(name, yaml.safe_load(path.read_text())) for name, path in files.items()]


def key_paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    paths = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            paths += key_paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            paths += key_paths(value, (*prefix, index))
    return paths


def mutate(data: Any, path: tuple, action: str, value: Any) -> Any:
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "add" and isinstance(parent, dict):
        parent[f"{last}_extra"] = value
    else:
        parent[last] = value
    return data


@FUZZ
@given(
    kind=st.sampled_from(["agents", "envs"]),
    choice=st.integers(0, 10_000),
    mutations=st.lists(
        st.tuples(st.integers(0, 10_000), st.sampled_from(["set", "delete", "add"]), documents),
        min_size=1,
        max_size=3,
    ),
)
def test_mutated_presets(kind, choice, mutations):
    presets = preset_data(kind)
    name, data = presets[choice % len(presets)]
    for where, action, value in mutations:
        paths = key_paths(data)
        if not paths:
            break
        data = mutate(data, paths[where % len(paths)], action, value)
    if kind == "agents":
        assert_config_error(AgentConfig.from_dict, data, f"{name}.yaml", name)
        run = {"agent": data, "env": {"id": "memrl/TMaze-v0"}, "steps": 100}
        assert_config_error(RunConfig.from_dict, run, "config.yaml")
    else:
        assert_config_error(SuiteConfig.from_dict, data, f"{name}.yaml")


# --- environment constructors ----------------------------------------------------------------

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**64), 2**64),
    st.integers(-3, 40),
    st.floats(),
    st.text(max_size=8),
    st.lists(st.integers(0, 3), max_size=3),
    st.sampled_from(["rgb_array", "human", "ansi"]),
)


def memrl_env_classes() -> dict[str, type]:
    import gymnasium as gym

    from memrl.envs import registered_ids

    classes = {}
    for env_id in registered_ids():
        entry_point = gym.registry[env_id].entry_point
        module, _, name = entry_point.partition(":")
        classes[env_id] = getattr(__import__(module, fromlist=[name]), name)
    return classes


ENV_CLASSES = memrl_env_classes()


@FUZZ
@given(env_id=st.sampled_from(sorted(ENV_CLASSES)), data=st.data())
def test_env_constructors_arbitrary_keyword_values(env_id, data):
    cls = ENV_CLASSES[env_id]
    names = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    chosen = data.draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
    kwargs = {name: data.draw(values, label=name) for name in chosen}
    try:
        env = cls(**kwargs)
    except CheckError as error:  # memrl.checks: "<name> must be ..., got ..."
        assert error.name and error.wanted, error
        return
    except ValueError as error:  # the envs' own domain checks name the argument too
        assert any(name in str(error) for name in kwargs), (kwargs, error)
        return
    try:
        env.reset(seed=0)
        for _ in range(3):
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                env.reset()
        if env.render_mode is not None:
            env.render()
    finally:
        env.close()

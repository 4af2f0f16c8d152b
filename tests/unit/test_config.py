"""Agent presets, suites and run configs: loading, validation messages, overrides, round trips."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from memrl.config import (
    AgentConfig,
    ConfigError,
    EnvConfig,
    LinearSchedule,
    RunConfig,
    agent_presets,
    apply_overrides,
    load_agent,
    load_run_config,
    load_suite,
    parse_override,
    preset_dirs,
    suite_files,
    to_yaml,
)
from memrl.run import make_run_config

REPO = Path(__file__).resolve().parents[2]
EXPECTED_PRESETS = {
    "lstm",
    "gru",
    "ntm",
    "dnc",
    "mnm-g",
    "mnm-g-fast",
    "mnm-p",
    "memnet",
    "memnet-long",
    "dnc-gumbel",
    "mlp",
    "recurrentppo",
}
EXPECTED_SUITES = {
    "quick",
    "gridworld",
    "algorithmic",
    "minigrid-memory",
    "popgym-easy",
    "memory-hard",
    "goal-search-5x5",
    "goal-search-9x9",
}

GOOD_AGENT = {
    "name": "tiny",
    "memory": "lstm",
    "memory_kwargs": {"hidden_size": 8},
    "n_envs": 2,
    "n_steps": 32,
    "seq_len": 16,
    "batch_size": 32,
}


def write(tmp_path: Path, data: object, name: str = "agent.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


# --- presets and suites shipped with memrl ------------------------------------------------


def test_every_preset_and_suite_is_found_and_loads():
    assert EXPECTED_PRESETS <= set(agent_presets())
    assert EXPECTED_SUITES <= set(suite_files())
    for name in agent_presets():
        agent = load_agent(name)
        assert agent.name == name
        assert agent.description
    for name in suite_files():
        suite = load_suite(name)
        assert suite.name == name
        assert suite.envs


def test_every_yaml_in_the_repo_is_a_preset():
    # A file that failed to load would be missing from nothing above: load them by path too.
    for path in sorted((REPO / "agents").glob("*.yaml")):
        assert load_agent(path).name == path.stem
        assert path.read_text().startswith("#"), f"{path}: needs a comment header"
    for path in sorted((REPO / "envs").glob("*.yaml")):
        assert load_suite(path).name == path.stem


def test_presets_are_looked_up_in_the_checkout():
    assert REPO / "agents" in preset_dirs("agents")
    assert REPO / "envs" in preset_dirs("envs")


def test_preset_contents():
    assert load_agent("mlp").algorithm == "ppo"
    mnm_g, mnm_p = load_agent("mnm-g"), load_agent("mnm-p")
    assert (mnm_g.memory, mnm_g.memory_kwargs["update"]) == ("mnm", "gradient")
    assert (mnm_p.memory, mnm_p.memory_kwargs["update"]) == ("mnm", "local")
    gumbel = load_agent("dnc-gumbel")
    assert gumbel.memory_kwargs["read_addressing"] == "gumbel" and gumbel.gumbel is not None


# --- validation: each kind of bad input names the file and the key ---------------------


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        ({"hidden": 3}, "hidden", "unknown key"),
        ({"n_steps": "many"}, "n_steps", "integer"),
        ({"n_envs": 0}, "n_envs", ">= 1"),
        ({"n_steps": -32}, "n_steps", ">= 1"),
        ({"batch_size": 24}, "batch_size", "multiple of seq_len"),
        ({"seq_len": 10}, "seq_len", "divide n_steps"),
        ({"batch_size": 128}, "batch_size", "at most"),
        ({"memory": "hopfield"}, "memory", "registered cores: dnc"),
        ({"memory_kwargs": {"slots": 3}}, "memory_kwargs.slots", "accepted: hidden_size"),
        ({"shared_memory": "yes"}, "shared_memory", "true or false"),
        ({"learning_rate": "fast"}, "learning_rate", "schedule"),
        ({"learning_rate": {"schedule": "cosine", "start": 1, "end": 0}}, "schedule", "linear"),
        ({"gamma": 1.5}, "gamma", "[0, 1]"),
        ({"device": "tpu"}, "device", "auto, cpu, cuda"),
        ({"algorithm": "sac"}, "algorithm", "memory_ppo, ppo"),
        ({"net_arch": "big"}, "net_arch", "layer sizes"),
        ({"gumbel": {"tau0": 1.0}}, "gumbel", "read_addressing: gumbel"),
    ],
)
def test_bad_agent_values_name_file_and_key(tmp_path, change, key, words):
    path = write(tmp_path, {**GOOD_AGENT, **change})
    with pytest.raises(ConfigError) as info:
        load_agent(path)
    message = str(info.value)
    assert str(path) in message
    assert key in message
    assert words in message


def test_memory_keys_are_refused_for_plain_ppo(tmp_path):
    path = write(tmp_path, {"name": "x", "algorithm": "ppo", "seq_len": 16})
    with pytest.raises(ConfigError, match=r"seq_len: only accepted with algorithm: memory_ppo"):
        load_agent(path)


def test_yaml_syntax_error_names_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: not valid YAML"):
        load_agent(path)


def test_unknown_preset_lists_the_presets():
    with pytest.raises(ConfigError, match=r"unknown agent preset; presets: .*dnc"):
        load_agent("no-such-agent")


def test_numbers_written_without_a_dot_are_numbers(tmp_path):
    # PyYAML reads 3e-4 as a string (YAML 1.1 wants 3.0e-4); presets should not trip on it.
    agent = load_agent(write(tmp_path, {**GOOD_AGENT, "learning_rate": "3e-4"}))
    assert agent.learning_rate == pytest.approx(3e-4)


def test_linear_schedule(tmp_path):
    schedule = {"schedule": "linear", "start": 1.0e-3, "end": 1.0e-4}
    agent = load_agent(write(tmp_path, {**GOOD_AGENT, "learning_rate": schedule}))
    assert agent.learning_rate == LinearSchedule(1e-3, 1e-4, 1.0)
    sb3 = agent.sb3_kwargs()["learning_rate"]
    assert sb3(1.0) == pytest.approx(1e-3)  # SB3 passes the remaining progress, 1 -> 0
    assert sb3(0.5) == pytest.approx(5.5e-4)
    assert sb3(0.0) == pytest.approx(1e-4)


@pytest.mark.parametrize(
    ("entry", "key", "words"),
    [
        ({"id": "memrl/NoSuchEnv-v0", "steps": 10, "solved_at": 1}, "envs[0].id", "close matches"),
        ({"id": "memrl/TMaze-v0", "steps": -5, "solved_at": 1}, "envs[0].steps", ">= 1"),
        ({"id": "memrl/TMaze-v0", "steps": 0, "solved_at": 1}, "envs[0].steps", ">= 1"),
        ({"id": "memrl/TMaze-v0", "solved_at": 1}, "envs[0].steps", "missing"),
        (
            {"id": "memrl/TMaze-v0", "steps": 10, "solved_at": 1, "wrappers": ["shrink"]},
            "envs[0].wrappers[0]",
            "names: ",
        ),
        ({"id": "memrl/TMaze-v0", "steps": 10, "solved_at": "high"}, "solved_at", "number"),
        ({"id": "memrl/TMaze-v0", "steps": 10, "solved_at": 1, "budget": 3}, "budget", "unknown"),
    ],
)
def test_bad_suite_values_name_file_and_key(tmp_path, entry, key, words):
    path = write(tmp_path, {"name": "s", "description": "d", "envs": [entry]}, "suite.yaml")
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    message = str(info.value)
    assert str(path) in message and key in message and words in message


def test_env_label_and_slug_name_kwargs_and_wrappers():
    plain = EnvConfig.from_dict({"id": "memrl/TMaze-v0", "kwargs": {"corridor_length": 5}}, "t")
    assert plain.label == "TMaze-v0 corridor_length=5"
    assert plain.slug == "TMaze-v0_corridor_length=5"
    wrapped = EnvConfig.from_dict(
        {
            "id": "MiniGrid-MemoryS9-v0",
            "kwargs": {"view_size": 3},
            "wrappers": [{"name": "action_subset", "actions": [0, 1, 2]}, "one_hot_image"],
        },
        "t",
    )
    assert wrapped.label == "MiniGrid-MemoryS9-v0 view_size=3 +action_subset +one_hot_image"
    assert wrapped.slug == "MiniGrid-MemoryS9-v0_view_size=3_+action_subset_+one_hot_image"


# --- overrides and run configs -------------------------------------------------------------


def test_parse_override_reads_yaml_values():
    assert parse_override("memory_kwargs.memory_slots=32") == ("memory_kwargs.memory_slots", 32)
    assert parse_override("net_arch=[32, 32]") == ("net_arch", [32, 32])
    assert parse_override("shared_memory=false") == ("shared_memory", False)
    assert parse_override("learning_rate={schedule: linear, start: 0.1, end: 0.0}")[1] == {
        "schedule": "linear",
        "start": 0.1,
        "end": 0.0,
    }
    with pytest.raises(ConfigError, match="key=value"):
        parse_override("memory_slots")


def test_apply_overrides_nests_dotted_keys_and_copies():
    data = {"memory_kwargs": {"memory_slots": 16}}
    result = apply_overrides(data, ["memory_kwargs.memory_slots=32", "env.kwargs.size=5"])
    assert result == {"memory_kwargs": {"memory_slots": 32}, "env": {"kwargs": {"size": 5}}}
    assert data == {"memory_kwargs": {"memory_slots": 16}}
    with pytest.raises(ConfigError, match="not a mapping"):
        apply_overrides({"n_envs": 4}, ["n_envs.x=1"])


def test_overrides_are_validated_like_the_file():
    with pytest.raises(ConfigError) as info:
        make_run_config("lstm", "memrl/TMaze-v0", overrides=["batch_size=100"])
    assert "agent.batch_size" in str(info.value) and "multiple of seq_len" in str(info.value)
    with pytest.raises(ConfigError, match=r"env.wrappers\[0\]"):
        make_run_config("lstm", "memrl/TMaze-v0", overrides=["env.wrappers=[nope]"])


def test_make_run_config_routes_overrides():
    config = make_run_config(
        "dnc",
        "memrl/TMaze-v0",
        steps=1000,
        seed=3,
        overrides=[
            "memory_kwargs.memory_slots=8",
            "env.kwargs.corridor_length=5",
            "eval_every=100",
            "agent.n_envs=2",
        ],
    )
    assert config.agent.memory_kwargs["memory_slots"] == 8
    assert config.agent.n_envs == 2
    assert config.env.kwargs == {"corridor_length": 5}
    assert config.env.solved_at == 0.9  # from the quick suite's TMaze entry
    assert (config.steps, config.seed, config.eval_every) == (1000, 3, 100)


def test_run_config_round_trips_through_yaml(tmp_path):
    config = make_run_config(
        "dnc-gumbel",
        "memrl/GoalSearch-5x5-v0",
        steps=5000,
        overrides=["learning_rate={schedule: linear, start: 1.0e-3, end: 0.0}"],
    )
    path = tmp_path / "config.yaml"
    path.write_text(to_yaml(config.to_dict(), "header"))
    assert load_run_config(path) == config
    assert load_run_config(tmp_path) == config  # a run directory works too
    for name in agent_presets():
        agent = load_agent(name)
        assert AgentConfig.from_dict(yaml.safe_load(to_yaml(agent.to_dict())), "x") == agent


def test_run_config_errors_name_the_file(tmp_path):
    config = make_run_config("lstm", "memrl/TMaze-v0", steps=100)
    data = config.to_dict()
    data["agent"]["memory"] = "nope"
    path = write(tmp_path, data, "config.yaml")
    with pytest.raises(ConfigError) as info:
        load_run_config(path)
    assert str(path) in str(info.value) and "agent.memory" in str(info.value)
    data = config.to_dict()
    data["steps"] = 0
    with pytest.raises(ConfigError, match=r"config.yaml: steps: expected an integer >= 1"):
        load_run_config(write(tmp_path, data, "config.yaml"))
    assert isinstance(RunConfig.from_dict(config.to_dict(), "x"), RunConfig)

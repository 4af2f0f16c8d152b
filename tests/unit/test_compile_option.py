"""The ``compile`` option from a preset down to the cores: accepted values, refused values
with a clear message, and where it ends up (nothing is compiled here: that is lazy)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from memrl.config import AgentConfig, ConfigError
from memrl.memory.base import COMPILE_MODES
from memrl.sb3 import MemoryActorCriticPolicy, WindowMemoryExtractor
from memrl.sb3.policy import compile_mode

AGENT = dict(name="x", memory="lstm", n_envs=2, n_steps=8, batch_size=8, seq_len=4)


def agent(**changes) -> AgentConfig:
    return AgentConfig.from_dict({**AGENT, **changes}, "agent.yaml")


@pytest.mark.parametrize("value", [False, True, *COMPILE_MODES])
def test_compile_values_reach_the_policy_kwargs_and_survive_to_dict(value):
    config = agent(compile=value)
    assert config.compile == value
    assert config.sb3_kwargs()["policy_kwargs"]["compile"] == value
    assert AgentConfig.from_dict(config.to_dict(), "again") == config


def test_compile_is_off_by_default():
    assert agent().compile is False
    assert agent().sb3_kwargs()["policy_kwargs"]["compile"] is False


@pytest.mark.parametrize("value", ["fast", "yes", 1, 0, None, ["default"], ""])
def test_a_bad_compile_value_names_the_key_and_the_accepted_values(value):
    with pytest.raises(ConfigError) as info:
        agent(compile=value)
    message = str(info.value)
    assert message.startswith("agent.yaml: compile: expected true, false or a torch.compile mode")
    assert "reduce-overhead" in message


def test_compile_is_refused_for_plain_ppo():
    with pytest.raises(ConfigError, match=r"compile: only accepted with algorithm: memory_ppo"):
        AgentConfig.from_dict({"name": "x", "algorithm": "ppo", "compile": True}, "agent.yaml")


def test_compile_mode_of_the_policy_option():
    assert compile_mode(False) is None
    assert compile_mode(True) == "default"
    assert compile_mode("reduce-overhead") == "reduce-overhead"
    for bad in ("fastest", 1, None):
        with pytest.raises(ValueError, match=r"compile must be True, False or one of"):
            compile_mode(bad)


def test_the_policy_refuses_a_bad_compile_value_before_building():
    space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    with pytest.raises(ValueError, match=r"compile must be True, False or one of"):
        MemoryActorCriticPolicy(space, gym.spaces.Discrete(2), lambda _: 1e-3, compile="fast")


def test_the_policy_keeps_compile_in_its_constructor_parameters():
    space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    policy = MemoryActorCriticPolicy(
        space, gym.spaces.Discrete(2), lambda _: 1e-3, memory="gru", compile="reduce-overhead"
    )
    assert policy._get_constructor_parameters()["compile"] == "reduce-overhead"
    assert policy.core.compile_mode == "reduce-overhead"
    assert callable(policy.compile)  # nn.Module.compile is not hidden by the option
    eager = MemoryActorCriticPolicy(space, gym.spaces.Discrete(2), lambda _: 1e-3)
    assert eager._get_constructor_parameters()["compile"] is False
    assert eager.core.compile_mode is None


def test_the_window_extractor_compiles_its_core_when_asked():
    space = gym.spaces.Box(-1.0, 1.0, (4, 3), np.float32)
    assert WindowMemoryExtractor(space, "ntm", compile=True).core.compile_mode == "default"
    assert WindowMemoryExtractor(space, "ntm").core.compile_mode is None
    with pytest.raises(ValueError, match=r"compile must be True, False or one of"):
        WindowMemoryExtractor(space, "ntm", compile="fast")

"""The opt-in torch.compile of the cores from a preset: ``compile: true`` trains, and a
saved model loads with its cores compiled again. One tiny step-form core (NTM, 4 slots)
keeps the compile cheap enough for a 2-core CI machine."""

from __future__ import annotations

import pytest
import torch

from memrl.config import AgentConfig
from memrl.envs import make_vec
from memrl.sb3 import MemoryPPO

TINY_NTM = dict(memory_slots=4, slot_size=4, controller_size=8)


def compiled_preset(**overrides) -> AgentConfig:
    data = dict(
        name="ntm-compiled",
        memory="ntm",
        memory_kwargs=TINY_NTM,
        n_envs=2,
        n_steps=8,
        seq_len=4,
        batch_size=8,
        n_epochs=1,
        compile=True,
    )
    return AgentConfig.from_dict({**data, **overrides}, "test")


def test_a_compiled_preset_trains_and_a_saved_model_keeps_the_flag(tmp_path):
    agent = compiled_preset()
    env = make_vec("memrl/TMaze-v0", n_envs=agent.n_envs, seed=0, corridor_length=2)
    model = MemoryPPO("MlpMemoryPolicy", env, **agent.sb3_kwargs(), seed=0, device="cpu")
    core = model.policy.core
    assert core.compile_mode == "default"
    model.learn(16)  # one rollout (no_grad steps) and one update (a grad unroll)
    assert model.num_timesteps >= 16
    # The unroll went through the compiled step, and training stayed finite.
    assert core._compiled_steps, "the unroll did not go through a compiled per-step function"
    assert all(torch.isfinite(p).all() for p in model.policy.parameters())

    model.save(tmp_path / "model.zip")
    loaded = MemoryPPO.load(tmp_path / "model.zip", device="cpu")
    assert loaded.policy.compile_cores is True
    assert loaded.policy.core.compile_mode == "default"
    torch.testing.assert_close(
        loaded.policy.state_dict(), model.policy.state_dict(), rtol=0, atol=0
    )
    env.close()


@pytest.mark.parametrize("shared_memory", [True, False])
def test_every_core_of_the_policy_is_compiled_in_the_mode_asked(shared_memory):
    agent = compiled_preset(compile="max-autotune-no-cudagraphs", shared_memory=shared_memory)
    env = make_vec("memrl/TMaze-v0", n_envs=2, seed=0, corridor_length=2)
    policy = MemoryPPO("MlpMemoryPolicy", env, **agent.sb3_kwargs(), device="cpu").policy
    extractors = policy._memory_extractors()
    assert len(extractors) == (1 if shared_memory else 2)
    assert {e.core.compile_mode for e in extractors} == {"max-autotune-no-cudagraphs"}
    env.close()

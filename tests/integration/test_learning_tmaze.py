"""Learning tests: MemoryPPO must remember the T-maze cue; memoryless PPO cannot.

Why the thresholds prove memory: in memrl/TMaze-v0 the junction looks the same for both
cues, so any policy without memory has an expected return <= 0 (memrl/envs/tmaze.py proves
it; tests/unit/test_tmaze.py checks every memoryless table policy). A mean return >= 0.9
needs the cued arm in at least 95% of episodes, i.e. the cue carried over the 11 steps of
the corridor. The same budget given to SB3's PPO must stay near 0.
"""

from __future__ import annotations

import pytest
from stable_baselines3 import PPO
from stable_baselines3.common.evaluation import evaluate_policy

from memrl.envs import make_vec
from memrl.sb3 import MemoryPPO

ENV_ID = "memrl/TMaze-v0"  # corridor of 10 cells
PPO_ARGS = dict(n_steps=128, batch_size=256, n_epochs=4, learning_rate=1e-3, ent_coef=0.01)
EVAL_EPISODES = 200

pytestmark = pytest.mark.slow


def mean_return(model) -> float:
    env = make_vec(ENV_ID, n_envs=4, seed=123)
    mean, _ = evaluate_policy(model, env, n_eval_episodes=EVAL_EPISODES, deterministic=True)
    return mean


@pytest.mark.parametrize(
    ("memory", "memory_kwargs", "steps"),
    [
        ("lstm", dict(hidden_size=64), 100_000),
        ("dnc", dict(memory_slots=16, slot_size=16, controller_size=64, read_heads=1), 100_000),
    ],
)
def test_memory_ppo_remembers_the_cue(memory, memory_kwargs, steps):
    model = MemoryPPO(
        "MlpMemoryPolicy",
        make_vec(ENV_ID, n_envs=8, seed=0),
        seq_len=64,
        seed=0,
        device="cpu",
        policy_kwargs=dict(memory=memory, memory_kwargs=memory_kwargs),
        **PPO_ARGS,
    )
    model.learn(steps)
    assert mean_return(model) >= 0.9


def test_memoryless_ppo_stays_near_zero():
    model = PPO("MlpPolicy", make_vec(ENV_ID, n_envs=8, seed=0), seed=0, device="cpu", **PPO_ARGS)
    model.learn(100_000)
    # <= 0 in expectation; 0.25 leaves room for the evaluation's sampling noise.
    assert mean_return(model) <= 0.25

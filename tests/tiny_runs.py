"""Tiny training runs shared by the test files: a few seconds each on the T-maze with
corridor 2."""

# `memrl train` arguments for an lstm agent.
TINY_LSTM_TRAIN_ARGS = [
    "--agent",
    "lstm",
    "--n-envs",
    "2",
    "--no-progress",
    "--set",
    "n_steps=32",
    "seq_len=16",
    "batch_size=32",
    "memory_kwargs.hidden_size=8",
    "env.kwargs.corridor_length=2",
    "env.eval_episodes=4",
    "curve_episodes=2",
]

# `--set` overrides for a memnet agent.
TINY_MEMNET_OVERRIDES = [
    "n_envs=2",
    "n_steps=32",
    "seq_len=16",
    "batch_size=32",
    "memory_kwargs.memory_slots=4",
    "memory_kwargs.key_size=8",
    "env.kwargs.corridor_length=2",
    "env.eval_episodes=2",
    "curve_episodes=2",
]

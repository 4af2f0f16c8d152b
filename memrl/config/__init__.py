"""Agent presets, environment suites and run configurations: frozen dataclasses loaded from YAML.

Three kinds of files:

- an **agent preset** (``agents/<name>.yaml``): the memory core and its arguments, the algorithm
  and its hyperparameters (SB3's names), ``n_envs``, ``seq_len``, ``device``. Loaded into an
  :class:`AgentConfig`.
- an **environment suite** (``envs/<suite>.yaml``): environment ids with kwargs, wrappers, a
  step budget and a ``solved_at`` threshold each. Loaded into a :class:`SuiteConfig`.
- a **run configuration** (``config.yaml`` in every run directory): the resolved agent, the
  environment, the step budget and the seed; :class:`RunConfig`. Loading it back and training
  again with the same seed reproduces the run exactly.

Every value is checked when the file is loaded: an unknown key, a wrong type or an impossible
value raises :class:`ConfigError`, whose message names the file, the key and what is accepted.
Nothing is evaluated: schedules are structured YAML, e.g.
``learning_rate: {schedule: linear, start: 1.0e-3, end: 1.0e-4}``.

Overrides (the command's ``--set key=value``) use dotted keys (``memory_kwargs.memory_slots=32``);
the value is parsed by ``yaml.safe_load`` and validated like the file.

The package: ``reader`` (typed values out of one mapping; checks from :mod:`memrl.checks`),
``agent``, ``env`` (environments and suites), ``run_config``, ``files`` (where presets are
found, YAML in and out, overrides). Every file is parsed once, into these dataclasses.

Presets are looked up in the installed package (``memrl/_presets/agents``, ``.../envs``: the
wheel ships them there) and then in the source checkout (``agents/`` and ``envs/`` beside the
``memrl`` package, as in an editable install).
"""

from memrl.config.agent import (
    ALGORITHMS,
    DEVICES,
    MEMORY_ONLY_KEYS,
    RECURRENT_PPO_ONLY_KEYS,
    AgentConfig,
    GumbelSchedule,
    LinearSchedule,
)
from memrl.config.env import EnvConfig, SuiteConfig, SuiteEntry
from memrl.config.files import (
    agent_presets,
    apply_overrides,
    env_defaults,
    load_agent,
    load_run_config,
    load_suite,
    parse_override,
    preset_dirs,
    read_yaml,
    suite_files,
    to_yaml,
)
from memrl.config.reader import ConfigError
from memrl.config.run_config import RUN_KEYS, RunConfig

__all__ = [
    "ALGORITHMS",
    "DEVICES",
    "MEMORY_ONLY_KEYS",
    "RECURRENT_PPO_ONLY_KEYS",
    "RUN_KEYS",
    "AgentConfig",
    "ConfigError",
    "EnvConfig",
    "GumbelSchedule",
    "LinearSchedule",
    "RunConfig",
    "SuiteConfig",
    "SuiteEntry",
    "agent_presets",
    "apply_overrides",
    "env_defaults",
    "load_agent",
    "load_run_config",
    "load_suite",
    "parse_override",
    "preset_dirs",
    "read_yaml",
    "suite_files",
    "to_yaml",
]

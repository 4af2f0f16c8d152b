"""Preset and run files: where they are found, YAML in and out, ``--set`` overrides."""

from __future__ import annotations

import copy
import importlib.resources
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from memrl.config.agent import AgentConfig
from memrl.config.env import SuiteConfig
from memrl.config.reader import ConfigError
from memrl.config.run_config import RunConfig

__all__ = [
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


def to_yaml(data: Mapping[str, Any], header: str = "") -> str:
    """YAML text of plain data, keys in the given order, with an optional ``#`` header."""
    text = yaml.safe_dump(dict(data), sort_keys=False, default_flow_style=None, width=100)
    comment = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    return comment + text


def read_yaml(path: Path) -> Any:
    """The YAML document in ``path``; bad YAML or text is a :class:`ConfigError`."""
    try:
        with path.open(encoding="utf-8") as file:
            return yaml.safe_load(file)
    except yaml.YAMLError as error:
        raise ConfigError(str(path), "", f"not valid YAML: {_yaml_problem(error)}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(str(path), "", f"not a UTF-8 text file ({error.reason})") from None


def _yaml_problem(error: yaml.YAMLError) -> str:
    """One line: what is wrong and where (``line 3, column 7``)."""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    mark = getattr(error, "problem_mark", None)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else problem


def parse_override(text: str) -> tuple[str, Any]:
    """``"a.b=value"`` -> ``("a.b", yaml.safe_load("value"))``."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(
            "--set",
            text,
            "expected key=value with a dotted key, e.g. memory_kwargs.memory_slots=32",
        )
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as error:
        problem = f"value is not valid YAML: {_yaml_problem(error)}"
        raise ConfigError("--set", key, problem) from None
    return key, value


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A deep copy of ``data`` with each ``key=value`` override set (dotted keys nest)."""
    result = copy.deepcopy(dict(data))
    for text in overrides:
        key, value = parse_override(text)
        parts = key.split(".")
        target = result
        for depth, part in enumerate(parts[:-1]):
            child = target.get(part)
            if child is None:
                child = target[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(
                    "--set", key, f"{'.'.join(parts[: depth + 1])} is not a mapping ({child!r})"
                )
            target = child
        target[parts[-1]] = value
    return result


def preset_dirs(kind: str) -> list[Path]:
    """Where presets of ``kind`` (``"agents"`` or ``"envs"``) are looked up, in order."""
    if kind not in ("agents", "envs"):
        raise ValueError(f"kind must be 'agents' or 'envs', got {kind!r}")
    dirs = []
    installed = importlib.resources.files("memrl") / "_presets" / kind
    if installed.is_dir():
        dirs.append(Path(str(installed)))
    checkout = Path(__file__).resolve().parents[2] / kind
    if checkout.is_dir():
        dirs.append(checkout)
    return dirs


def _named_files(kind: str) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for directory in preset_dirs(kind):
        for path in sorted(directory.glob("*.yaml")):
            found.setdefault(path.stem, path)
    return found


def agent_presets() -> dict[str, Path]:
    """Agent preset name -> file."""
    return _named_files("agents")


def suite_files() -> dict[str, Path]:
    """Suite name -> file."""
    return _named_files("envs")


def _resolve_file(name_or_path: str | Path, kind: str, files: dict[str, Path]) -> Path:
    text = str(name_or_path)
    if text in files:
        return files[text]
    path = Path(text).expanduser()
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(text, "", f"no such {kind} file")
        return path
    raise ConfigError(
        text, "", f"unknown {kind} preset; presets: {', '.join(files) or '(none)'} (or a YAML path)"
    )


def load_agent(name_or_path: str | Path, overrides: Sequence[str] = ()) -> AgentConfig:
    """An agent preset by name (``memrl list``) or from a YAML file, with ``--set`` overrides."""
    path = _resolve_file(name_or_path, "agent", agent_presets())
    data = read_yaml(path)
    if overrides:
        data = apply_overrides(data if isinstance(data, Mapping) else {}, overrides)
    source = f"{path}" + (" (with --set overrides)" if overrides else "")
    return AgentConfig.from_dict(data, source, default_name=path.stem)


def load_suite(name_or_path: str | Path) -> SuiteConfig:
    """A suite by name (``quick``) or from a YAML file."""
    path = _resolve_file(name_or_path, "suite", suite_files())
    return SuiteConfig.from_dict(read_yaml(path), str(path))


def load_run_config(path: str | Path, overrides: Sequence[str] = ()) -> RunConfig:
    """A run's ``config.yaml`` (a run directory is accepted too), with overrides.

    Overrides address the run's keys: ``steps=...``, ``env.kwargs.x=...``, ``agent.x=...``.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "config.yaml"
    if not path.is_file():
        raise ConfigError(str(path), "", "no such run configuration file")
    data = read_yaml(path)
    if overrides:
        data = apply_overrides(data if isinstance(data, Mapping) else {}, overrides)
    return RunConfig.from_dict(data, str(path))


def env_defaults(env_id: str) -> dict[str, Any]:
    """``solved_at`` and ``eval_episodes`` for ``env_id`` from the first suite listing it.

    Only the judging values are taken (a threshold is about the return's scale, which the
    env's kwargs do not change for the built-in suites); kwargs and budgets are not. A suite
    file that does not load is passed over here: it is reported when it is itself used.
    """
    for path in suite_files().values():
        try:
            suite = load_suite(path)
        except ConfigError:
            continue
        for entry in suite.envs:
            if entry.env.id == env_id:
                return {"solved_at": entry.env.solved_at, "eval_episodes": entry.env.eval_episodes}
    return {}

"""``memrl list``: memory cores, agent presets, environments and suites."""

from __future__ import annotations

import argparse

from memrl.config import ConfigError

__all__ = ["add_parser", "run"]


def add_parser(commands) -> None:
    """Add ``list`` to the subcommands."""
    listing = commands.add_parser(
        "list",
        help="list memory cores, agent presets, environments and suites",
        description="List memory cores, agent presets, registered memrl environments and suites.",
    )
    listing.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from memrl.config import agent_presets, load_agent, load_suite, suite_files
    from memrl.envs import registered_ids
    from memrl.memory import core_names

    print("memory cores:")
    print("  " + ", ".join(core_names()))
    print("\nagent presets (--agent):")
    presets = agent_presets()
    width = max((len(n) for n in presets), default=0)
    for name, path in presets.items():
        try:
            description = load_agent(path).description
        except ConfigError as error:
            description = f"(invalid: {error})"
        print(f"  {name:<{width}}  {description}")
    print("\nmemrl environments (--env; also MiniGrid-..., popgym-..., any Gymnasium id):")
    for env_id in registered_ids():
        print(f"  {env_id}")
    print("\nsuites (memrl bench SUITE):")
    suites = suite_files()
    width = max((len(n) for n in suites), default=0)
    for name, path in suites.items():
        try:
            suite = load_suite(path)
            summary = ", ".join(entry.env.label for entry in suite.envs)
        except ConfigError as error:
            summary = f"(invalid: {error})"
        print(f"  {name:<{width}}  {summary}")
    return 0

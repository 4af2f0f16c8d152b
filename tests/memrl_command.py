"""The ``memrl`` command run as a subprocess, as a user runs it: shared by the test files
that check what it prints, how it exits and what it leaves behind."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

MODULE = (sys.executable, "-m", "memrl")


def _environment() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def run_memrl(
    *args: str | Path,
    cwd: Path | None = None,
    timeout: float = 120,
    command: Sequence[str] = MODULE,
) -> subprocess.CompletedProcess:
    """Run ``command args`` to the end and return its exit status and text output."""
    return subprocess.run(
        [*command, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env=_environment(),
    )


def start_memrl(
    *args: str | Path, cwd: Path | None = None, new_session: bool = False
) -> subprocess.Popen:
    """Start ``python -m memrl args`` without waiting, its output piped as text; with
    ``new_session`` in a process group of its own (its pid), for signals to the group."""
    return subprocess.Popen(
        [*MODULE, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=_environment(),
        start_new_session=new_session,
    )

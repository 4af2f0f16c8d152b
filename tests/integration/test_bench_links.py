"""Smoke test of scripts/bench_links.py: it runs end to end at tiny sizes and prints its
table of dense vs sparse link times (not any speed)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_links.py"


def script(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def test_table_at_tiny_sizes():
    assert "--slots" in script("--help").stdout
    out = script(
        *("--slots", "4,9", "--k", "2", "--batch", "2", "--read-heads", "1"),
        *("--steps", "2", "--repeats", "1", "--warmup", "0"),
    ).stdout
    for n in (4, 9):
        row = re.search(rf"^\| {n} \| ([0-9.]+) \| ([0-9.]+) \| ([0-9.]+) \|$", out, re.M)
        assert row, f"no table row for N={n}:\n{out}"
        assert all(float(value) > 0 for value in row.groups())

"""Smoke test of scripts/bench_cores.py: it runs end to end at tiny sizes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_cores.py"
TINY = [
    "--batch", "2", "--steps", "3", "--input-size", "3", "--slots", "4", "--slot-size", "2",
    "--read-heads", "1", "--controller", "4", "--repeats", "1", "--warmup", "0",
]  # fmt: skip


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300
    )


def test_help():
    result = run("--help")
    assert result.returncode == 0
    assert "--cores" in result.stdout and "--profile" in result.stdout


def test_table_at_tiny_sizes():
    result = run(*TINY, "--cores", "lstm,dnc")
    assert result.returncode == 0, result.stderr
    for core in ("torch.nn.LSTM", "lstm", "dnc"):
        row = re.search(rf"^{re.escape(core)}\s+([0-9.]+)\s+([0-9.]+)$", result.stdout, re.M)
        assert row, f"no table row for {core}:\n{result.stdout}"
        assert float(row.group(1)) > 0
    assert re.search(r"^torch.nn.LSTM\s+[0-9.]+\s+1.00$", result.stdout, re.M)
    assert "failed" not in result.stdout


def test_profile_prints_operations():
    result = run(*TINY, "--profile", "dnc", "--no-package", "--profile-rows", "5")
    assert result.returncode == 0, result.stderr
    assert "Self CPU" in result.stdout


def test_unknown_core_is_a_clear_error():
    result = run("--cores", "no-such-core")
    assert result.returncode != 0
    assert "unknown cores" in result.stderr and "registered" in result.stderr


def test_resets_adds_a_column_for_the_unroll_with_episode_starts():
    result = run(*TINY, "--cores", "lstm,dnc", "--resets", "2", "--no-package")
    assert result.returncode == 0, result.stderr
    assert "episode starts: 2 (--resets)" in result.stdout
    assert re.search(r"^core\s+ms/step\s+x LSTM\s+ms/step resets\s+x LSTM$", result.stdout, re.M)
    for core in ("lstm", "dnc"):
        row = re.search(
            rf"^{core}\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)$", result.stdout, re.M
        )
        assert row, f"no row with resets for {core}:\n{result.stdout}"
        assert float(row.group(3)) > 0
    # torch.nn.LSTM cannot reset inside a sequence: no time with resets for the reference.
    assert re.search(r"^torch.nn.LSTM\s+[0-9.]+\s+1.00\s+-\s+-$", result.stdout, re.M)


def test_resets_must_be_positive():
    result = run("--resets", "0")
    assert result.returncode != 0
    assert "--resets must be >= 1" in result.stderr

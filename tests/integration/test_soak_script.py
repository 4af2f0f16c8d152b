"""``scripts/soak.py`` with a tiny budget: one core, two rows, a summary (the real soak,
a million steps per core, is run by hand); a second soak keeps the first's rows."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "soak.py"


def soak(cores: str, *arguments: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--cores", cores, *arguments],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_soak_script_logs_memory_and_finiteness(tmp_path):
    out = tmp_path / "soak"
    budget = ["--steps", "2048", "--every", "1024", "--jobs", "1"]
    result = soak("lstm", *budget, "--out", str(out))
    rows = list(csv.DictReader((out / "soak.csv").open()))
    assert [(row["core"], int(row["steps"])) for row in rows] == [("lstm", 1024), ("lstm", 2048)]
    assert all(float(row["rss_mb"]) > 10 and row["finite"] == "True" for row in rows)
    assert (out / "lstm.csv").read_text() == (out / "soak.csv").read_text()
    assert "lstm     yes" in result.stdout and "Traceback" not in result.stderr

    # A later soak of another core keeps the earlier cores' rows in soak.csv and the summary.
    result = soak("mlp", *budget, "--out", str(out))
    rows = list(csv.DictReader((out / "soak.csv").open()))
    assert [row["core"] for row in rows] == ["mlp", "mlp", "lstm", "lstm"]
    assert "mlp      yes" in result.stdout and "lstm     yes" in result.stdout

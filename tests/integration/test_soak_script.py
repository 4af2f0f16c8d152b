"""``scripts/soak.py`` with a tiny budget: one core, two rows, a summary (the real soak,
a million steps per core, is run by hand)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "soak.py"


def test_soak_script_logs_memory_and_finiteness(tmp_path):
    out = tmp_path / "soak"
    budget = ["--steps", "2048", "--every", "1024", "--jobs", "1"]
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--cores", "lstm", *budget, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader((out / "soak.csv").open()))
    assert [(row["core"], int(row["steps"])) for row in rows] == [("lstm", 1024), ("lstm", 2048)]
    assert all(float(row["rss_mb"]) > 10 and row["finite"] == "True" for row in rows)
    assert (out / "lstm.csv").read_text() == (out / "soak.csv").read_text()
    assert "lstm     yes" in result.stdout and "Traceback" not in result.stderr

"""scripts/supervised_table.py with a tiny budget: runs, skips finished runs, writes the table."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "supervised_table.py"


def load_script():
    spec = importlib.util.spec_from_file_location("supervised_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_table_script_with_a_tiny_budget(tmp_path, capsys):
    script = load_script()
    tiny = ["--out", str(tmp_path), "--scale", "0.001", "--test-episodes", "2", "--no-progress"]
    assert script.main([*tiny, "--only", "copy-lstm", "deduction-lstm"]) == 0
    out = capsys.readouterr().out
    assert "--- copy-lstm" in out and "--- deduction-lstm" in out
    table = (tmp_path / "table.md").read_text()
    assert "| lstm |" in table and "| deduction | lstm |" in table
    assert (tmp_path / "copy_length_generalisation.png").stat().st_size > 0
    assert script.main([*tiny, "--only", "copy-lstm"]) == 0
    assert "--- copy-lstm" not in capsys.readouterr().out  # finished runs are skipped

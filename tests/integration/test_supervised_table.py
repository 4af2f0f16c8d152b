"""scripts/supervised_table.py with a tiny budget: runs, skips finished runs, writes the table."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from memrl.supervised import read_config

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
    assert "| single_fact | *last place mentioned (no memory of who)* |" in table
    assert (tmp_path / "copy_length_generalisation.png").stat().st_size > 0
    assert script.main([*tiny, "--only", "copy-lstm"]) == 0
    assert "--- copy-lstm" not in capsys.readouterr().out  # finished runs are skipped


def test_a_run_directory_of_another_config_is_refused_and_more_iterations_continue(
    tmp_path, capsys
):
    script = load_script()
    tiny = ["--out", str(tmp_path), "--test-episodes", "2", "--no-progress", "--only", "copy-lstm"]
    assert script.main([*tiny, "--scale", "0.001"]) == 0
    with pytest.raises(SystemExit) as exit_:  # other test episodes: other numbers
        script.main([*tiny[:3], "3", *tiny[4:], "--scale", "0.001"])
    assert exit_.value.code == 2
    assert "holds a run of another config" in capsys.readouterr().err
    capsys.readouterr()
    assert script.main([*tiny, "--scale", "0.002"]) == 0
    assert "--- copy-lstm" in capsys.readouterr().out
    assert read_config(tmp_path / "copy-lstm").iterations == 4
    with pytest.raises(SystemExit):
        script.main([*tiny, "--scale", "0.001"])
    assert "trained for more iterations" in capsys.readouterr().err


def test_last_place_mentioned_answers_the_latest_place_word():
    script = load_script()
    vocabulary = ["Mary", "John", "went", "to", "kitchen", "garden", "?"]
    stories = [
        "Mary went to kitchen John went to garden ?".split(),
        "John went to garden Mary went to kitchen ?".split(),
    ]
    x = torch.zeros(len(stories[0]), len(stories), len(vocabulary))
    for b, story in enumerate(stories):
        for t, word in enumerate(story):
            x[t, b, vocabulary.index(word)] = 1.0
    answers = script.LastPlaceMentioned(vocabulary)(x).argmax(-1)  # [T, B]
    # Before any place: the word at step 0; then the latest place at or before each step.
    expected = [
        ["Mary", "Mary", "Mary", "kitchen", "kitchen", "kitchen", "kitchen", "garden", "garden"],
        ["John", "John", "John", "garden", "garden", "garden", "garden", "kitchen", "kitchen"],
    ]
    assert [[vocabulary[i] for i in answers[:, b]] for b in range(2)] == expected

"""memrl.supervised's batches of generated episodes, model, loss and error (no training)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from memrl.checks import CheckError
from memrl.supervised import SupervisedConfig, TaskData, build_model, resolve_core, resolve_task
from memrl.supervised.model import batch_errors, batch_loss


def test_copy_batch_targets_are_the_input_bits() -> None:
    data = TaskData("Copy")
    assert (data.kind, data.input_size, data.output_size) == ("bits", 6, 4)
    batch = data.batch(5, 7, seed=3)
    assert batch.x.shape == (11, 7, 6) and batch.targets.shape == (11, 7, 4)
    assert batch.mask[:6].sum() == 0 and batch.mask[6:].all()
    torch.testing.assert_close(batch.targets[6:], batch.x[:5, :, :4])
    assert (batch.x[6:, :, -1] == 1).all()  # the respond flag, nothing else
    assert (batch.x[6:, :, :-1] == 0).all()


def test_batches_are_a_function_of_the_seed() -> None:
    data = TaskData("memrl/RepeatCopy-v0")
    first, second = data.batch(3, 4, seed=1), data.batch(3, 4, seed=1)
    torch.testing.assert_close(first.x, second.x)
    torch.testing.assert_close(first.targets, second.targets)
    assert not torch.equal(first.x, data.batch(3, 4, seed=2).x)


def test_episodes_of_different_lengths_are_padded_after_their_end() -> None:
    # RepeatCopy draws its repeat count per episode: one batch holds several lengths.
    data = TaskData("RepeatCopy", {"min_repeats": 1, "max_repeats": 3})
    batch = data.batch(2, 16, seed=0)
    ends = batch.mask.int().cumsum(0).argmax(0) + 1  # one past each episode's last output
    assert len(set(ends.tolist())) > 1
    for b, end in enumerate(ends.tolist()):
        assert not batch.x[end:, b].any() and not batch.mask[end:, b].any()


def test_story_batch_scores_the_answer_at_the_question_mark() -> None:
    data = TaskData("StoryQA", {"task": "deduction"})
    assert data.kind == "answer" and data.output_size == data.input_size == 41
    batch = data.batch(3, 8, seed=0)
    assert batch.targets.dtype == torch.int64 and (batch.mask.sum(0) == 1).all()
    question_mark = 1  # "?" in the vocabulary
    assert (batch.x[batch.mask].argmax(-1) == question_mark).all()
    answers = {"sheep", "wolves", "mice", "cats"}
    vocabulary = data.env(3).vocabulary
    assert {vocabulary[i] for i in batch.targets[batch.mask].tolist()} <= answers


def test_priority_sort_length_is_the_number_of_items() -> None:
    data = TaskData("PrioritySort")
    assert data.env(3).num_items == 3 and data.env(3).num_outputs == 3
    assert data.env(20).num_items == 20 and data.env(20).num_outputs == 6
    batch = data.batch(10, 2, seed=0)
    assert batch.x.shape[0] == 10 + 1 + 6 and batch.mask.sum() == 2 * 6


def test_loss_and_error_count_only_the_scored_steps() -> None:
    data = TaskData("Copy")
    batch = data.batch(2, 3, seed=0)
    perfect = torch.where(batch.targets > 0, 10.0, -10.0)
    perfect[~batch.mask] = 10.0  # unscored steps may say anything
    wrong, scored = batch_errors("bits", perfect, batch)
    assert int(wrong) == 0 and scored == 2 * 3 * 4
    assert float(batch_loss("bits", perfect, batch)) < 1e-4
    assert int(batch_errors("bits", -perfect, batch)[0]) == scored


def test_answer_error_counts_wrong_answers() -> None:
    data = TaskData("StoryQA")
    batch = data.batch(2, 5, seed=0)
    logits = torch.nn.functional.one_hot(batch.targets, 41).float() * 5
    assert int(batch_errors("answer", logits, batch)[0]) == 0
    logits[:, 0] = torch.roll(logits[:, 0], 1, dims=-1)
    assert int(batch_errors("answer", logits, batch)[0]) == 1


@pytest.mark.parametrize("core", ["lstm", "ntm", "dnc", "memnet", "mnm-g"])
def test_models_give_logits_per_step(core: str) -> None:
    model = build_model(core, {}, 6, 4)
    assert model(torch.zeros(5, 2, 6)).shape == (5, 2, 4)


def test_agent_presets_give_their_memory_kwargs() -> None:
    assert resolve_core("mnm-g") == (
        "mnm",
        {"controller_size": 64, "key_size": 16, "update": "gradient"},
    )
    assert resolve_core("ntm", {"memory_slots": 8}) == ("ntm", {"memory_slots": 8})
    assert resolve_core("memnet-parallel", {"hops": 2})[1]["hops"] == 2


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: resolve_core("mlp"), "core"),
        (lambda: resolve_core("nope"), "core"),
        (lambda: resolve_task("Nope"), "task"),
        (lambda: TaskData("TMaze"), "task"),
        (lambda: TaskData("Copy", {"bits": 0}), "task_kwargs"),
        (lambda: build_model("lstm", {"hidden_size": 0}, 6, 4), "core_kwargs"),
        (lambda: build_model("lstm", {"slots": 3}, 6, 4), "core_kwargs"),
        (lambda: SupervisedConfig("Copy", "lstm", train_lengths=(0, 3)), "train_lengths"),
        (lambda: SupervisedConfig("Copy", "lstm", train_lengths=(4, 3)), "train_lengths"),
        (lambda: SupervisedConfig("Copy", "lstm", test_lengths=()), "test_lengths"),
        (lambda: SupervisedConfig("Copy", "lstm", iterations=0), "iterations"),
        (lambda: SupervisedConfig("Copy", "lstm", learning_rate=-1.0), "learning_rate"),
        (lambda: SupervisedConfig("Copy", "lstm", batch_size=2.5), "batch_size"),
    ],
)
def test_bad_arguments_name_the_argument(call, name: str) -> None:
    with pytest.raises(CheckError) as caught:
        call()
    assert caught.value.name == name
    assert isinstance(caught.value, ValueError) and str(caught.value).startswith(name)


def test_config_round_trips_through_a_dict() -> None:
    config = SupervisedConfig("Copy", "mnm-g", {"key_size": 8}, test_lengths=(3, 9))
    assert config.task == "memrl/Copy-v0"
    assert SupervisedConfig.from_dict(config.to_dict()) == config
    assert np.array(config.to_dict()["test_lengths"]).tolist() == [3, 9]

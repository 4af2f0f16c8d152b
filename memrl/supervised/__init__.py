"""Supervised training of memory cores on memrl's tasks: the papers' own setting (no RL).

A core with a linear read-out is trained by cross-entropy on a task's targets (bits: binary
cross-entropy and bit error; StoryQA: cross-entropy over the vocabulary and answer
accuracy) on episodes of lengths in a training range, then tested on other lengths::

    from memrl.supervised import SupervisedConfig, train_supervised

    config = SupervisedConfig("Copy", "ntm", train_lengths=(1, 8), test_lengths=(8, 16, 32))
    result = train_supervised(config, "runs/supervised/copy-ntm")
    result.results  # [LengthResult(length=8, error=..., scored=...), ...]

``record_episodes(config, model)`` records a trained model's episodes with what its core read
and wrote, for ``memrl replay``.

``memrl supervised`` is the command-line form. Layer: builds on memory, envs and recall (and
reads agent presets through config).
"""

from memrl.supervised.data import Batch, TaskData, resolve_task
from memrl.supervised.model import SequenceModel, build_model, resolve_core
from memrl.supervised.record import record_episodes
from memrl.supervised.report import LengthResult, read_results, write_plot, write_results
from memrl.supervised.train import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    MODEL_FILE,
    PLOT_FILE,
    RESULTS_FILE,
    SupervisedConfig,
    SupervisedResult,
    evaluate_lengths,
    load_model,
    read_config,
    train_supervised,
)

__all__ = [
    "CHECKPOINT_FILE",
    "CONFIG_FILE",
    "MODEL_FILE",
    "PLOT_FILE",
    "RESULTS_FILE",
    "Batch",
    "LengthResult",
    "SequenceModel",
    "SupervisedConfig",
    "SupervisedResult",
    "TaskData",
    "build_model",
    "evaluate_lengths",
    "load_model",
    "read_config",
    "read_results",
    "record_episodes",
    "resolve_core",
    "resolve_task",
    "train_supervised",
    "write_plot",
    "write_results",
]

"""The README's length-generalisation and story-question table (issue 16, point 4).

Trains each core of the table in turn with ``memrl.supervised`` (one process, one run at a
time, one torch thread), skipping runs whose ``results.csv`` exists, so an interrupted
table picks up where it stopped. Then writes, into ``--out``:

- ``<run>/``: each run's directory (config.json, model.pt, results.csv, plot);
- ``table.md``: copy bit error per test length (trained on lengths 1-8) and StoryQA answer
  accuracy per number of sentences, with each run's training minutes, and the single_fact
  accuracy of answering the last place the story mentioned (no memory of who went where);
- ``copy_length_generalisation.png``: copy bit error against length, one line per core.

Budgets: measured on a 2-core CPU shared with other work, one training iteration (32
episodes of lengths 1-8) takes 0.02 s (lstm), 0.06 s (mnm-g), 0.07 s (ntm), 0.09 s (dnc)
and 0.23 s (memnet with 128 slots); StoryQA stories of 2-6 sentences cost 2-4 times more.
The iteration counts below keep each run within a few minutes on one core (memnet the
longest). ``--scale`` multiplies them (a tiny value for a smoke test).

    python scripts/supervised_table.py --out results/supervised
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from memrl.atomic import atomic_write
from memrl.envs.stories import PLACES
from memrl.supervised import (
    RESULTS_FILE,
    LengthResult,
    SupervisedConfig,
    TaskData,
    evaluate_lengths,
    read_config,
    read_results,
    train_supervised,
    write_plot,
)

COPY_TRAIN, COPY_TEST = (1, 8), (8, 16, 32, 64)
USUAL_ITERATIONS = 2000
USUAL_STORY_RATE = 1e-3
STORY_TRAIN, STORY_TEST = (2, 6), (6, 12)


@dataclass(frozen=True)
class TableRun:
    """One run of the table: its directory name and its supervised config's arguments."""

    name: str
    task: str
    core: str
    core_kwargs: dict[str, Any] = field(default_factory=dict)
    task_kwargs: dict[str, Any] = field(default_factory=dict)
    iterations: int = USUAL_ITERATIONS
    learning_rate: float = USUAL_STORY_RATE
    meta_loss_coef: float = 1.0

    @property
    def is_copy(self) -> bool:
        return self.task == "Copy"

    @property
    def label(self) -> str:
        """The core's name, with the core arguments the run sets and its iterations where
        they are more than the table's usual."""
        details = [
            f"{value} slots" if name == "memory_slots" else f"{name}={value}"
            for name, value in self.core_kwargs.items()
        ]
        if self.iterations > USUAL_ITERATIONS:
            details.append(f"{self.iterations} iterations")
        if not self.is_copy and self.learning_rate != USUAL_STORY_RATE:
            details.append(f"lr {self.learning_rate:g}")
        if self.meta_loss_coef == 0.0:
            details.append("no meta loss")
        return f"{self.core} ({', '.join(details)})" if details else self.core


def _runs() -> list[TableRun]:
    # Copy: 3e-3 is the rate with which every core learns copy in tests/integration/
    # test_learning_copy.py. MemNet keeps one slot per step: 128 slots hold a whole
    # length-64 episode (129 steps) but for its first step, read before step 128.
    # The NTM also runs with 128 slots as in Graves et al. (2014), where the memory outgrows
    # the longest test sequence, and the 16-slot NTM with 3x the iterations: after 2000 it
    # was at 5.8% at L=32. (The 128-slot NTM had not yet learnt L=8 after 2000, at 6.5%; on
    # this machine its 3x run did not fit beside the rest of the table.)
    copy = [
        TableRun(name, "Copy", core, kwargs, iterations=iterations, learning_rate=3e-3)
        for name, core, kwargs, iterations in (
            ("copy-lstm", "lstm", {}, 2000),
            ("copy-ntm", "ntm", {}, 2000),
            ("copy-ntm-128", "ntm", {"memory_slots": 128}, 2000),
            ("copy-ntm-6k", "ntm", {}, 6000),
            ("copy-dnc", "dnc", {}, 2000),
            ("copy-mnm-g", "mnm-g", {}, 2000),
            ("copy-memnet", "memnet", {"memory_slots": 128}, 2000),
        )
    ]
    stories = [
        TableRun(f"{task}-{core}", "StoryQA", core, kwargs, {"task": task}, iterations=1500)
        for task in ("single_fact", "deduction")
        for core, kwargs in (
            ("memnet", {"memory_slots": 96}),  # a 12-sentence story has up to ~80 words
            ("mnm-g", {}),
            ("lstm", {}),
            ("dnc", {}),
        )
    ]
    # single_fact with a higher rate and more iterations: after 1500 at 1e-3 no core was near
    # the 95% the MNM and MemNN papers reach on bAbI task 1. Then a larger MNM, and MemNet
    # with the three hops of Sukhbaatar et al. (2015), for 4000 and then 6000 iterations (the
    # 6000 run resumed the 4000 run's checkpoint).
    longer = [
        TableRun(name, "StoryQA", core, kwargs, {"task": "single_fact"}, iterations, 3e-3)
        for name, core, kwargs, iterations in (
            ("single_fact-mnm-g-4k", "mnm-g", {}, 4000),
            ("single_fact-memnet-hops3-4k", "memnet", {"memory_slots": 96, "hops": 3}, 4000),
            ("single_fact-memnet-hops3-6k", "memnet", {"memory_slots": 96, "hops": 3}, 6000),
        )
    ]
    # The first MNM rows were trained without MNM's meta loss (the harness added it later):
    # kept, as the evidence of what the meta loss does.
    usual = {run.name: run for run in copy + stories}
    mnm_g_4k = TableRun("", "StoryQA", "mnm-g", {}, {"task": "single_fact"}, 4000, 3e-3)
    without_meta_loss = [
        dataclasses.replace(run, name=f"{name}-nometa", meta_loss_coef=0.0)
        for name, run in (
            ("copy-mnm-g", usual["copy-mnm-g"]),
            ("single_fact-mnm-g", usual["single_fact-mnm-g"]),
            ("deduction-mnm-g", usual["deduction-mnm-g"]),
            ("single_fact-mnm-g-4k", mnm_g_4k),
            (
                "single_fact-mnm-g-big-4k",
                dataclasses.replace(mnm_g_4k, core_kwargs={"controller_size": 128, "key_size": 32}),
            ),
        )
    ]
    return copy + stories + longer + without_meta_loss


class LastPlaceMentioned(nn.Module):
    """A single_fact answerer with no memory of who went where: it answers the last place
    the story mentioned, right whenever the person asked about moved last. The bar a model
    must clear to show that it binds people to places.

    ``x [T, B, V]`` one-hot words -> logits ``[T, B, V]``: at step t, the one-hot of the
    latest place word at or before t (of the word at step 0 when none was yet).
    """

    def __init__(self, vocabulary: list[str]) -> None:
        super().__init__()
        self.register_buffer("is_place", torch.tensor([word in PLACES for word in vocabulary]))
        # evaluate_lengths finds the device from a parameter; this one holds nothing.
        self.device_anchor = nn.Parameter(torch.zeros(0), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps = torch.arange(x.shape[0], device=x.device).unsqueeze(1)
        place_steps = torch.where(x[..., self.is_place].any(-1), steps, 0)  # [T, B]
        latest, _ = torch.cummax(place_steps, dim=0)
        answers = x.argmax(-1).gather(0, latest)
        return nn.functional.one_hot(answers, x.shape[-1]).float()


def last_place_accuracy(test_episodes: int) -> list[LengthResult]:
    """LastPlaceMentioned on the test episodes of the table's single_fact runs."""
    data = TaskData("StoryQA", {"task": "single_fact"})
    answerer = LastPlaceMentioned(list(data.env(STORY_TEST[0]).vocabulary))
    return evaluate_lengths(answerer, data, STORY_TEST, test_episodes)


def _config(run: TableRun, scale: float, test_episodes: int) -> SupervisedConfig:
    return SupervisedConfig(
        task=run.task,
        core=run.core,
        core_kwargs=run.core_kwargs,
        task_kwargs=run.task_kwargs,
        train_lengths=COPY_TRAIN if run.is_copy else STORY_TRAIN,
        test_lengths=COPY_TEST if run.is_copy else STORY_TEST,
        iterations=max(1, round(run.iterations * scale)),
        learning_rate=run.learning_rate,
        meta_loss_coef=run.meta_loss_coef,
        test_episodes=test_episodes,
    )


def _minutes(run_dir: Path) -> float:
    state = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)
    return float(state["seconds"]) / 60


def table(out: Path, runs: list[TableRun], last_place: list[LengthResult] | None = None) -> str:
    """The markdown tables of the finished runs under ``out`` (and the accuracy of
    :class:`LastPlaceMentioned`, when given, as a single_fact row)."""
    done = {
        run.name: read_results(out / run.name / RESULTS_FILE) for run in runs if _finished(out, run)
    }
    lines = [
        f"Copy, trained on lengths {COPY_TRAIN[0]}-{COPY_TRAIN[1]}: bit error per test length",
        "",
        "| core | " + " | ".join(f"L={n}" for n in COPY_TEST) + " | iterations | training min |",
        "|---|" + "---:|" * (len(COPY_TEST) + 2),
    ]
    for run in (r for r in runs if r.is_copy and r.name in done):
        errors = " | ".join(f"{row.error:.3f}" for row in done[run.name])
        lines.append(
            f"| {run.label} | {errors} | {run.iterations} | {_minutes(out / run.name):.1f} |"
        )
    lines += [
        "",
        f"StoryQA, trained on {STORY_TRAIN[0]}-{STORY_TRAIN[1]} sentences: answer accuracy per "
        "number of sentences",
        "",
        "| task | core | "
        + " | ".join(f"{n} sentences" for n in STORY_TEST)
        + " | iterations | training min |",
        "|---|---|" + "---:|" * (len(STORY_TEST) + 2),
    ]
    for run in (r for r in runs if not r.is_copy and r.name in done):
        accuracies = " | ".join(f"{row.accuracy:.3f}" for row in done[run.name])
        task = run.task_kwargs["task"]
        lines.append(
            f"| {task} | {run.label} | {accuracies} | {run.iterations} "
            f"| {_minutes(out / run.name):.1f} |"
        )
    if last_place is not None:
        accuracies = " | ".join(f"{row.accuracy:.3f}" for row in last_place)
        lines.append(
            f"| single_fact | *last place mentioned (no memory of who)* | {accuracies} | - | - |"
        )
    return "\n".join(lines) + "\n"


def _finished(out: Path, run: TableRun) -> bool:
    return (out / run.name / RESULTS_FILE).is_file()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("results/supervised"))
    parser.add_argument("--scale", type=float, default=1.0, help="iterations multiplier")
    parser.add_argument("--test-episodes", type=int, default=256, help="episodes per length")
    parser.add_argument("--only", nargs="+", default=None, metavar="RUN", help="run names")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    runs = _runs()
    if args.only is not None:
        unknown = sorted(set(args.only) - {run.name for run in runs})
        if unknown:
            parser.error(f"unknown runs {unknown}; runs: {', '.join(r.name for r in runs)}")
        runs = [run for run in runs if run.name in args.only]
    for run in runs:
        config = _config(run, args.scale, args.test_episodes)
        run_dir = args.out / run.name
        resume = (run_dir / "config.json").is_file()
        if resume:
            saved = read_config(run_dir)
            # A run of another config would put wrong numbers under this run's label; more
            # iterations than saved continue the run.
            if dataclasses.replace(saved, iterations=config.iterations) != config:
                parser.error(f"{run_dir} holds a run of another config than {run}; move it away")
            if saved.iterations > config.iterations:
                parser.error(f"{run_dir} was trained for more iterations than {run}")
            if _finished(args.out, run) and saved.iterations == config.iterations:
                continue
        print(f"--- {run.name}", flush=True)
        train_supervised(config, run_dir, resume=resume, progress=not args.no_progress)
    tables = table(args.out, runs, last_place_accuracy(args.test_episodes))
    atomic_write(args.out / "table.md", tables)
    curves: dict[str, list[LengthResult]] = {
        run.label: read_results(args.out / run.name / RESULTS_FILE)
        for run in runs
        if run.is_copy and _finished(args.out, run)
    }
    if curves:
        write_plot(
            args.out / "copy_length_generalisation.png",
            curves,
            COPY_TRAIN,
            title="copy: trained on lengths 1-8",
        )
    print(tables)
    return 0


if __name__ == "__main__":
    sys.exit(main())

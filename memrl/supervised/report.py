"""The length-generalisation report: ``results.csv`` and the error-against-length plot."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from memrl.atomic import atomic_path, atomic_write

__all__ = ["LengthResult", "read_results", "write_plot", "write_results"]

COLUMNS = ("length", "error", "accuracy", "scored")


@dataclass(frozen=True)
class LengthResult:
    """The error at one test length: the fraction of wrong bits (bit tasks) or of wrong
    answers (StoryQA) over ``scored`` bits or answers; ``accuracy = 1 - error``."""

    length: int
    error: float
    scored: int

    @property
    def accuracy(self) -> float:
        return 1.0 - self.error


def write_results(path: str | Path, results: Sequence[LengthResult]) -> Path:
    """``results.csv``: one row per length (length, error, accuracy, scored)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in results:
        writer.writerow([row.length, f"{row.error:.6f}", f"{row.accuracy:.6f}", row.scored])
    return atomic_write(path, buffer.getvalue())


def read_results(path: str | Path) -> list[LengthResult]:
    """The rows of a ``results.csv``."""
    with Path(path).open(encoding="utf-8", newline="") as file:
        return [
            LengthResult(int(row["length"]), float(row["error"]), int(row["scored"]))
            for row in csv.DictReader(file)
        ]


def write_plot(
    path: str | Path,
    curves: dict[str, Sequence[LengthResult]],
    train_lengths: tuple[int, int],
    *,
    ylabel: str = "bit error",
    title: str = "",
) -> Path:
    """A PNG of error against test length, one line per entry of ``curves`` (label -> rows),
    the training range shaded; log-scaled lengths when they span more than a factor 4."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.8))
    low, high = train_lengths
    lengths = [r.length for rows in curves.values() for r in rows]
    log_scale = bool(lengths) and max(lengths) > 4 * max(1, min([*lengths, low]))
    # Linear: the integer lengths low..high as bins; log: the range itself (a bin of half a
    # length would stretch the axis down to 2^-1).
    span = (low, high) if log_scale else (low - 0.5, high + 0.5)
    axis.axvspan(*span, color="0.85", label=f"training lengths {low}-{high}")
    for label, rows in curves.items():
        axis.plot([r.length for r in rows], [r.error for r in rows], marker="o", label=label)
    if log_scale:
        axis.set_xscale("log", base=2)
    axis.set_xlabel("test length")
    axis.set_ylabel(ylabel)
    axis.set_ylim(bottom=0)
    if title:
        axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=90)
    plt.close(figure)
    return Path(path)

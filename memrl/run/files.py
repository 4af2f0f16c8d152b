"""The run directory: its file names and how each file is read and written.

Every write goes through :func:`memrl.atomic.atomic_write`, so an interrupted run never
leaves a half-written file behind.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memrl.atomic import atomic_write
from memrl.config import EnvConfig, RunConfig, load_run_config, to_yaml

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm

__all__ = [
    "CHECKPOINT_FILE",
    "CONFIG_FILE",
    "CURVE_COLUMNS",
    "CURVE_FILE",
    "EVAL_FILE",
    "MODEL_FILE",
    "PROGRESS_FILE",
    "TENSORBOARD_DIR",
    "add_curve_row",
    "default_run_dir",
    "is_finished",
    "read_curve",
    "read_eval",
    "read_progress",
    "save_model",
    "write_config",
    "write_eval",
    "write_progress",
]

CONFIG_FILE = "config.yaml"
CHECKPOINT_FILE = "checkpoint.zip"
PROGRESS_FILE = "progress.json"
CURVE_FILE = "curve.csv"
MODEL_FILE = "model.zip"
EVAL_FILE = "eval.json"
TENSORBOARD_DIR = "tb"
CURVE_COLUMNS = ("steps", "mean_return", "std_return", "success_rate", "train_return", "seconds")

CONFIG_HEADER = "memrl run configuration: `memrl train --config <this file>` trains it again"


def default_run_dir(agent: str, env: EnvConfig, root: str | Path = "runs") -> Path:
    """``runs/<agent>-<env slug>-<YYYYmmdd-HHMMSS>``."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(root) / f"{agent}-{env.slug.replace('/', '-')}-{stamp}"


def write_config(run_dir: Path, config: RunConfig) -> None:
    """``config.yaml``: the resolved run configuration (``memrl train --config`` reads it)."""
    atomic_write(run_dir / CONFIG_FILE, to_yaml(config.to_dict(), CONFIG_HEADER))


def _write_json(path: Path, data: Any) -> None:
    atomic_write(path, json.dumps(data, indent=2) + "\n")


def _read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``, or ``{}`` when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_model(model: BaseAlgorithm, path: Path) -> None:
    """``model.save`` into ``path``, atomically (SB3 writes a zip into a buffer first)."""
    buffer = io.BytesIO()
    model.save(buffer)
    atomic_write(path, buffer.getvalue())


def write_progress(run_dir: Path, steps: int, train_seconds: float) -> None:
    """``progress.json``: the steps and training seconds of the latest checkpoint."""
    _write_json(
        run_dir / PROGRESS_FILE, {"steps": int(steps), "train_seconds": round(train_seconds, 3)}
    )


def read_progress(run_dir: Path) -> dict[str, Any]:
    """``progress.json`` (``steps``, ``train_seconds``), or ``{}`` before the first checkpoint."""
    return _read_json(run_dir / PROGRESS_FILE)


def write_eval(run_dir: Path, data: Mapping[str, Any]) -> None:
    """``eval.json``: the final evaluation (``EvalResult.to_dict()``)."""
    _write_json(run_dir / EVAL_FILE, dict(data))


def read_eval(run_dir: Path) -> dict[str, Any]:
    """``eval.json`` as written by :func:`write_eval`, or ``{}`` when there is none."""
    return _read_json(run_dir / EVAL_FILE)


def read_curve(run_dir: Path, max_steps: int | None = None) -> list[dict[str, float]]:
    """The rows of ``curve.csv`` (columns :data:`CURVE_COLUMNS`; blanks read as NaN) up to
    ``max_steps``; ``[]`` when there is no curve yet."""
    try:
        with (run_dir / CURVE_FILE).open(newline="") as file:
            rows = [
                {k: float(v) if v not in ("", None) else math.nan for k, v in row.items()}
                for row in csv.DictReader(file)
            ]
    except OSError:
        return []
    return [r for r in rows if max_steps is None or r["steps"] <= max_steps]


def add_curve_row(run_dir: Path, rows: list[dict[str, float]], row: dict[str, float]) -> None:
    """Put ``row`` into ``rows`` in place (it replaces any rows from its step on: a resumed
    run re-evaluates the steps after its checkpoint) and rewrite ``curve.csv``."""
    rows[:] = [r for r in rows if r["steps"] < row["steps"]] + [row]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=CURVE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for entry in rows:
        writer.writerow({k: "" if _missing(entry.get(k)) else entry.get(k) for k in CURVE_COLUMNS})
    atomic_write(run_dir / CURVE_FILE, text.getvalue())


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def is_finished(run_dir: str | Path, config: RunConfig | None = None) -> bool:
    """True when the run wrote its final evaluation (``eval.json``) after training its whole
    budget. The model is not needed: a bench's results kept without their models (as the
    repository keeps ``results/memory-hard``) still count as finished, and are not retrained."""
    run_dir = Path(run_dir)
    data = read_eval(run_dir)
    if not data:
        return False
    try:
        config = config or load_run_config(run_dir / CONFIG_FILE)
    except (OSError, ValueError):
        return False
    return int(data.get("steps", 0)) >= config.steps

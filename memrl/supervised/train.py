"""Supervised training of a core on a task and its length-generalisation evaluation.

An output directory holds ``config.json`` (the :class:`SupervisedConfig`), ``checkpoint.pt``
(model, optimizer, iteration, torch RNG; every ``checkpoint_every`` iterations and on
Ctrl-C), ``model.pt`` (the trained model's state and config), ``results.csv`` (error per
test length) and ``error_vs_length.png``. Every file is written atomically.

Training batches are a function of (seed, iteration) only, so a resumed run sees the same
data as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import pickle
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from memrl.atomic import atomic_path, atomic_write
from memrl.checks import CheckError, ModelFileError, check_int, check_number
from memrl.signals import StopRequest, stop_signals
from memrl.supervised.data import TaskData, resolve_task
from memrl.supervised.model import SequenceModel, batch_errors, batch_loss, build_model
from memrl.supervised.report import LengthResult, write_plot, write_results

__all__ = [
    "CHECKPOINT_FILE",
    "CONFIG_FILE",
    "MODEL_FILE",
    "PLOT_FILE",
    "RESULTS_FILE",
    "SupervisedConfig",
    "SupervisedResult",
    "evaluate_lengths",
    "load_model",
    "train_supervised",
]

CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.pt"
MODEL_FILE = "model.pt"
RESULTS_FILE = "results.csv"
PLOT_FILE = "error_vs_length.png"
_TRAIN_STREAM, _TEST_STREAM = 0, 1  # seed streams: training batches never repeat test ones


@dataclass(frozen=True)
class SupervisedConfig:
    """One supervised run. Checked on construction (``ValueError`` naming the field).

    task: a registered memrl/ id or short name (``Copy``, ``memrl/StoryQA-v0``).
    core: a registered core or an agent preset with a memory (see ``resolve_core``).
    core_kwargs / task_kwargs: constructor arguments on top of the core's and task's own.
    train_lengths: (low, high), lengths drawn uniformly per training batch.
    test_lengths: the lengths evaluated after training.
    meta_loss_coef: weight of the core's auxiliary loss (MNM's meta loss, the paper's
        reconstruction objective), added to the task loss as in MemoryPPO.
    """

    task: str
    core: str
    core_kwargs: dict[str, Any] = field(default_factory=dict)
    task_kwargs: dict[str, Any] = field(default_factory=dict)
    train_lengths: tuple[int, int] = (1, 8)
    test_lengths: tuple[int, ...] = (8, 16, 32, 64)
    iterations: int = 2000
    batch_size: int = 32
    learning_rate: float = 1e-3
    max_grad_norm: float = 10.0
    meta_loss_coef: float = 1.0
    test_episodes: int = 256
    checkpoint_every: int = 500
    seed: int = 0

    def __post_init__(self) -> None:
        set_field = object.__setattr__  # normalising a frozen dataclass's own fields
        set_field(self, "task", resolve_task(self.task))
        if not isinstance(self.core, str) or not self.core:
            raise CheckError("core", "a core or agent preset name", repr(self.core))
        if not isinstance(self.train_lengths, Sequence) or len(self.train_lengths) != 2:
            raise CheckError("train_lengths", "a pair (low, high)", repr(self.train_lengths))
        low, high = (check_int("train_lengths", n, minimum=1) for n in self.train_lengths)
        if low > high:
            raise CheckError("train_lengths", "a range low-high with low <= high", f"{low}-{high}")
        set_field(self, "train_lengths", (low, high))
        if not isinstance(self.test_lengths, Sequence) or not self.test_lengths:
            raise CheckError("test_lengths", "a non-empty list of lengths", repr(self.test_lengths))
        lengths = tuple(check_int("test_lengths", n, minimum=1) for n in self.test_lengths)
        set_field(self, "test_lengths", lengths)
        for name in ("iterations", "batch_size", "test_episodes", "checkpoint_every"):
            set_field(self, name, check_int(name, getattr(self, name), minimum=1))
        set_field(self, "seed", check_int("seed", self.seed, minimum=0))
        for name in ("learning_rate", "max_grad_norm"):
            set_field(self, name, check_number(name, getattr(self, name), positive=True))
        set_field(
            self, "meta_loss_coef", check_number("meta_loss_coef", self.meta_loss_coef, minimum=0)
        )
        for name in ("core_kwargs", "task_kwargs"):
            if not isinstance(getattr(self, name), Mapping):
                raise CheckError(name, "a mapping", repr(getattr(self, name)))
            set_field(self, name, dict(getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (tuples as lists)."""
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SupervisedConfig:
        """The config of :meth:`to_dict`'s mapping."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise CheckError("config", f"fields of {sorted(names)}", repr(unknown))
        values = dict(data)
        for name in ("train_lengths", "test_lengths"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)


@dataclass(frozen=True)
class SupervisedResult:
    """What :func:`train_supervised` did: the error per test length and the mean training
    loss (with the weighted auxiliary loss) over the last 100 iterations."""

    out_dir: Path
    iterations: int
    seconds: float
    final_loss: float
    results: list[LengthResult]


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


def evaluate_lengths(
    model: SequenceModel,
    data: TaskData,
    lengths: Sequence[int],
    episodes: int,
    *,
    seed: int = 0,
    batch_size: int = 64,
) -> list[LengthResult]:
    """Error of ``model`` (in eval mode, no gradients) over ``episodes`` fresh episodes per
    length; the test episodes depend on (seed, length) only."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    results = []
    with torch.no_grad():
        for length in lengths:
            wrong, scored, done = torch.zeros((), device=device), 0, 0
            while done < episodes:
                size = min(batch_size, episodes - done)
                batch = data.batch(length, size, _seed(seed, _TEST_STREAM, length, done)).to(device)
                errors, count = batch_errors(data.kind, model(batch.x), batch)
                wrong, scored, done = wrong + errors, scored + count, done + size
            results.append(LengthResult(length, float(wrong) / scored, scored))
    model.train(was_training)
    return results


def _save_checkpoint(path: Path, model: nn.Module, optimizer, iteration: int, seconds: float):
    state = {
        "iteration": iteration,
        "seconds": seconds,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "torch_rng": torch.get_rng_state(),
    }
    with atomic_path(path) as temporary:
        torch.save(state, temporary)


_CHECKPOINT_KEYS = ("iteration", "seconds", "model", "optimizer", "torch_rng")


def _load_saved(path: Path, device: str | torch.device, keys: Sequence[str]) -> dict[str, Any]:
    """The dict with ``keys`` that this harness saved at ``path`` (tensors only, no pickle).

    Raises:
        FileNotFoundError: nothing at ``path``.
        ModelFileError: ``path`` is not such a file (another file, truncated, other keys).
    """
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise
    # torch's own text here is about trusting pickles, which weights_only never runs.
    except (pickle.UnpicklingError, EOFError, RuntimeError, OSError):
        state = None
    missing = [k for k in keys if k not in state] if isinstance(state, dict) else list(keys)
    if missing:
        raise ModelFileError(
            f"{path}: not a file memrl supervised wrote (lacks {', '.join(missing)}; "
            "expected its model.pt or checkpoint.pt)"
        )
    return state


@contextlib.contextmanager
def _as_model_file_error(path: Path) -> Iterator[None]:
    """Errors of restoring a saved state into a model (other shapes, another config) as
    :class:`ModelFileError` naming ``path``."""
    try:
        yield
    except (RuntimeError, KeyError, TypeError, ValueError) as error:
        raise ModelFileError(
            f"{path}: does not fit this supervised run ({type(error).__name__}: {error})"
        ) from None


def read_config(out_dir: str | Path) -> SupervisedConfig:
    """The config of the supervised run in ``out_dir`` (its ``config.json``).

    Raises:
        FileNotFoundError: no ``config.json`` there.
        ConfigError: the file is not the config of a supervised run (naming the file).
    """
    from memrl.config import ConfigError

    path = Path(out_dir) / CONFIG_FILE
    try:
        return SupervisedConfig.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (TypeError, ValueError) as error:  # JSON, fields and their checks
        raise ConfigError(
            str(path), "", f"not the config of a memrl supervised run ({error})"
        ) from None


def _check_out_dir(config: SupervisedConfig, out_dir: Path, resume: bool) -> None:
    path = out_dir / CONFIG_FILE
    if not resume:
        if path.exists():
            raise FileExistsError(
                f"{out_dir} already holds a supervised run; resume it (--resume) or choose "
                "another output directory"
            )
        return
    if not path.exists():
        raise FileNotFoundError(f"{path}: no supervised run to resume")
    saved = read_config(out_dir)
    changed = [
        f.name
        for f in dataclasses.fields(config)
        if f.name != "iterations" and getattr(saved, f.name) != getattr(config, f.name)
    ]
    if changed:
        raise CheckError(
            ", ".join(changed),
            f"as in {path} to resume (only iterations may change)",
            ", ".join(f"{n}={getattr(config, n)!r}" for n in changed),
        )


def train_supervised(
    config: SupervisedConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    device: str | torch.device = "cpu",
    log: Callable[[str], None] | None = print,
) -> SupervisedResult:
    """Train ``config.core`` with a linear read-out on ``config.task`` by cross-entropy, then
    evaluate it at ``config.test_lengths`` and write the report into ``out_dir``.

    Ctrl-C saves a checkpoint and re-raises ``KeyboardInterrupt``; ``resume=True`` continues
    from the checkpoint (the config must match but for ``iterations``).
    """
    out_dir = Path(out_dir)
    _check_out_dir(config, out_dir, resume)
    data = TaskData(config.task, config.task_kwargs)
    for length in (*config.train_lengths, *config.test_lengths):
        try:
            data.env(length)
        except ValueError as error:
            name = "train_lengths" if length in config.train_lengths else "test_lengths"
            raise CheckError(
                name, f"lengths {config.task} accepts", f"{length} ({error})"
            ) from None
    torch.manual_seed(config.seed)
    model = build_model(config.core, config.core_kwargs, data.input_size, data.output_size)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    start, prior_seconds = 0, 0.0
    checkpoint_path = out_dir / CHECKPOINT_FILE
    if resume and checkpoint_path.exists():
        state = _load_saved(checkpoint_path, device, _CHECKPOINT_KEYS)
        with _as_model_file_error(checkpoint_path):
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["torch_rng"])
            start, prior_seconds = int(state["iteration"]), float(state["seconds"])
    atomic_write(out_dir / CONFIG_FILE, json.dumps(config.to_dict(), indent=2) + "\n")

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=config.iterations,
            initial=min(start, config.iterations),
            unit="batch",
            dynamic_ncols=True,
            mininterval=0.2 if sys.stderr.isatty() else 10.0,
            desc=f"{config.core} on {data.task}",
        )
    began = time.perf_counter()
    losses: list[Tensor] = []
    iteration = start
    low, high = config.train_lengths
    with_aux_loss = config.meta_loss_coef != 0.0
    model.train()
    stop = StopRequest()
    try:
        with stop_signals(stop.request):
            while iteration < config.iterations and not stop.requested:
                length = int(
                    np.random.default_rng(_seed(config.seed, 2, iteration)).integers(low, high + 1)
                )
                batch = data.batch(
                    length, config.batch_size, _seed(config.seed, _TRAIN_STREAM, iteration)
                )
                batch = batch.to(device)
                logits, aux_loss = model.unroll(batch.x, with_loss=with_aux_loss)
                loss = batch_loss(data.kind, logits, batch)
                if aux_loss is not None:
                    loss = loss + config.meta_loss_coef * aux_loss.mean()
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                optimizer.step()
                losses = [*losses[-99:], loss.detach()]
                iteration += 1
                if bar is not None:
                    bar.update(1)
                    if iteration % 50 == 0:
                        bar.set_postfix_str(
                            f"loss {float(torch.stack(losses).mean()):.4f}", refresh=False
                        )
                if iteration % config.checkpoint_every == 0:
                    seconds = prior_seconds + time.perf_counter() - began
                    _save_checkpoint(checkpoint_path, model, optimizer, iteration, seconds)
        if stop.requested:
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        seconds = prior_seconds + time.perf_counter() - began
        _save_checkpoint(checkpoint_path, model, optimizer, iteration, seconds)
        raise
    finally:
        if bar is not None:
            bar.close()
    seconds = prior_seconds + time.perf_counter() - began
    _save_checkpoint(checkpoint_path, model, optimizer, iteration, seconds)
    with atomic_path(out_dir / MODEL_FILE) as temporary:
        torch.save({"config": config.to_dict(), "model": model.state_dict()}, temporary)
    final_loss = float(torch.stack(losses).mean()) if losses else float("nan")

    results = evaluate_lengths(
        model, data, config.test_lengths, config.test_episodes, seed=config.seed
    )
    write_results(out_dir / RESULTS_FILE, results)
    ylabel = "bit error" if data.kind == "bits" else "answer error (1 - accuracy)"
    write_plot(
        out_dir / PLOT_FILE,
        {config.core: results},
        config.train_lengths,
        ylabel=ylabel,
        title=f"{config.core} on {data.task}",
    )
    if log is not None:
        what = "bit error" if data.kind == "bits" else "answer accuracy"
        for row in results:
            value = row.error if data.kind == "bits" else row.accuracy
            log(f"length {row.length:>4}: {what} {value:.4f}")
        log(f"saved: {out_dir}/{RESULTS_FILE}, {PLOT_FILE}, {MODEL_FILE}")
    return SupervisedResult(out_dir, iteration, seconds, final_loss, results)


def load_model(
    out_dir: str | Path, device: str | torch.device = "cpu"
) -> tuple[SupervisedConfig, SequenceModel]:
    """The config and trained model of a finished run in ``out_dir``."""
    path = Path(out_dir) / MODEL_FILE
    state = _load_saved(path, device, ("config", "model"))
    with _as_model_file_error(path):
        config = SupervisedConfig.from_dict(state["config"])
        data = TaskData(config.task, config.task_kwargs)
        model = build_model(config.core, config.core_kwargs, data.input_size, data.output_size)
        model.load_state_dict(state["model"])
    return config, model.to(device)

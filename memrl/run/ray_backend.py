"""A benchmark on Ray Tune (``memrl bench --backend ray``): one Tune trial per planned run.

:class:`RayBackend` is a :class:`~memrl.run.bench.Backend`: it joins a Ray cluster (or
starts Ray on this machine) and runs every planned run as a trial of a grid search, with
``cpus_per_run`` CPUs and ``gpus_per_run`` GPUs each. The trials train into the usual run
directories (:mod:`memrl.run.ray_trial`), so the report comes out as with the local
backend; Tune's own state goes to ``storage``, one experiment ``bench-<k>`` per sweep.

Resuming: the run directories say which runs finished, so only the others reach the backend.
When an earlier experiment in ``storage`` still has every one of them among its unfinished
trials (the same command, interrupted), it is restored (``Tuner.restore``) instead of
starting a new one; its trials pick up their runs' checkpoints.

Ray is imported only here, when a sweep runs: memrl works without it (``memrl[ray]``).
"""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from memrl.checks import check_int, check_number
from memrl.config import ConfigError
from memrl.run.evaluate import format_duration
from memrl.run.files import is_finished
from memrl.run.plan import PlannedRun

__all__ = ["RayBackend", "import_ray"]

INSTALL_HINT = "pip install 'memrl[ray]'"
# The port of `ray start --head` (GCS) and of the Ray Client server (ray://).
DEFAULT_PORTS = {"": 6379, "ray://": 10001}
CONNECT_TIMEOUT = 5.0  # seconds: Ray itself retries an unreachable address for minutes
EXPERIMENT = re.compile(r"bench-(\d+)")


def import_ray() -> ModuleType:
    """The ``ray`` module with Tune.

    Raises:
        ConfigError: Ray Tune is not installed (the message says how to install it).
    """
    try:
        import ray
        import ray.tune  # a bare `ray` lacks Tune's dependencies (pandas, pyarrow)
    except ImportError as error:
        raise ConfigError(
            "--backend ray", "", f"Ray Tune is not installed ({error}); {INSTALL_HINT}"
        ) from None
    return ray


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Fail fast when nothing listens at a cluster ``address`` (``host[:port]`` or
    ``ray://host[:port]``; ``auto`` and ``local`` are Ray's to resolve).

    Raises:
        ConfigError: no connection within ``timeout`` seconds.
    """
    if address in ("auto", "local"):
        return
    scheme = "ray://" if address.startswith("ray://") else ""
    host, colon, port = address.removeprefix(scheme).rpartition(":")
    if not colon:
        host, port = port, str(DEFAULT_PORTS[scheme])
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except (OSError, ValueError) as error:
        raise ConfigError(
            "--address",
            "",
            f"cannot reach a Ray cluster at {address!r} ({error}); start one with "
            "`ray start --head` there, or give its address (auto: the one on this machine)",
        ) from None


def check_resources(nodes: Sequence[dict[str, Any]], cpus: int, gpus: float) -> None:
    """Refuse a sweep that would wait forever: no alive node of ``nodes`` (``ray.nodes()``)
    has ``cpus`` CPUs and ``gpus`` GPUs for one run.

    Raises:
        ConfigError: no node is large enough (the message gives the largest).
    """
    sizes = [
        (float(n["Resources"].get("CPU", 0)), float(n["Resources"].get("GPU", 0)))
        for n in nodes
        if n.get("Alive", True)
    ]
    if any(cpu >= cpus and gpu >= gpus for cpu, gpu in sizes):
        return
    cpu, gpu = max(sizes, default=(0.0, 0.0))
    raise ConfigError(
        "--backend ray",
        "",
        f"no Ray node has {cpus} CPUs and {gpus:g} GPUs for one run (the largest of "
        f"{len(sizes)} has {cpu:g} CPUs and {gpu:g} GPUs); lower --cpus-per-run or "
        "--gpus-per-run, or add a larger node",
    )


def storage_uri(storage: str | Path) -> str:
    """Tune's ``storage_path``: a URI (``s3://...``) as given, a local path made absolute
    (trials run in other working directories)."""
    text = str(storage)
    return text if "://" in text else str(Path(text).expanduser().resolve())


def trial_spec(run: PlannedRun) -> dict[str, Any]:
    """What a trial gets of a planned run: plain data (Tune stores it with the experiment
    and shows it), the run directory absolute."""
    return {
        "name": f"{run.agent}.{run.env_index}.seed{run.seed}",
        "agent": run.agent,
        "env_index": run.env_index,
        "seed": run.seed,
        "run_dir": str(run.run_dir.resolve()),
        "config": run.config.to_dict(),
    }


def experiment_to_run(storage: str, run_dirs: set[str]) -> tuple[str, bool]:
    """The experiment for a sweep of ``run_dirs`` (absolute): ``(path, True)`` for the newest
    restorable ``bench-<k>`` in ``storage`` that holds all of them among its unfinished
    trials, else ``(new name, False)``."""
    from pyarrow import fs
    from ray import tune

    filesystem, root = fs.FileSystem.from_uri(storage)
    found = filesystem.get_file_info(fs.FileSelector(root, allow_not_found=True))
    numbers = sorted(
        (
            int(match[1])
            for info in found
            if info.type == fs.FileType.Directory
            and (match := EXPERIMENT.fullmatch(info.base_name))
        ),
        reverse=True,
    )
    for number in numbers:
        path = f"{storage.rstrip('/')}/bench-{number}"
        if not tune.Tuner.can_restore(path):
            continue
        trials = tune.ExperimentAnalysis(path).trials
        unfinished = {t.config["run"]["run_dir"] for t in trials if t.status != "TERMINATED"}
        if run_dirs <= unfinished:
            return path, True
    return f"bench-{numbers[0] + 1 if numbers else 1}", False


class RayBackend:
    """Runs a benchmark on Ray Tune, one trial per run (see the module docstring).

    Args:
        storage: Tune's experiment storage: a directory every node can reach (a shared file
            system) or a URI (``s3://...``); ``memrl bench`` uses ``OUT/ray``.
        address: the Ray cluster to join (``auto``, ``host:port``, ``ray://host:10001``);
            ``None`` starts Ray on this machine. A Ray already initialized in this process
            is used as it is; one started here stays up for later sweeps until
            ``ray.shutdown()`` or the end of the process.
        cpus_per_run: CPUs of a trial; torch uses as many threads.
        gpus_per_run: GPUs of a trial (fractions share one).
        max_concurrent: at most this many trials at once (default: as many as fit).
        num_cpus: CPUs of a Ray started here (default: all of this machine's).
    """

    def __init__(
        self,
        storage: str | Path,
        address: str | None = None,
        cpus_per_run: int = 1,
        gpus_per_run: float = 0.0,
        max_concurrent: int | None = None,
        num_cpus: int | None = None,
    ) -> None:
        self.storage = storage_uri(storage)
        self.address = address
        self.cpus_per_run = check_int("cpus_per_run", cpus_per_run, minimum=1)
        self.gpus_per_run = check_number("gpus_per_run", gpus_per_run, minimum=0)
        self.max_concurrent = (
            None if max_concurrent is None else check_int("jobs", max_concurrent, minimum=1)
        )
        self.num_cpus = None if num_cpus is None else check_int("num_cpus", num_cpus, minimum=1)

    @property
    def description(self) -> str:
        where = f"the Ray cluster at {self.address}" if self.address else "Ray on this machine"
        cpus = f"{self.cpus_per_run} CPU" + "s" * (self.cpus_per_run > 1)
        gpus = f" and {self.gpus_per_run:g} GPUs" if self.gpus_per_run else ""
        return f"Tune trials on {where} ({cpus}{gpus} each)"

    def connect(self) -> ModuleType:
        """Ray, initialized (joined or started) and checked to have a node for one run.

        Raises:
            ConfigError: Ray is not installed, the address cannot be reached, or no node
                has the resources of one run.
        """
        ray = import_ray()
        if not ray.is_initialized():
            if self.address is not None:
                check_reachable(self.address)
            try:
                ray.init(
                    address=self.address, num_cpus=self.num_cpus, logging_level=logging.WARNING
                )
            except ConnectionError as error:
                raise ConfigError("--address", "", f"cannot join Ray: {error}") from None
        check_resources(ray.nodes(), self.cpus_per_run, self.gpus_per_run)
        return ray

    def run(
        self,
        runs: Sequence[PlannedRun],
        say: Callable[[str], None],
        finished: Callable[[PlannedRun], None],
    ) -> None:
        if not runs:
            return
        self.connect()
        from ray import tune

        from memrl.run import ray_trial

        specs = [trial_spec(run) for run in runs]
        wanted = {spec["run_dir"]: run for spec, run in zip(specs, runs, strict=True)}
        experiment, restore = experiment_to_run(self.storage, set(wanted))
        trainable = tune.with_resources(
            ray_trial.train_trial, {"cpu": self.cpus_per_run, "gpu": self.gpus_per_run}
        )
        if restore:
            say(f"  resuming the Tune experiment {experiment}")
            tuner = tune.Tuner.restore(experiment, trainable, resume_errored=True)
        else:
            tuner = tune.Tuner(
                trainable,
                param_space={"run": tune.grid_search(specs)},
                tune_config=tune.TuneConfig(
                    max_concurrent_trials=self.max_concurrent,
                    # A new trial on a finished one's worker skips importing torch and SB3.
                    reuse_actors=True,
                    trial_name_creator=ray_trial.trial_name,
                    trial_dirname_creator=ray_trial.trial_name,
                ),
                run_config=tune.RunConfig(
                    name=experiment,
                    storage_path=self.storage,
                    verbose=0,
                    callbacks=[ray_trial.Progress()],
                ),
            )
        started, count = time.monotonic(), 0

        def done(run_dir: str) -> None:
            nonlocal count
            if run_dir not in wanted:  # a restored trial whose run had finished: no news
                return
            count += 1
            elapsed = format_duration(time.monotonic() - started)
            say(f"  [{count}/{len(runs)}] {run_dir} ({elapsed})")
            finished(wanted[run_dir])

        with ray_trial.listening(done):
            results = tuner.fit()
        failed = [r for r in results if r.error is not None]
        if failed:
            names = ", ".join(r.config["run"]["run_dir"] for r in failed)
            # Tune's error holds the trial's whole traceback; its last line says what failed.
            last = str(failed[0].error).strip().splitlines()[-1]
            raise RuntimeError(
                f"{len(failed)} of the Tune trials failed ({names}); the first: {last} "
                f"(traceback: {failed[0].path}/error.txt)"
            )
        if not all(is_finished(run.run_dir, run.config) for run in runs):
            raise KeyboardInterrupt  # Tune stopped on Ctrl-C and saved its experiment

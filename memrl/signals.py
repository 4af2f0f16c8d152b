"""Stopping long jobs cleanly: SIGTERM is handled like Ctrl-C.

``kill`` and cluster schedulers (SLURM, Kubernetes) send SIGTERM some seconds before they
kill a job. Treated like Ctrl-C, it lets training save a checkpoint, so no work since the
last periodic checkpoint is lost.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

__all__ = ["STOP_SIGNALS", "StopRequest", "raise_interrupt", "stop_signals"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """A stop asked for by a signal: a training loop checks ``requested`` between steps and
    stops there, with a checkpoint (``stop_signals(stop.request)``)."""

    def __init__(self) -> None:
        self.requested = False

    def request(self) -> None:
        self.requested = True


def raise_interrupt() -> None:
    """A stop action: raise ``KeyboardInterrupt``, as Python's own Ctrl-C handler does."""
    raise KeyboardInterrupt


@contextlib.contextmanager
def stop_signals(on_stop: Callable[[], None]) -> Iterator[None]:
    """Within the block, the first SIGINT (Ctrl-C) or SIGTERM calls ``on_stop`` instead of
    ending the process, and puts back the previous handlers, so a second signal acts as it
    would have (a second Ctrl-C interrupts at once). Outside the main thread (where Python
    cannot set handlers) the block runs with the handlers as they are."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in STOP_SIGNALS}

    def restore() -> None:
        for number, action in previous.items():
            signal.signal(number, action)

    def handler(number: int, frame: FrameType | None) -> None:
        restore()
        on_stop()

    for number in STOP_SIGNALS:
        signal.signal(number, handler)
    try:
        yield
    finally:
        restore()

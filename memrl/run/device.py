"""The torch device and CPU threads of a run."""

from __future__ import annotations

__all__ = ["DeviceError", "resolve_device", "set_threads"]


class DeviceError(ValueError):
    """A device that was asked for but is not there (``cuda`` without a CUDA device)."""


def resolve_device(device: str) -> str:
    """``auto`` as ``cuda`` when torch sees a CUDA device, else ``cpu``; other names as given.

    Raises:
        DeviceError: ``cuda`` was asked for but torch sees no CUDA device.
    """
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise DeviceError(
            "device 'cuda' was asked for but torch sees no CUDA device; accepted here: "
            "--device cpu or --device auto"
        )
    return device


def set_threads(threads: int | None, device: str = "cpu") -> None:
    """Set torch's CPU threads; ``None`` means 1 on CPU (tiny recurrent nets run fastest on
    one thread; two threads fight over two cores) and torch's default otherwise."""
    import torch

    if threads is None:
        if resolve_device(device) != "cpu":
            return
        threads = 1
    torch.set_num_threads(threads)

"""Atomic file writes: the one way memrl writes a file.

A file is written to a temporary name in its own directory, flushed to disk and moved onto
its name with ``os.replace``: a reader sees the old file or the new one, never a partial
one, and no temporary file remains after an error or an interrupt. Files are created with
mode ``0o666`` less the process umask, like any other tool's (``tempfile.mkstemp`` would
make them readable by their owner only).

This module is a leaf: it imports nothing of memrl.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_write"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix, so writers that choose a format
    by suffix still work); on a clean exit it is synced and moved onto ``path``.

    Creates the parent directory if needed. The temporary file exists (empty) when the block
    starts, so a writer may open it by name.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp{target.suffix}"
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield temporary
        descriptor = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def atomic_write(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Write ``data`` (``str`` as UTF-8) to ``path`` atomically; returns the path."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(path) as temporary:
        temporary.write_bytes(payload)
    return Path(path)

"""The episode record: what an agent did and which memories it recalled, step by step.

Step ``t`` is the t-th observation of the episode (0-based): the agent saw observation t
(and frame t, when frames are kept), updated its memory, read, and took action t, then got
reward t. A *source step* is the past step whose write still dominates a slot; for MNM it
is a past write step whose key resembles the read key; for MemNet it is the step written
into the slot. ``-1`` marks "nothing" (an unwritten slot, or padding when fewer than k
candidates exist).

Shapes (T steps, R read heads, K = top_k, Wh write heads):
    actions        [T, ...]      as given to the env
    rewards        [T]           float32
    read_slots     [T, R, K]     int32   slot index (MNM: the past write step), -1 = none
    read_weights   [T, R, K]     float32 read weight (MNM: cosine similarity of the keys)
    source_steps   [T, R, K]     int32   step that wrote what was read, -1 = none
    write_slots    [T, Wh]       int32   most-written slot per write head (-1 = none)
    slots_in_use   [T]           float32 fraction of slots in use (DNC), NaN if unknown
    frames         [T, H, W, 3]  uint8, or None when frames were not kept
    write_keys     [T, Wh, K]    float16 write keys (MNM), or None
    write_values   [T, Wh, V]    float16 target values written with them (MNM), or None
    labels         [T]           str: what each step showed (StoryQA's word), or None

The last three are optional (a record without them loads); ``RecallRecorder`` keeps the
write keys and values of MNM in float16, so a 200-step episode of the ``mnm-g`` preset
(Wh = 1, K = V = 16) adds 2 x 200 x 16 x 2 bytes = 12.8 kB before compression, and
K = V = 64 would add 51 kB: small beside the frames, and the HTML page embeds only the two
similarity matrices drawn from them (``memrl.recall.similarity``), not the arrays.

Files (``EpisodeRecord.save`` / ``load_episode``): one compressed ``.npz`` archive per episode
holding the arrays above under their field names (``frames`` only when kept) and a header
``memrl_record``: a uint8 array of UTF-8 JSON ``{"format": "memrl.episode_record",
"schema_version": SCHEMA_VERSION, "metadata": {...}}``. Nothing is pickled. Files are written
atomically (a temporary file in the same directory, then ``os.replace``), so a reader never
sees half a record. ``load_episode`` checks the header, the version, every array's presence,
dtype and shape, and that no step recalls a later step; any problem is a ``RecordError``
naming the file.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from memrl.atomic import atomic_path

SCHEMA_VERSION = 1

RECORD_FORMAT = "memrl.episode_record"
HEADER_KEY = "memrl_record"
_INT_FIELDS = ("read_slots", "source_steps", "write_slots")
_FLOAT_FIELDS = ("rewards", "read_weights", "slots_in_use")
_REQUIRED = ("actions", *_FLOAT_FIELDS, *_INT_FIELDS)
# Optional per-step arrays beside frames: [T, Wh, K or V] floats, and [T] str labels.
_WRITE_FIELDS = ("write_keys", "write_values")
_OPTIONAL = ("frames", *_WRITE_FIELDS, "labels")
# An .npz is a zip archive: it starts with a file header, or the end record when empty.
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")


class RecordError(ValueError):
    """An episode record (in memory or on disk) that breaks the schema; says what is wrong."""


@dataclass
class EpisodeRecord:
    """One episode's actions, rewards and top-k memory reads (see the module docstring).

    ``has_recall`` is false for cores without addressable memory (LSTM, GRU): then the
    read/write arrays have ``R = K = Wh = 0`` and replay shows no recall panel.
    ``metadata`` holds at least: ``core``, ``core_kwargs``, ``env_id``, ``seed``,
    ``episode_return``, ``length``, ``top_k``, ``recall_kind`` (``"slots"``, ``"keys"``
    for MNM, or ``"none"``). ``write_keys``, ``write_values`` and ``labels`` are optional
    (``None``): MNM's writes, and per-step text such as the word a story showed.
    """

    actions: np.ndarray
    rewards: np.ndarray
    read_slots: np.ndarray
    read_weights: np.ndarray
    source_steps: np.ndarray
    write_slots: np.ndarray
    slots_in_use: np.ndarray
    frames: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    write_keys: np.ndarray | None = None
    write_values: np.ndarray | None = None
    labels: np.ndarray | None = None

    @property
    def length(self) -> int:
        return int(self.rewards.shape[0])

    @property
    def has_recall(self) -> bool:
        return self.read_slots.ndim == 3 and self.read_slots.shape[1] * self.read_slots.shape[2] > 0

    def validate(self) -> None:
        """Check dtypes, shapes and step causality; raise ``RecordError`` saying what is wrong.

        Accepted: the dtypes and shapes of the module docstring (any integer dtype for the
        int32 fields, any float dtype for the float32 ones), ``metadata`` a dict, and
        ``-1 <= source_steps[t] <= t`` (nothing is recalled from the future).
        """
        arrays = {name: getattr(self, name) for name in _REQUIRED}
        if self.frames is not None:
            arrays["frames"] = self.frames
        for name, array in arrays.items():
            if not isinstance(array, np.ndarray):
                raise RecordError(f"{name} must be a numpy array, got {type(array).__name__}")
        for name in _INT_FIELDS:
            if arrays[name].dtype.kind not in "iu":
                raise RecordError(
                    f"{name} must be an integer array, got dtype {arrays[name].dtype}"
                )
        for name in _FLOAT_FIELDS:
            if arrays[name].dtype.kind != "f":
                raise RecordError(f"{name} must be a float array, got dtype {arrays[name].dtype}")
        if self.actions.dtype.kind not in "biuf":
            raise RecordError(f"actions must be numeric, got dtype {self.actions.dtype}")
        if self.rewards.ndim != 1:
            raise RecordError(f"rewards must have shape [T], got {list(self.rewards.shape)}")
        steps = self.rewards.shape[0]
        expected_dims = {
            "actions": None,
            "read_slots": 3,
            "read_weights": 3,
            "source_steps": 3,
            "write_slots": 2,
            "slots_in_use": 1,
        }
        for name, ndim in expected_dims.items():
            array = arrays[name]
            if array.ndim == 0 or array.shape[0] != steps or (ndim and array.ndim != ndim):
                wanted = {None: "[T, ...]", 1: "[T]", 2: "[T, Wh]", 3: "[T, R, K]"}[ndim]
                raise RecordError(
                    f"{name} must have shape {wanted} with T = {steps} (the length of "
                    f"rewards), got {list(array.shape)}"
                )
        reads = {self.read_slots.shape, self.read_weights.shape, self.source_steps.shape}
        if len(reads) != 1:
            raise RecordError(
                "read_slots, read_weights and source_steps must have the same shape "
                f"[T, R, K], got {[list(s) for s in sorted(reads)]}"
            )
        if self.frames is not None and (
            self.frames.dtype != np.uint8
            or self.frames.ndim != 4
            or self.frames.shape[0] != steps
            or self.frames.shape[3] != 3
        ):
            raise RecordError(
                f"frames must be uint8 of shape [T, H, W, 3] with T = {steps} steps, got "
                f"{self.frames.dtype} {list(self.frames.shape)}"
            )
        for name in ("read_slots", "source_steps", "write_slots"):
            if arrays[name].size and arrays[name].min() < -1:
                raise RecordError(f"{name} holds values below -1 (-1 is the only marker)")
        if self.source_steps.size:
            step_index = np.arange(steps).reshape(-1, 1, 1)
            if (self.source_steps > step_index).any():
                raise RecordError("source_steps recalls a later step (source_steps[t] > t)")
        self._validate_optional(steps)
        if not isinstance(self.metadata, dict):
            raise RecordError(f"metadata must be a dict, got {type(self.metadata).__name__}")

    def _validate_optional(self, steps: int) -> None:
        """The optional write keys/values ``[T, Wh, ·]`` (floats) and labels ``[T]`` (str)."""
        for name in _WRITE_FIELDS:
            array = getattr(self, name)
            if array is None:
                continue
            if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
                kind = getattr(array, "dtype", type(array).__name__)
                raise RecordError(f"{name} must be a float numpy array or None, got {kind}")
            if array.ndim != 3 or array.shape[0] != steps:
                raise RecordError(
                    f"{name} must have shape [T, Wh, ·] with T = {steps}, got {list(array.shape)}"
                )
        if self.labels is not None and (
            not isinstance(self.labels, np.ndarray)
            or self.labels.dtype.kind != "U"
            or self.labels.shape != (steps,)
        ):
            raise RecordError(
                f"labels must be a str array of shape [T] with T = {steps}, got "
                f"{getattr(self.labels, 'dtype', type(self.labels).__name__)} "
                f"{list(getattr(self.labels, 'shape', []))}"
            )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the record to ``path`` (a compressed ``.npz``; the name is used as given).

        The record is validated first; the file appears atomically (``memrl.atomic``: a
        temporary file in the same directory, then ``os.replace``; mode ``0o666`` less the
        umask) and no temporary file remains on error.
        Returns the path written.
        """
        self.validate()
        path = Path(path)
        header = {
            "format": RECORD_FORMAT,
            "schema_version": SCHEMA_VERSION,
            "metadata": self.metadata,
        }
        try:
            text = json.dumps(header, default=_json_default)
        except (TypeError, ValueError) as error:
            raise RecordError(f"metadata is not JSON-serialisable: {error}") from error
        arrays: dict[str, np.ndarray] = {
            HEADER_KEY: np.frombuffer(text.encode("utf-8"), dtype=np.uint8),
            "actions": self.actions,
            "rewards": self.rewards.astype(np.float32, copy=False),
            "read_slots": self.read_slots.astype(np.int32, copy=False),
            "read_weights": self.read_weights.astype(np.float32, copy=False),
            "source_steps": self.source_steps.astype(np.int32, copy=False),
            "write_slots": self.write_slots.astype(np.int32, copy=False),
            "slots_in_use": self.slots_in_use.astype(np.float32, copy=False),
        }
        for name in _OPTIONAL:
            if getattr(self, name) is not None:
                arrays[name] = getattr(self, name)
        # Through an open file: given a path, numpy would append ".npz" to other names.
        with atomic_path(path) as temporary, open(temporary, "wb") as handle:
            np.savez_compressed(handle, **arrays)
        return path


def load_episode(path: str | os.PathLike[str]) -> EpisodeRecord:
    """Read and validate a record written by ``EpisodeRecord.save``.

    Raises:
        FileNotFoundError: no file at ``path``.
        RecordError: the file is truncated or not a readable archive, is not a memrl
            episode record, was written by a newer memrl (schema version above
            ``SCHEMA_VERSION``), or has missing arrays, wrong dtypes or inconsistent shapes.
            The message names the file and the problem.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no episode record at {path}")
    unreadable = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError)
    try:
        with path.open("rb") as file:
            magic = file.read(4)
        if magic not in _ZIP_MAGICS:
            # Checked first: np.load would try anything else as a pickle and say so.
            kind = "a single .npy array" if magic.startswith(b"\x93NUMPY") else "not a zip file"
            raise RecordError(f"{path}: not a memrl episode record ({kind}, not an .npz archive)")
        with np.load(path, allow_pickle=False) as archive:
            header = _read_header(path, archive)
            missing = [name for name in _REQUIRED if name not in archive.files]
            if missing:
                raise RecordError(
                    f"{path}: incomplete episode record, missing arrays: {', '.join(missing)}"
                )
            arrays = {name: _load_array(path, archive, name) for name in _REQUIRED}
            optional = {
                name: _load_array(path, archive, name)
                for name in _OPTIONAL
                if name in archive.files
            }
    except RecordError:
        raise
    except unreadable as error:
        raise RecordError(
            f"{path}: not a readable memrl episode record (truncated or not an .npz "
            f"archive: {type(error).__name__}: {error})"
        ) from error
    record = EpisodeRecord(**arrays, **optional, metadata=header["metadata"])
    try:
        record.validate()
    except RecordError as error:
        raise RecordError(f"{path}: invalid episode record: {error}") from None
    return record


def _load_array(path: Path, archive: Any, name: str) -> np.ndarray:
    """``archive[name]``, refusing arrays of Python objects (they would need pickle)."""
    try:
        return archive[name]
    except ValueError as error:
        if "allow_pickle" not in str(error):
            raise
        raise RecordError(
            f"{path}: refused: array {name!r} holds Python objects, which only load with "
            "pickle; memrl loads records with allow_pickle=False (nothing in a file runs code)"
        ) from None


def _read_header(path: Path, archive: Any) -> dict[str, Any]:
    """The JSON header of an open archive, checked for format and schema version."""
    if HEADER_KEY not in archive.files:
        raise RecordError(
            f"{path}: not a memrl episode record (no '{HEADER_KEY}' header; arrays found: "
            f"{', '.join(archive.files) or 'none'})"
        )
    raw = _load_array(path, archive, HEADER_KEY)
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise RecordError(f"{path}: not a memrl episode record (malformed header)")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RecordError(f"{path}: corrupt episode record header ({error})") from error
    if not isinstance(header, dict) or header.get("format") != RECORD_FORMAT:
        raise RecordError(f"{path}: not a memrl episode record (unknown header format)")
    version = header.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise RecordError(f"{path}: invalid schema version {version!r} (expected an int >= 1)")
    if version > SCHEMA_VERSION:
        raise RecordError(
            f"{path}: written with episode record schema version {version}, but this memrl "
            f"reads versions up to {SCHEMA_VERSION}; upgrade memrl to read it"
        )
    if not isinstance(header.get("metadata"), dict):
        raise RecordError(f"{path}: corrupt episode record header (metadata is not a dict)")
    return header


def _json_default(value: Any) -> Any:
    """JSON for numpy scalars and arrays in metadata (anything else: its ``str``)."""
    if isinstance(value, np.generic):
        item = value.item()
        return None if isinstance(item, float) and not math.isfinite(item) else item
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)

"""What MNM writes: step x step similarity of its write keys and of its target values.

For an episode record with MNM's writes (``write_keys [T, Wh, K]``, ``write_values
[T, Wh, V]``, see ``memrl.recall.records``), :func:`write_similarity` gives two causal
matrices ``[T, T]``: row t holds the cosine similarity of step t's write (all write heads
concatenated) with the write of every earlier step s < t. Bright entries in the key matrix
are steps that wrote to the same place of the memory; where the key matrix is bright and the
value matrix is not, the later step overwrote the association (the picture of the MNM
paper, Munkhdalai et al. 2019, Fig. 3).

:func:`similarity_image` draws such a matrix as pixels for both replay writers (the HTML
page and the still PNG), so they show the same colours. Pure numpy, no drawing library.
"""

from __future__ import annotations

import numpy as np

from memrl.checks import check_int
from memrl.recall.maps import MAP_HOT, MAP_UNFILLED
from memrl.recall.records import EpisodeRecord, RecordError

__all__ = ["has_write_similarity", "similarity_image", "write_similarity"]

# Colours of similarity 1 (the recall map's warm white), 0 (the page background) and -1.
SIMILARITY_POSITIVE = MAP_HOT
SIMILARITY_ZERO = np.array([24.0, 24.0, 28.0])
SIMILARITY_NEGATIVE = np.array([80.0, 150.0, 255.0])
# Entries with s >= t (no earlier step) get the recall map's "not yet" colour.
SIMILARITY_UNDEFINED = MAP_UNFILLED


def has_write_similarity(record: EpisodeRecord) -> bool:
    """True when the record keeps write keys and write values (MNM records do)."""
    return record.write_keys is not None and record.write_values is not None


def _causal_cosine(vectors: np.ndarray) -> np.ndarray:
    """``[T, D] -> [T, T]``: cos(v_t, v_s) for s < t, NaN for s >= t (float64 maths)."""
    vectors = vectors.astype(np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    # A zero vector has no direction: similarity 0 with everything (as F.normalize gives).
    unit = vectors / np.maximum(norms, 1e-12)
    cosine = unit @ unit.T
    later = np.tril(np.ones(cosine.shape, dtype=bool), k=-1)  # s < t
    return np.where(later, np.clip(cosine, -1.0, 1.0), np.nan).astype(np.float32)


def write_similarity(record: EpisodeRecord) -> tuple[np.ndarray, np.ndarray]:
    """Causal cosine-similarity matrices of an episode's write keys and target values.

    With ``k_t`` the write keys of step t, all write heads concatenated (``[Wh * K]``),
    ``keys[t, s] = k_t . k_s / (|k_t| |k_s|)`` for ``s < t`` and ``NaN`` for ``s >= t`` (the
    diagonal, always 1, and the future are not defined); ``values`` is the same for the
    target values ``[Wh * V]``. A zero vector has similarity 0. Row 0 is all NaN.

    Returns:
        ``(keys [T, T], values [T, T])``, float32, entries in [-1, 1] or NaN.

    Raises:
        RecordError: the record has no write keys or no write values (only MNM records,
            recorded by ``RecallRecorder`` from a trace with both, keep them).
    """
    missing = [name for name in ("write_keys", "write_values") if getattr(record, name) is None]
    if missing:
        core = record.metadata.get("core") or "this core"
        raise RecordError(
            f"the record has no {' and no '.join(missing)} (recorded for MNM only; "
            f"{core} records have none): no write similarity to compute"
        )
    record.validate()
    length = record.length
    keys = np.asarray(record.write_keys).reshape(length, -1)
    values = np.asarray(record.write_values).reshape(length, -1)
    return _causal_cosine(keys), _causal_cosine(values)


def similarity_image(matrix: np.ndarray, size: int) -> np.ndarray:
    """Draw a ``[T, T]`` similarity matrix as ``[size, size, 3] uint8`` pixels.

    Similarity 1 is warm white, 0 the dark background, -1 blue (linear in between); NaN
    entries (no earlier step) get the "not yet" colour. Steps are resampled to pixels by
    nearest neighbour, so with ``size`` a multiple of T every entry is a square of pixels.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"a similarity matrix must be [T, T], got shape {matrix.shape}")
    size = check_int("size", size, minimum=1)
    if matrix.shape[0] == 0:
        return np.full((size, size, 3), SIMILARITY_UNDEFINED, dtype=np.uint8)
    index = (np.arange(size) * matrix.shape[0]) // size
    sampled = matrix[np.ix_(index, index)]
    defined = np.isfinite(sampled)
    value = np.clip(np.where(defined, sampled, 0.0), -1.0, 1.0)[..., None]
    extreme = np.where(value >= 0, SIMILARITY_POSITIVE, SIMILARITY_NEGATIVE)
    image = SIMILARITY_ZERO + np.abs(value) * (extreme - SIMILARITY_ZERO)
    image[~defined] = SIMILARITY_UNDEFINED
    return np.round(image).astype(np.uint8)

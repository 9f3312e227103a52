"""Per-chunk digests of a split: recorded as each chunk is written, checked on resume and by ``verify``.

Each split group holds a dataset ``chunk_digests`` of records ``(start, stop, sha256)``, one per
chunk in writing order: the SHA-256 of the chunk's ``images``, ``content`` and ``nuisance`` rows
``start .. stop-1`` (each as ``schema.checksum`` feeds them: values, C order, little-endian). The
records of a finished split tile ``0 .. n`` exactly. A byte damaged after its chunk was written is
caught by its chunk's digest, not hashed into the split's checksum as if it were data.
"""

from __future__ import annotations

import hashlib

import h5py
import numpy as np

from .schema import checksum

DATASET = "chunk_digests"
RECORD = np.dtype([("start", "<i8"), ("stop", "<i8"), ("sha256", "S32")])
KEYS = ("images", "content", "nuisance")


def chunk_digest(arrays) -> bytes:
    """The 32-byte SHA-256 of one chunk's ``(images, content, nuisance)`` rows."""
    hasher = hashlib.sha256()
    for array in arrays:
        checksum(np.asarray(array), hasher)
    return hasher.digest()


def create(group: h5py.Group) -> None:
    """Add the empty, growable digest table to a new split group."""
    group.create_dataset(DATASET, (0,), maxshape=(None,), dtype=RECORD, chunks=(256,))


def append(group: h5py.Group, start: int, stop: int, digest: bytes) -> None:
    """Record the digest of rows ``start .. stop-1`` (after they are written, before ``n_done`` moves)."""
    table = group[DATASET]
    k = table.shape[0]
    table.resize((k + 1,))
    table[k] = (start, stop, digest)


def records(group: h5py.Group) -> np.ndarray | None:
    """The split's digest records (structured array of ``RECORD``), or None if it has no table."""
    if DATASET not in group:
        return None
    return group[DATASET][()]


def covered(table: np.ndarray, limit: int) -> int:
    """How many leading records tile ``0 .. s`` contiguously with ``s <= limit``."""
    expected, count = 0, 0
    for start, stop, _ in table:
        if int(start) != expected or not expected < int(stop) <= limit:
            break
        expected, count = int(stop), count + 1
    return count


def truncate(group: h5py.Group, count: int) -> None:
    """Keep the first ``count`` records (drop those of chunks whose ``n_done`` was never recorded)."""
    group[DATASET].resize((count,))


def replace(group: h5py.Group, index: int, digest: bytes) -> None:
    """Overwrite the digest of record ``index`` (after its chunk was re-rendered)."""
    table = group[DATASET]
    start, stop, _ = table[index]
    table[index] = (start, stop, digest)


def read_chunk(group: h5py.Group, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows ``start .. stop-1`` of images, content and nuisance as stored."""
    return tuple(group[key][start:stop] for key in KEYS)

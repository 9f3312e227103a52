"""Per-chunk digests of a split: recorded as each chunk is written, checked on resume and by ``verify``.

Each split group holds a dataset ``chunk_digests`` of records ``(start, stop, sha256)``, one per
chunk in writing order: the SHA-256 of the chunk's ``images``, ``content`` and ``nuisance`` rows
``start .. stop-1`` (each as ``schema.checksum`` feeds them: values, C order, little-endian). The
records of a finished split tile ``0 .. n`` exactly. A byte damaged after its chunk was written is
caught by its chunk's digest, not hashed into the split's checksum as if it were data.

Format 3 stores each digest as 32 ``uint8`` values. Format 2 stored it as a numpy ``S32`` string,
which numpy reads back without its trailing zero bytes (one digest in 256 ends in ``0x00``), so
``digest_of`` pads such a value back to its 32 bytes: a format-2 file verifies correctly too.
"""

from __future__ import annotations

import hashlib

import h5py
import numpy as np

from .schema import checksum

DATASET = "chunk_digests"
DIGEST_BYTES = 32
RECORD = np.dtype([("start", "<i8"), ("stop", "<i8"), ("sha256", "u1", (DIGEST_BYTES,))])
"""A record as format 3 writes it: every digest byte kept, zeros included."""
RECORD_V2 = np.dtype([("start", "<i8"), ("stop", "<i8"), ("sha256", "S32")])
"""A record as format 2 wrote it (read only)."""
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
    table[k] = _record(start, stop, digest)


def _record(start: int, stop: int, digest: bytes) -> np.ndarray:
    if len(digest) != DIGEST_BYTES:
        raise ValueError(f"a chunk digest has {DIGEST_BYTES} bytes, not {len(digest)}")
    record = np.zeros((), dtype=RECORD)
    record["start"], record["stop"] = start, stop
    record["sha256"] = np.frombuffer(digest, dtype=np.uint8)
    return record


def digest_of(record) -> bytes:
    """The 32 bytes of a record's digest, from a format-3 (``uint8`` array) or format-2 (``S32``) record.

    numpy drops the trailing zero bytes of an ``S32`` value; a SHA-256 always has 32 bytes, so
    padding with zeros restores it exactly.
    """
    value = record["sha256"]
    if isinstance(value, np.ndarray):
        return value.astype(np.uint8, copy=False).tobytes()
    return bytes(value).ljust(DIGEST_BYTES, b"\0")


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
    record = table[index]
    table[index] = _record(int(record["start"]), int(record["stop"]), digest)


def read_chunk(group: h5py.Group, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows ``start .. stop-1`` of images, content and nuisance as stored."""
    return tuple(group[key][start:stop] for key in KEYS)

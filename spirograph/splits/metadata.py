"""Metadata digests: what a split file says about its data, recorded when written and checked when read.

The datasets are covered by checksums and chunk digests; the attributes that say what they are
(the list of splits, the seed, the factor names and ranges, a shift's family and level, ...) are
covered here. When a file is created (format 3), the root and every split group get an attribute
``metadata_sha256``: the SHA-256 of all their attributes except the ones the writer updates as it
goes (``MUTABLE``), and, for a split, of the dtype, shape and attributes of its ``images``,
``content`` and ``nuisance`` datasets. An attribute edited, added or removed afterwards changes the
digest: ``verify`` reports it, ``--resume`` refuses the partial file, and ``info``, ``show`` and
the Datasets refuse the file in one line instead of showing wrong metadata.
"""

from __future__ import annotations

import hashlib

import h5py
import numpy as np

ATTRIBUTE = "metadata_sha256"
DATASETS = ("images", "content", "nuisance")
MUTABLE = {
    "root": frozenset({ATTRIBUTE, "complete"}),
    "split": frozenset({ATTRIBUTE, "n_done", "checksum_images", "checksum_content", "checksum_nuisance"}),
}
"""Attributes the writer sets after creating the file (progress, checksums) or that are the digest itself."""


def _feed(hasher, data: bytes) -> None:
    hasher.update(len(data).to_bytes(8, "little"))
    hasher.update(data)


def _canonical(value) -> bytes:
    """The bytes of an attribute value as h5py reads it: type, shape and little-endian values."""
    if isinstance(value, str):
        return b"str:" + value.encode("utf-8")
    if isinstance(value, bytes):
        return b"bytes:" + value
    array = np.asarray(value)
    if array.dtype.kind in "biuf":
        little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        return f"{array.dtype.kind}{array.dtype.itemsize}{array.shape}:".encode("ascii") + little.tobytes()
    return b"repr:" + repr(value).encode("utf-8")


def _feed_attributes(hasher, attrs: h5py.AttributeManager, skip=frozenset()) -> None:
    for key in sorted(attrs.keys()):
        if key not in skip:
            _feed(hasher, key.encode("utf-8"))
            _feed(hasher, _canonical(attrs[key]))


def root_digest(f: h5py.File) -> str:
    """``sha256:<hex>`` of the root's attributes (except ``MUTABLE["root"]``)."""
    hasher = hashlib.sha256()
    _feed_attributes(hasher, f.attrs, MUTABLE["root"])
    return "sha256:" + hasher.hexdigest()


def split_digest(group: h5py.Group) -> str:
    """``sha256:<hex>`` of a split group's attributes (except ``MUTABLE["split"]``) and its datasets' dtypes, shapes and attributes."""
    hasher = hashlib.sha256()
    _feed_attributes(hasher, group.attrs, MUTABLE["split"])
    for key in DATASETS:
        _feed(hasher, key.encode("utf-8"))
        if key in group:
            dataset = group[key]
            _feed(hasher, f"{dataset.dtype.str}{dataset.shape}".encode("ascii"))
            _feed_attributes(hasher, dataset.attrs)
    return "sha256:" + hasher.hexdigest()


def record(f: h5py.File, splits) -> None:
    """Write the digests of every split in ``splits`` and of the root (once, when the file is created)."""
    for name in splits:
        f[name].attrs[ATTRIBUTE] = split_digest(f[name])
    f.attrs[ATTRIBUTE] = root_digest(f)


def root_problem(f: h5py.File) -> str | None:
    """Why the root's attributes cannot be vouched for, or None when they match their digest."""
    stored = f.attrs.get(ATTRIBUTE)
    if stored is None:
        return "the file's attributes have no metadata digest ('metadata_sha256' is missing)"
    if str(stored) != root_digest(f):
        return "the file's attributes (list of splits, seed, settings) were changed after it was written: they do not match their digest"
    return None


def split_problem(group: h5py.Group) -> str | None:
    """Why a split group's attributes cannot be vouched for, or None when they match their digest."""
    stored = group.attrs.get(ATTRIBUTE)
    if stored is None:
        return "its attributes have no metadata digest ('metadata_sha256' is missing)"
    if str(stored) != split_digest(group):
        return "its attributes (factor names and ranges, seed, shift, ...) were changed after it was written: they do not match their digest"
    return None

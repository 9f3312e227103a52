"""Checking a split file: every dataset's checksum, and a sample of items re-drawn and re-rendered."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

import numpy as np
import torch

from .._validate import check_int, one_line
from ..generator import Generator
from . import digests
from .reader import SplitFileError, SplitMeta, open_split_file, root_problem, split_meta, split_names
from .schema import checksum, decode, encode

_READ_BLOCK = 4096  # rows per read when scanning a whole dataset
_TOLERANCE = {"uint8": 1.0 / 255.0 + 1e-6, "float16": 2e-3, "float32": 1e-5}  # re-render vs stored


@dataclass
class VerifyReport:
    """Outcome of ``verify``: ``problems`` (empty when the file is intact) and what was checked."""

    path: str
    problems: list[str] = field(default_factory=list)
    items_checked: int = 0
    rerendered: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(path: str | os.PathLike, *, sample: int = 64, seed: int = 0) -> VerifyReport:
    """Check the metadata's digests, every chunk's digest and every dataset's checksum, and re-render a sample of items per split.

    The sampled items' stored factors must equal a fresh draw from ``(seed, split, i)``, and their
    stored images must match images re-rendered from the stored factors (within the storage
    dtype's rounding: 1/255 for uint8, 2e-3 for float16, 1e-5 for float32).

    Args:
        path: a split file.
        sample: items re-rendered per split (>= 0).
        seed: seed of the choice of sampled items (>= 0).

    Returns:
        ``VerifyReport``; ``report.ok`` is true when nothing is wrong.

    Raises:
        FileNotFoundError, SplitFileError: the file cannot be opened as a split file.
    """
    sample = check_int("sample", sample, 0)
    seed = check_int("seed", seed, 0)
    report = VerifyReport(str(path))
    rng = np.random.default_rng(seed)
    with open_split_file(path, check_metadata=False) as f:
        version = int(f.attrs["format_version"])
        problem = root_problem(f)
        if problem is not None:
            report.problems.append(problem)
        for split in split_names(f):
            try:
                meta = split_meta(f, split)
            except SplitFileError as err:
                report.problems.append(str(err))
                continue
            try:
                _check_checksums(f[split], meta, version, report)
                _check_sample(f[split], meta, rng, sample, report)
            except OSError as err:
                report.problems.append(f"{split}: unreadable data; corrupted? ({one_line(err)})")
            report.items_checked += meta.n
    return report


def _blocks(group, meta: SplitMeta, version: int, report: VerifyReport):
    """Row ranges to read: the recorded chunks (format 2, each checked against its digest) or fixed blocks."""
    if version < 2:
        return [(lo, min(meta.n, lo + _READ_BLOCK), None) for lo in range(0, meta.n, _READ_BLOCK)]
    table = digests.records(group)
    if table is None:
        report.problems.append(f"{meta.name}: no per-chunk digests ({digests.DATASET!r} is missing)")
        return [(lo, min(meta.n, lo + _READ_BLOCK), None) for lo in range(0, meta.n, _READ_BLOCK)]
    count = digests.covered(table, meta.n)
    if count != len(table) or (count and int(table[count - 1]["stop"]) != meta.n) or (meta.n and not count):
        report.problems.append(f"{meta.name}: the per-chunk digests do not cover items 0..{meta.n - 1} exactly once")
        return [(lo, min(meta.n, lo + _READ_BLOCK), None) for lo in range(0, meta.n, _READ_BLOCK)]
    return [(int(r["start"]), int(r["stop"]), digests.digest_of(r)) for r in table]


def _check_checksums(group, meta: SplitMeta, version: int, report: VerifyReport) -> None:
    """Check every chunk's digest and every dataset's checksum in one pass over the data."""
    hashers = {key: hashlib.sha256() for key in digests.KEYS}
    for lo, hi, stored in _blocks(group, meta, version, report):
        arrays = digests.read_chunk(group, lo, hi)
        if stored is not None and digests.chunk_digest(arrays) != stored:
            report.problems.append(f"{meta.name}: items {lo}..{hi - 1} do not match the digest recorded when they were written")
        for key, array in zip(digests.KEYS, arrays):
            checksum(array, hashers[key])
    for key, hasher in hashers.items():
        computed = "sha256:" + hasher.hexdigest()
        if computed != meta.checksums[key]:
            report.problems.append(f"{meta.name}/{key}: checksum mismatch (stored {meta.checksums[key][:19]}…, computed {computed[:19]}…)")


def _check_sample(group, meta: SplitMeta, rng, sample: int, report: VerifyReport) -> None:
    if sample == 0:
        return
    idx = np.sort(rng.choice(meta.n, size=min(sample, meta.n), replace=False))
    content = torch.from_numpy(group["content"][idx])
    nuisance = torch.from_numpy(group["nuisance"][idx])
    stored = group["images"][idx]
    gen = Generator(space=meta.space, **meta.render_options)
    expected = [gen.sample(1, seed=meta.seed, stream=meta.stream, start=int(i)) for i in idx]
    expected_content = torch.cat([c for c, _ in expected])
    expected_nuisance = torch.cat([n for _, n in expected])
    for key, got, want in (("content", content, expected_content), ("nuisance", nuisance, expected_nuisance)):
        bad = (got != want).any(dim=1).nonzero().flatten()
        if len(bad):
            report.problems.append(
                f"{meta.name}/{key}: item {int(idx[bad[0]])} differs from the draw of (seed {meta.seed}, stream {meta.stream!r})"
            )
            return
    with torch.no_grad():
        images = gen.render(content, nuisance)
    diff = (decode(encode(images, meta.dtype), meta.dtype) - decode(stored, meta.dtype)).abs().amax(dim=(1, 2, 3))
    bad = (diff > _TOLERANCE[meta.dtype]).nonzero().flatten()
    if len(bad):
        report.problems.append(
            f"{meta.name}/images: item {int(idx[bad[0]])} does not match its re-rendered factors (max abs diff {diff[bad[0]]:.3g})"
        )
    report.rerendered += len(idx)

"""Counter-based per-item random numbers: item i of (seed, stream) depends on nothing else.

torch and numpy generators are sequential: the draw for item i depends on how many draws came
before it (batch size, worker split, device). A counter-based hash has no state, so the factors of
item i are a pure function of (seed, stream, factor name, i). No maintained library exposes a
vectorised counter-based uniform over arbitrary indices (numpy's Philox advances one stream at a
time), hence the few lines of SplitMix64 below (Steele, Lea & Flood 2014, "Fast splittable
pseudorandom number generators").
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser applied elementwise to a uint64 array (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        return z ^ (z >> np.uint64(31))


def stream_key(seed: int, stream: str, name: str) -> np.uint64:
    """A 64-bit key for one (seed, stream, factor) triple, stable across processes and platforms."""
    digest = hashlib.blake2b(f"{int(seed)}\x1f{stream}\x1f{name}".encode(), digest_size=8).digest()
    return np.frombuffer(digest, dtype="<u8")[0]


def uniform(seed: int, stream: str, name: str, start: int, count: int) -> np.ndarray:
    """Uniform [0, 1) float64 draws for items ``start .. start + count - 1``.

    Args:
        seed: non-negative integer seed.
        stream: name of the stream (a split such as ``"train"``, or any label).
        name: factor name; each factor has its own independent stream.
        start: index of the first item.
        count: number of items.

    Returns:
        ``np.ndarray`` of shape ``(count,)``, dtype float64, values in [0, 1) with 53 random bits.
    """
    return uniform_at(seed, stream, (name,), np.arange(start, start + count, dtype=np.uint64))[0]


def uniform_at(seed: int, stream: str, names: Sequence[str], indices: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) float64 draws of several factors for arbitrary item indices, in one pass.

    Entry ``[f, j]`` is the draw of factor ``names[f]`` for item ``indices[j]``: bit-identical to
    ``uniform(seed, stream, names[f], indices[j], 1)[0]`` whatever the order, repetitions or
    gaps in ``indices`` (the index hash is computed once and shared by all factors).

    Args:
        seed: non-negative integer seed.
        stream: name of the stream.
        names: factor names, F of them.
        indices: 1-D array of N non-negative integer item indices (trusted: callers validate).

    Returns:
        ``np.ndarray`` of shape ``(F, N)``, dtype float64.
    """
    keys = np.array([stream_key(seed, stream, name) for name in names], dtype=np.uint64).reshape(-1, 1)
    mixed = _splitmix64(np.asarray(indices, dtype=np.uint64).reshape(1, -1))
    bits = _splitmix64(mixed ^ keys)
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))

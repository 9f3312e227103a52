"""The split-file schema: which splits a file holds, how each is drawn, how its arrays are stored and hashed.

Every split is a ``SplitSpec``: a name (the HDF5 group path), a size, the factor space it is drawn
from (whose generator renders it) and the sampling stream. Item ``i`` of a split is
``Generator(space=spec.space).items(1, seed=seed, stream=spec.stream, start=i)``, so it depends
only on ``(seed, split, i)``.

Shift splits are test-time splits whose nuisance prior is moved by one of the shift families of
the space's generator (``GeneratorSpec.shifts``; Spirograph's are PROTOCOL.md §1's). A shift
split is named ``shift/<family><level:+g>`` with
the family's split name, e.g. ``shift/bg_mean+0.1`` or ``shift/h_width-0.5`` (the HDF5 group
``h_width-0.5`` inside the group ``shift``); a shift moves whatever range the file's factor space
has. By default a family writes its PROTOCOL.md levels except 0 (the ``test`` split itself); any
other finite level with valid shifted ranges may be asked for. A shift split uses the stream
``"test"``: its content equals the test split's content item by item, and each shifted nuisance
factor reuses the test item's uniform draw mapped onto the shifted range, so degradation compares
like with like.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from .._validate import bad_value, check_choice, unknown_name
from ..factors import FactorSpace
from ..generators import get as get_generator
from ..shifts import SHIFT_PREFIX, check_level

FORMAT = "spirograph-bench/splits"
FORMAT_VERSION = 3
"""Split-file format. 2: per-chunk digests (``chunk_digests`` in every split group). 3: each chunk
digest stored as 32 ``uint8`` (an ``S32`` value lost its trailing zero bytes when read back), and a
digest of the root's and every split's attributes (``metadata_sha256``, see ``splits.metadata``)."""
PARTIAL_SUFFIX = ".partial"

DTYPES = ("uint8", "float16", "float32")
"""Storage dtypes for images. ``uint8`` (default) stores ``floor(clip(x, 0, 1)·255 + 0.5)``: the
quantisation error is at most 1/510 ≈ 0.00196 per pixel. ``float16`` keeps ~3 significant digits
(relative error <= 2^-11). ``float32`` is exactly what the renderer produced."""

DEFAULT_DTYPE = "uint8"
FACTOR_DTYPE = np.float32  # factors are rendered in float32, so storing float32 is exact



def shift_families(generator: str = "spirograph") -> dict:
    """The shift families of ``generator`` keyed by split name (``bg_mean``, ...), in its order."""
    return {f.split_name: f for f in get_generator(generator).shifts}


def __getattr__(name: str):
    # 0.2's SHIFT_FAMILIES: Spirograph's families by split name, looked up when asked for.
    if name == "SHIFT_FAMILIES":
        return shift_families("spirograph")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class SplitSpec:
    """One split: group ``name``, ``n`` items drawn from ``space`` on sampling ``stream``."""

    name: str
    n: int
    space: FactorSpace
    stream: str
    shift: tuple[str, float] | None = None

    def describe_shift(self) -> dict:
        """Attributes describing the shift (empty for train/test)."""
        if self.shift is None:
            return {}
        family = self.space.spec.shift_family(self.shift[0])
        level = self.shift[1]
        return {
            "shift_family": family.split_name,
            "shift_level": level,
            "shift_target": family.target,
            "mean_shift": level if family.kind == "mean" else 0.0,
            "width_change": level if family.kind == "width" else 0.0,
        }


def shift_split_name(family: str, level: float, generator: str = "spirograph") -> str:
    """Group path of a shift split, e.g. ``shift_split_name("h_mean", -0.3) == "shift/h_mean-0.3"``."""
    return get_generator(generator).shift_family(family).split(level)


def parse_shifts(shifts: str | Iterable | None, generator: str = "spirograph") -> list[tuple[str, float]]:
    """Turn a shift request into ``(family, level)`` pairs, in request order, without duplicates.

    Args:
        shifts: ``None``/``"none"`` (no shift split), ``"all"``, a comma-separated string or an
            iterable of items, each a family name (all its default levels), ``"family:level"``
            (one level) or a ``(family, level)`` pair.
        generator: whose shift families are meant (default ``"spirograph"``).

    Returns:
        list of ``(family, level)``.

    Raises:
        ValueError: unknown generator or family (with a did-you-mean hint) or a level that is not a number.
    """
    spec = get_generator(generator)
    SHIFT_FAMILIES = shift_families(spec.name)  # noqa: N806 - the module-level name of 0.2, for this generator
    if shifts is None:
        return []
    if isinstance(shifts, str):
        items = [s.strip() for s in shifts.split(",") if s.strip()]
    else:
        items = list(shifts)
    pairs: list[tuple[str, float]] = []
    for item in items:
        if isinstance(item, str) and item in ("none", ""):
            continue
        if isinstance(item, str) and item == "all":
            pairs += [(f.split_name, lv) for f in SHIFT_FAMILIES.values() for lv in f.split_levels]
            continue
        if isinstance(item, str):
            family, _, level_text = item.partition(":")
            if family not in SHIFT_FAMILIES:
                raise _unknown_shift(family, spec)
            if not level_text:
                pairs += [(family, lv) for lv in SHIFT_FAMILIES[family].split_levels]
                continue
            try:
                level = float(level_text)
            except ValueError:
                raise bad_value("shifts", item, "'family:level' with a numeric level, e.g. 'h_mean:-0.3'") from None
        else:
            try:
                family, level = item
                level = float(level)
            except (TypeError, ValueError):
                raise bad_value("shifts", item, "a family name, 'family:level' or a (family, level) pair") from None
            if family not in SHIFT_FAMILIES:
                raise _unknown_shift(family, spec, words=False)
        if not math.isfinite(level):
            raise bad_value("shifts", item, "a finite level")
        pairs.append((family, check_level("shifts", level)))
    unique: list[tuple[str, float]] = []
    for pair in pairs:
        if pair not in unique:
            unique.append(pair)
    return unique


def _unknown_shift(name, spec, *, words: bool = True) -> ValueError:
    """Unknown shift family of ``spec``'s generator, suggesting the families of a target (``background`` -> ``bg_mean``, ``bg_width``) or a close name."""
    families = {f.split_name: f for f in spec.shifts}
    available = tuple(families) + (("all", "none") if words else ())
    owner = None if spec.name == "spirograph" else spec.owner
    by_other_name = [f.split_name for f in families.values() if name in (f.key, f.target)]
    if not by_other_name:
        return unknown_name("shift", name, available, owner=owner)
    hint = " or ".join(repr(n) for n in by_other_name)
    where = f" in {owner}" if owner else ""
    return ValueError(f"unknown shift {name!r}; did you mean {hint}? available{where}: {', '.join(sorted(available))}")


def shifted_space(space: FactorSpace, family: str, level: float, options: dict | None = None) -> FactorSpace:
    """The factor space of shift ``family`` (split name or key) at ``level``; see ``ShiftFamily.apply``.

    Raises:
        ValueError: unknown family, a shifted factor that is content in ``space``, a shifted
            range that is empty, or (with render ``options``) a box the generator cannot draw.
    """
    return space.spec.shift_family(family).apply(space, level, options)


def plan_splits(space: FactorSpace, train: int, test: int, shifts=None, options: dict | None = None) -> list[SplitSpec]:
    """The splits of a file: ``train``, ``test`` and one shift split per requested level (drawable at ``options``)."""
    specs = [SplitSpec("train", train, space, "train"), SplitSpec("test", test, space, "test")]
    for family, level in parse_shifts(shifts, space.generator):
        name = shift_split_name(family, level, space.generator)
        specs.append(SplitSpec(name, test, shifted_space(space, family, level, options), "test", (family, level)))
    return specs


def split_spec(space: FactorSpace, split: str, n: int, options: dict | None = None) -> SplitSpec:
    """The spec of one split by name (``train``, ``test`` or ``shift/<family><level>``)."""
    if split in ("train", "test"):
        return SplitSpec(split, n, space, split)
    if isinstance(split, str) and split.startswith(SHIFT_PREFIX):
        rest = split[len(SHIFT_PREFIX) :]
        for family in shift_families(space.generator):
            if rest.startswith(family) and len(rest) > len(family) and rest[len(family)] in "+-":
                try:
                    level = float(rest[len(family) :])
                except ValueError:
                    break
                if shift_split_name(family, level, space.generator) == split:
                    return SplitSpec(split, n, shifted_space(space, family, level, options), "test", (family, level))
    examples = ["train", "test"] + [f.split(f.split_levels[0]) for f in space.spec.shifts]
    raise bad_value("split", split, "'train', 'test' or 'shift/<family><level>', e.g. " + ", ".join(examples))


def colours_in_unit_range(space: FactorSpace) -> bool:
    """True when every colour factor's range lies in [0, 1], so every pixel does (a convex blend of them)."""
    return all(0.0 <= space[n].low and space[n].high <= 1.0 for n in space.spec.colours)


def storage_dtype(requested: str, space: FactorSpace) -> str:
    """The dtype a split's images are stored in.

    ``uint8`` cannot hold values outside [0, 1] without clipping, so a split whose colour ranges
    leave [0, 1] (e.g. ``shift/bg_width+0.1``) is stored as ``float32`` instead: nothing is clipped.
    """
    check_choice("dtype", requested, DTYPES)
    if requested == "uint8" and not colours_in_unit_range(space):
        return "float32"
    return requested


def encode(images: torch.Tensor, dtype: str) -> np.ndarray:
    """Convert rendered images (B, 3, R, R) float to the storage array of ``dtype``.

    The arithmetic is done in numpy, single-threaded: these passes are memory bound, and small
    intra-op parallel regions cost more than they save when the cores are busy rendering.
    """
    array = images.detach().cpu().numpy()
    if dtype == "uint8":
        # Round half up: x·255 + 0.5 truncated by the cast. The clip only removes float rounding
        # noise: pixels are convex blends of in-range colours.
        scaled = np.multiply(array, np.float32(255.0), dtype=np.float32)
        scaled += np.float32(0.5)
        np.clip(scaled, 0.0, 255.0, out=scaled)
        return scaled.astype(np.uint8)
    return array.astype(dtype)


def decode(array, dtype: str) -> torch.Tensor:
    """Storage array/tensor of ``dtype`` -> float32 tensor of the same shape (uint8 is divided by 255)."""
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    values = np.asarray(array).astype(np.float32)  # always a fresh, writable copy
    if dtype == "uint8":
        values /= np.float32(255.0)
    return torch.from_numpy(values)


def partial_path(path: str | os.PathLike) -> Path:
    """The temporary file a run writes beside ``path`` (``OUT.h5.partial``)."""
    path = Path(path)
    return path.with_name(path.name + PARTIAL_SUFFIX)


def checksum(array: np.ndarray, hasher=None):
    """Feed ``array``'s values (C order, little-endian) to a sha256 hasher; return the hasher."""
    hasher = hasher or hashlib.sha256()
    little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    hasher.update(memoryview(little).cast("B"))
    return hasher

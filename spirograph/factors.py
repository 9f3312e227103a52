"""The ten Spirograph factors: names, ranges, content/nuisance roles, shifts and seeded sampling.

A ``FactorSpace`` is immutable; every control (``with_roles``, ``with_range``, ``pin``,
``shifted``) returns a new space. Sampling is kept apart from rendering: samplers return factor
tensors, and ``spirograph.render`` is a pure function of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import torch

from . import seeding
from ._validate import bad_value, check_int, unknown_name

FACTOR_NAMES: tuple[str, ...] = ("m", "b", "h", "sigma", "fg_r", "fg_g", "fg_b", "bg_r", "bg_g", "bg_b")
"""The fixed factor names, in canonical column order."""

DEFAULT_RANGES: dict[str, tuple[float, float]] = {
    "m": (2.0, 5.0),
    "b": (0.1, 1.1),
    "h": (0.5, 2.5),
    "sigma": (0.25, 1.0),
    "fg_r": (0.4, 1.0),
    "fg_g": (0.4, 1.0),
    "fg_b": (0.4, 1.0),
    "bg_r": (0.0, 0.6),
    "bg_g": (0.0, 0.6),
    "bg_b": (0.0, 0.6),
}
"""PROTOCOL.md §1 priors: every factor is uniform on its range."""

DEFAULT_CONTENT: tuple[str, ...] = ("m", "b", "sigma", "fg_r")
DEFAULT_NUISANCE: tuple[str, ...] = ("h", "fg_g", "fg_b", "bg_r", "bg_g", "bg_b")

FACTOR_GROUPS: dict[str, tuple[str, ...]] = {
    "background": ("bg_r", "bg_g", "bg_b"),
    "foreground": ("fg_r", "fg_g", "fg_b"),
    "colour": ("fg_r", "fg_g", "fg_b", "bg_r", "bg_g", "bg_b"),
    "shape": ("m", "b", "h"),
}
"""Named groups a shift can target, besides any single factor name."""

# Factors that must stay strictly positive for the curve (b divides) and the kernel (sigma divides).
_POSITIVE = ("b", "sigma")


@dataclass(frozen=True)
class Factor:
    """One scalar factor, uniform on ``[low, high]``; ``low == high`` means pinned to a constant."""

    name: str
    low: float
    high: float

    @property
    def pinned(self) -> bool:
        return self.low == self.high

    @property
    def mean(self) -> float:
        return 0.5 * (self.low + self.high)

    @property
    def variance(self) -> float:
        return (self.high - self.low) ** 2 / 12.0


def _check_range(name: str, low: Any, high: Any, *, allow_pinned: bool) -> tuple[float, float]:
    try:
        low_f, high_f = float(low), float(high)
    except (TypeError, ValueError):
        raise bad_value(f"range of {name!r}", (low, high), "two finite numbers (low, high)") from None
    if not (math.isfinite(low_f) and math.isfinite(high_f)):
        raise bad_value(f"range of {name!r}", (low, high), "finite numbers")
    if low_f > high_f or (low_f == high_f and not allow_pinned):
        raise bad_value(f"range of {name!r}", (low, high), "low < high (use pin() for a constant)")
    if name in _POSITIVE and low_f <= 0:
        raise bad_value(f"range of {name!r}", (low, high), f"{name} > 0 everywhere, so low > 0")
    return low_f, high_f


class FactorSpace:
    """Ranges and roles of the ten factors.

    Args:
        ranges: optional overrides, name -> ``(low, high)`` or a number (pinned). Missing names
            keep their PROTOCOL.md §1 default.
        content: names whose values are the downstream targets (default ``m, b, sigma, fg_r``).
        nuisance: the remaining names; defaults to the complement of ``content``.

    Raises:
        ValueError: unknown names, ``low >= high``, non-positive ``b``/``sigma`` ranges, or roles
            that overlap or do not cover all ten factors.
    """

    def __init__(
        self,
        ranges: Mapping[str, Any] | None = None,
        *,
        content: Iterable[str] = DEFAULT_CONTENT,
        nuisance: Iterable[str] | None = None,
    ) -> None:
        merged = dict(DEFAULT_RANGES)
        for name, value in (ranges or {}).items():
            if name not in FACTOR_NAMES:
                raise unknown_name("factor", name, FACTOR_NAMES)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                merged[name] = _check_range(name, value, value, allow_pinned=True)
            else:
                try:
                    low, high = value
                except (TypeError, ValueError):
                    raise bad_value(f"ranges[{name!r}]", value, "a (low, high) pair or a number") from None
                merged[name] = _check_range(name, low, high, allow_pinned=False)
        self._factors = {n: Factor(n, *merged[n]) for n in FACTOR_NAMES}
        self._content, self._nuisance = _check_roles(content, nuisance)

    @classmethod
    def _from_factors(cls, factors: Mapping[str, Factor], content, nuisance) -> "FactorSpace":
        space = cls.__new__(cls)
        space._factors = {n: factors[n] for n in FACTOR_NAMES}
        space._content, space._nuisance = tuple(content), tuple(nuisance)
        return space

    # -- views -----------------------------------------------------------------------------
    @property
    def factors(self) -> dict[str, Factor]:
        return dict(self._factors)

    @property
    def content(self) -> tuple[str, ...]:
        """Content factor names, in canonical order (the regression targets)."""
        return self._content

    @property
    def nuisance(self) -> tuple[str, ...]:
        """Nuisance factor names, in canonical order (the transformations)."""
        return self._nuisance

    def __getitem__(self, name: str) -> Factor:
        if name not in self._factors:
            raise unknown_name("factor", name, FACTOR_NAMES)
        return self._factors[name]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FactorSpace) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(repr(self.to_dict()))

    def __repr__(self) -> str:
        def fmt(names):
            return ", ".join(f"{n}={f.low:g}" if (f := self._factors[n]).pinned else f"{n}∈[{f.low:g}, {f.high:g}]" for n in names)

        return f"FactorSpace(content: {fmt(self._content)}; nuisance: {fmt(self._nuisance)})"

    def prior_mean(self, names: Iterable[str]) -> torch.Tensor:
        """Means of the uniform priors of ``names``: float64 tensor of shape (len(names),)."""
        return torch.tensor([self[n].mean for n in names], dtype=torch.float64)

    def prior_variance(self, names: Iterable[str]) -> torch.Tensor:
        """Variances of the uniform priors of ``names``: float64 tensor of shape (len(names),)."""
        return torch.tensor([self[n].variance for n in names], dtype=torch.float64)

    # -- controls --------------------------------------------------------------------------
    def with_roles(self, content: Iterable[str], nuisance: Iterable[str] | None = None) -> "FactorSpace":
        """A copy with new roles: any disjoint content/nuisance split of the ten names."""
        content_t, nuisance_t = _check_roles(content, nuisance)
        return FactorSpace._from_factors(self._factors, content_t, nuisance_t)

    def with_range(self, name: str, low: float, high: float) -> "FactorSpace":
        """A copy with factor ``name`` uniform on ``[low, high]`` (``low < high``)."""
        self[name]
        factors = dict(self._factors)
        factors[name] = Factor(name, *_check_range(name, low, high, allow_pinned=False))
        return FactorSpace._from_factors(factors, self._content, self._nuisance)

    def pin(self, name: str, value: float) -> "FactorSpace":
        """A copy with factor ``name`` fixed to ``value`` (it keeps its role)."""
        self[name]
        factors = dict(self._factors)
        factors[name] = Factor(name, *_check_range(name, value, value, allow_pinned=True))
        return FactorSpace._from_factors(factors, self._content, self._nuisance)

    def shifted(self, target: str, mean_shift: float = 0.0, width_change: float = 0.0) -> "FactorSpace":
        """A copy with ``target`` (a factor or a group in ``FACTOR_GROUPS``) shifted as in PROTOCOL.md §1.

        Each targeted factor ``U[low, high]`` becomes ``U[low + Δμ − Δv, high + Δμ + Δv]`` with
        ``Δμ = mean_shift`` and ``Δv = width_change``. Shifted colours may leave [0, 1].

        Raises:
            ValueError: unknown target, non-finite shifts, or a result with ``low >= high`` (or a
                non-positive ``b``/``sigma``).
        """
        names = resolve_target(target)
        for argument, value in (("mean_shift", mean_shift), ("width_change", width_change)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise bad_value(argument, value, "a finite number")
        factors = dict(self._factors)
        for name in names:
            f = self._factors[name]
            low, high = f.low + mean_shift - width_change, f.high + mean_shift + width_change
            factors[name] = Factor(name, *_check_range(name, low, high, allow_pinned=f.pinned and width_change == 0))
        return FactorSpace._from_factors(factors, self._content, self._nuisance)

    # -- sampling --------------------------------------------------------------------------
    def sample(
        self,
        n: int,
        *,
        seed: int,
        stream: str = "train",
        start: int = 0,
        names: Iterable[str] | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> dict[str, torch.Tensor]:
        """Draw items ``start .. start + n - 1`` of ``(seed, stream)``, reproducible by construction.

        The value of factor f for item i depends only on ``(seed, stream, f, i)`` and the range of
        f: never on ``n``, on how a range of items is split into calls, on workers or on device.

        Args:
            n: number of items (>= 0).
            seed: non-negative integer.
            stream: a label such as ``"train"``, ``"test"`` or ``"test/nuisance/3"``.
            start: index of the first item (>= 0).
            names: factors to draw (default: all ten, canonical order).
            dtype, device: of the returned tensors.

        Returns:
            dict name -> tensor of shape (n,).
        """
        n = check_int("n", n, 0)
        seed = check_int("seed", seed, 0)
        start = check_int("start", start, 0)
        if not isinstance(stream, str) or not stream:
            raise bad_value("stream", stream, "a non-empty string")
        return self._draw(np.arange(start, start + n, dtype=np.uint64), seed, stream, self._names(names), dtype, device)

    def sample_at(
        self,
        indices: Any,
        *,
        seed: int,
        stream: str = "train",
        names: Iterable[str] | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> dict[str, torch.Tensor]:
        """Draw the items at arbitrary ``indices`` of ``(seed, stream)`` in one vectorised pass.

        Entry j equals item ``indices[j]`` of ``sample`` bit for bit, whatever the order,
        repetitions or gaps (a shuffled DataLoader batch costs what a contiguous one does).

        Args:
            indices: 1-D integer sequence, numpy array or tensor of N item indices (>= 0).
            seed, stream, names, dtype, device: as in ``sample``.

        Returns:
            dict name -> tensor of shape (N,).
        """
        seed = check_int("seed", seed, 0)
        if not isinstance(stream, str) or not stream:
            raise bad_value("stream", stream, "a non-empty string")
        return self._draw(check_indices("indices", indices), seed, stream, self._names(names), dtype, device)

    def _draw(self, indices: np.ndarray, seed: int, stream: str, names: tuple[str, ...], dtype, device) -> dict[str, torch.Tensor]:
        u = seeding.uniform_at(seed, stream, names, indices)  # (F, N) float64
        out = {}
        for row, name in enumerate(names):
            f = self._factors[name]
            # Affine map in float64, then one rounding to the target dtype: device independent.
            values = f.low + (f.high - f.low) * u[row]
            out[name] = torch.from_numpy(values).to(dtype=dtype, device=device)
        return out

    def sample_with(
        self,
        n: int,
        generator: torch.Generator,
        *,
        names: Iterable[str] | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> dict[str, torch.Tensor]:
        """Draw ``n`` items from an explicit ``torch.Generator`` (training streams).

        Tensors are created on the generator's device unless ``device`` is given. The draw order is
        fixed (canonical factor order), so a generator state replays exactly.

        Returns:
            dict name -> tensor of shape (n,).
        """
        n = check_int("n", n, 0)
        if not isinstance(generator, torch.Generator):
            raise bad_value("generator", generator, "a torch.Generator")
        device = generator.device if device is None else torch.device(device)
        names = self._names(names)
        u = torch.rand(len(names), n, generator=generator, device=device, dtype=dtype)
        out = {}
        for row, name in enumerate(names):
            f = self._factors[name]
            out[name] = f.low + (f.high - f.low) * u[row]
        return out

    def _names(self, names: Iterable[str] | None) -> tuple[str, ...]:
        if names is None:
            return FACTOR_NAMES
        names = tuple(names)
        for name in names:
            self[name]
        return names

    # -- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON/HDF5-friendly description: ranges, content and nuisance names."""
        return {
            "ranges": {n: [f.low, f.high] for n, f in self._factors.items()},
            "content": list(self._content),
            "nuisance": list(self._nuisance),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "FactorSpace":
        """Inverse of ``to_dict``."""
        try:
            ranges, content, nuisance = data["ranges"], data["content"], data["nuisance"]
        except (KeyError, TypeError):
            raise bad_value("data", data, "a mapping with 'ranges', 'content' and 'nuisance'") from None
        factors = {}
        for name in FACTOR_NAMES:
            if name not in ranges:
                raise bad_value("data['ranges']", sorted(ranges), f"all ten factors {FACTOR_NAMES}")
            low, high = ranges[name]
            factors[name] = Factor(name, *_check_range(name, low, high, allow_pinned=True))
        return cls._from_factors(factors, *_check_roles(content, nuisance))


def resolve_target(target: str) -> tuple[str, ...]:
    """Factor names addressed by ``target``: a factor name or a group of ``FACTOR_GROUPS``."""
    if target in FACTOR_GROUPS:
        return FACTOR_GROUPS[target]
    if target in FACTOR_NAMES:
        return (target,)
    raise unknown_name("shift target", target, FACTOR_NAMES + tuple(FACTOR_GROUPS))


def _check_roles(content: Iterable[str], nuisance: Iterable[str] | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if isinstance(content, str) or (isinstance(nuisance, str)):
        raise bad_value("content/nuisance", (content, nuisance), "lists of factor names, not a string")
    content = list(content)
    for name in content + list(nuisance or []):
        if name not in FACTOR_NAMES:
            raise unknown_name("factor", name, FACTOR_NAMES)
    if len(set(content)) != len(content):
        raise bad_value("content", content, "each factor name at most once")
    if nuisance is None:
        nuisance = [n for n in FACTOR_NAMES if n not in content]
    nuisance = list(nuisance)
    overlap = sorted(set(content) & set(nuisance), key=FACTOR_NAMES.index)
    if overlap:
        raise bad_value("nuisance", nuisance, f"names disjoint from content (both have {overlap})")
    missing = [n for n in FACTOR_NAMES if n not in content and n not in nuisance]
    if missing:
        raise bad_value("content/nuisance", (content, nuisance), f"a split covering all ten factors (missing {missing})")
    if len(set(nuisance)) != len(nuisance):
        raise bad_value("nuisance", nuisance, "each factor name at most once")
    if not content:
        raise bad_value("content", content, "at least one content factor")
    order = FACTOR_NAMES.index
    return tuple(sorted(content, key=order)), tuple(sorted(nuisance, key=order))


INDEX_MAX = 2**63 - 1  # item indices, like sizes and seeds, are what an int64 holds


def check_indices(argument: str, indices: Any) -> np.ndarray:
    """Item indices as a uint64 array: a 1-D integer sequence, array or tensor with values >= 0."""
    if isinstance(indices, torch.Tensor):
        indices = indices.detach().cpu().numpy()
    if isinstance(indices, (str, bytes)) or isinstance(indices, (int, np.integer)):
        raise bad_value(argument, indices, "a 1-D sequence of integer item indices >= 0")
    array = np.asarray(indices)
    if array.ndim != 1 or not (np.issubdtype(array.dtype, np.integer) or (array.size == 0 and array.dtype == np.float64)):
        shown = f"array of shape {array.shape} and dtype {array.dtype}" if array.ndim != 1 or array.size > 8 else indices
        raise bad_value(argument, shown, "a 1-D sequence of integer item indices >= 0")
    if array.size and array.min() < 0:
        raise bad_value(argument, f"min {int(array.min())}", "integer item indices >= 0")
    if array.size and int(array.max()) > INDEX_MAX:
        raise bad_value(argument, f"max {int(array.max())}", f"integer item indices <= {INDEX_MAX} (what an int64 holds)")
    return array.astype(np.uint64)


def stack(factors: Mapping[str, torch.Tensor], names: Iterable[str]) -> torch.Tensor:
    """Stack the named 1-D factor tensors into columns: shape (B, len(names))."""
    return torch.stack([factors[n] for n in names], dim=-1)

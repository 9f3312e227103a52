"""Factor spaces of any registered generator: ranges, content/nuisance roles, pins, shifts and seeded sampling.

A ``FactorSpace`` is immutable; every control (``with_roles``, ``with_range``, ``pin``,
``shifted``) returns a new space. Sampling is kept apart from rendering: samplers return factor
tensors, and a generator's render function is a pure function of them. ``FactorSpace()`` is
Spirograph's space (PROTOCOL.md §1); ``FactorSpace(generator="name")`` any other generator's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real
from typing import Any, Iterable, Mapping

import numpy as np
import torch

from . import seeding
from ._validate import bad_value, check_int, check_memory, unknown_name
from .generators.spirograph.factors import DEFAULT_CONTENT, DEFAULT_NUISANCE, DEFAULT_RANGES, FACTOR_GROUPS, FACTOR_NAMES

__all__ = [
    "DEFAULT_CONTENT",
    "DEFAULT_NUISANCE",
    "DEFAULT_RANGES",
    "FACTOR_GROUPS",
    "FACTOR_NAMES",
    "Factor",
    "FactorSpace",
    "check_indices",
    "resolve_target",
    "stack",
]


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


def _check_range(spec, name: str, low: Any, high: Any, *, allow_pinned: bool) -> tuple[float, float]:
    for value in (low, high):
        # Real numbers only: float("1") would let strings through (and numpy/torch scalars are Real).
        if isinstance(value, bool) or not isinstance(value, (Real, np.number)) and not (isinstance(value, torch.Tensor) and value.numel() == 1):
            raise bad_value(f"range of {name!r}", (low, high), "two finite numbers (low, high)")
    low_f, high_f = float(low), float(high)
    if not (math.isfinite(low_f) and math.isfinite(high_f)):
        raise bad_value(f"range of {name!r}", (low, high), "finite numbers")
    if low_f > high_f or (low_f == high_f and not allow_pinned):
        raise bad_value(f"range of {name!r}", (low, high), "low < high (use pin() for a constant)")
    if name in spec.positive and low_f <= 0:
        raise bad_value(f"range of {name!r}", (low, high), f"{name} > 0 everywhere, so low > 0")
    return low_f, high_f


def _get_spec(generator):
    from .generators import get  # the registry imports generator folders, which import this module

    return get(generator)


class FactorSpace:
    """Ranges and roles of a generator's factors (by default Spirograph's ten).

    Args:
        ranges: optional overrides, name -> ``(low, high)`` or a number (pinned). Missing names
            keep the generator's prior (PROTOCOL.md §1 for Spirograph).
        content: names whose values are the downstream targets (default: the generator's
            default content, ``m, b, sigma, fg_r`` for Spirograph).
        nuisance: the remaining names; defaults to the complement of ``content``.
        generator: a registered generator name or ``GeneratorSpec`` (default ``"spirograph"``).

    Raises:
        ValueError: unknown generator or names, ``low >= high``, non-positive ranges of factors
            that must stay positive, or roles that overlap or do not cover every factor.
    """

    def __init__(
        self,
        ranges: Mapping[str, Any] | None = None,
        *,
        content: Iterable[str] | None = None,
        nuisance: Iterable[str] | None = None,
        generator: Any = "spirograph",
    ) -> None:
        spec = _get_spec(generator)
        merged = dict(spec.factors)
        if ranges is not None and not isinstance(ranges, Mapping):
            raise bad_value("ranges", ranges, "a mapping from factor name to (low, high) or a number")
        for name, value in (ranges or {}).items():
            if name not in spec.factors:
                raise unknown_name("factor", name, spec.names, owner=spec.owner)
            if isinstance(value, (Real, np.number)) and not isinstance(value, bool):
                merged[name] = _check_range(spec, name, value, value, allow_pinned=True)
            else:
                try:
                    low, high = value
                except (TypeError, ValueError):
                    raise bad_value(f"ranges[{name!r}]", value, "a (low, high) pair or a number") from None
                merged[name] = _check_range(spec, name, low, high, allow_pinned=False)
        self._spec = spec
        self._factors = {n: Factor(n, *merged[n]) for n in spec.names}
        self._content, self._nuisance = _check_roles(spec, spec.content if content is None else content, nuisance)

    @classmethod
    def _from_factors(cls, spec, factors: Mapping[str, Factor], content, nuisance) -> "FactorSpace":
        space = cls.__new__(cls)
        space._spec = spec
        space._factors = {n: factors[n] for n in spec.names}
        space._content, space._nuisance = tuple(content), tuple(nuisance)
        return space

    # -- views -----------------------------------------------------------------------------
    @property
    def spec(self):
        """The generator's ``GeneratorSpec``."""
        return self._spec

    @property
    def generator(self) -> str:
        """The generator's name."""
        return self._spec.name

    @property
    def names(self) -> tuple[str, ...]:
        """Every factor name, in the generator's canonical order."""
        return self._spec.names

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
        if not isinstance(name, str) or name not in self._factors:
            raise unknown_name("factor", name, self._spec.names, owner=self._spec.owner)
        return self._factors[name]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FactorSpace) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(repr(self.to_dict()))

    def __repr__(self) -> str:
        def fmt(names):
            return ", ".join(f"{n}={f.low:g}" if (f := self._factors[n]).pinned else f"{n}∈[{f.low:g}, {f.high:g}]" for n in names)

        generator = "" if self._spec.name == "spirograph" else f"generator {self._spec.name!r}; "
        return f"FactorSpace({generator}content: {fmt(self._content)}; nuisance: {fmt(self._nuisance)})"

    def prior_mean(self, names: Iterable[str]) -> torch.Tensor:
        """Means of the uniform priors of ``names``: float64 tensor of shape (len(names),)."""
        return torch.tensor([self[n].mean for n in names], dtype=torch.float64)

    def prior_variance(self, names: Iterable[str]) -> torch.Tensor:
        """Variances of the uniform priors of ``names``: float64 tensor of shape (len(names),)."""
        return torch.tensor([self[n].variance for n in names], dtype=torch.float64)

    # -- controls --------------------------------------------------------------------------
    def with_roles(self, content: Iterable[str], nuisance: Iterable[str] | None = None) -> "FactorSpace":
        """A copy with new roles: any disjoint content/nuisance split of the factor names."""
        content_t, nuisance_t = _check_roles(self._spec, content, nuisance)
        return FactorSpace._from_factors(self._spec, self._factors, content_t, nuisance_t)

    def with_range(self, name: str, low: float, high: float) -> "FactorSpace":
        """A copy with factor ``name`` uniform on ``[low, high]`` (``low < high``)."""
        self[name]
        factors = dict(self._factors)
        factors[name] = Factor(name, *_check_range(self._spec, name, low, high, allow_pinned=False))
        return FactorSpace._from_factors(self._spec, factors, self._content, self._nuisance)

    def pin(self, name: str, value: float) -> "FactorSpace":
        """A copy with factor ``name`` fixed to ``value`` (it keeps its role)."""
        self[name]
        factors = dict(self._factors)
        factors[name] = Factor(name, *_check_range(self._spec, name, value, value, allow_pinned=True))
        return FactorSpace._from_factors(self._spec, factors, self._content, self._nuisance)

    def shifted(self, target: str, mean_shift: float = 0.0, width_change: float = 0.0) -> "FactorSpace":
        """A copy with ``target`` (a factor or one of the generator's groups) shifted as in PROTOCOL.md §1.

        Each targeted factor ``U[low, high]`` becomes ``U[low + Δμ − Δv, high + Δμ + Δv]`` with
        ``Δμ = mean_shift`` and ``Δv = width_change``. Shifted colours may leave [0, 1].

        Raises:
            ValueError: unknown target, non-finite shifts, or a result with ``low >= high`` (or a
                non-positive ``b``/``sigma``).
        """
        names = self._spec.resolve_target(target)
        for argument, value in (("mean_shift", mean_shift), ("width_change", width_change)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise bad_value(argument, value, "a finite number")
        factors = dict(self._factors)
        for name in names:
            f = self._factors[name]
            low, high = f.low + mean_shift - width_change, f.high + mean_shift + width_change
            factors[name] = Factor(name, *_check_range(self._spec, name, low, high, allow_pinned=f.pinned and width_change == 0))
        return FactorSpace._from_factors(self._spec, factors, self._content, self._nuisance)

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
            names: factors to draw (default: all, canonical order).
            dtype, device: of the returned tensors.

        Returns:
            dict name -> tensor of shape (n,).

        Raises:
            ValueError: bad arguments, including an ``n`` whose draws would not fit in memory and
                a ``start`` whose last item ``start + n - 1`` is past what an int64 holds.
        """
        n = check_int("n", n, 0)
        seed = check_int("seed", seed, 0)
        start = check_start(start, n)
        if not isinstance(stream, str) or not stream:
            raise bad_value("stream", stream, "a non-empty string")
        names = self._names(names)
        # Per item: its index, its mix, one float64 draw per factor and the returned values.
        check_memory("n", n, n * (16 + len(names) * (8 + itemsize(dtype))), "factor draws", device)
        return self._draw(np.arange(start, start + n, dtype=np.uint64), seed, stream, names, dtype, device)

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
        namespace = self._spec.stream_namespace
        # Non-Spirograph generators draw from streams of their own, so that two generators sharing
        # a factor name never share its draws; Spirograph's keys stay those of 0.1/0.2.
        keys = names if not namespace else tuple(f"{namespace}\x1e{name}" for name in names)
        u = seeding.uniform_at(seed, stream, keys, indices)  # (F, N) float64
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
            return self._spec.names
        if isinstance(names, str):
            raise bad_value("names", names, "a sequence of factor names, not a string")
        names = tuple(names)
        for name in names:
            self[name]
        return names

    # -- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON/HDF5-friendly description: ranges, content and nuisance names (and the generator's name, but for Spirograph).

        Spirograph's dictionary has no ``generator`` key, as in 0.1/0.2, so its split files keep their bytes.
        """
        data: dict[str, Any] = {} if self._spec.name == "spirograph" else {"generator": self._spec.name}
        data.update(
            ranges={n: [f.low, f.high] for n, f in self._factors.items()},
            content=list(self._content),
            nuisance=list(self._nuisance),
        )
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "FactorSpace":
        """Inverse of ``to_dict``; a dictionary without ``generator`` is Spirograph's (0.1/0.2)."""
        try:
            ranges, content, nuisance = data["ranges"], data["content"], data["nuisance"]
        except (KeyError, TypeError):
            raise bad_value("data", data, "a mapping with 'ranges', 'content' and 'nuisance'") from None
        spec = _get_spec(data.get("generator", "spirograph"))
        if not isinstance(ranges, Mapping):
            raise bad_value("data['ranges']", ranges, "a mapping from factor name to [low, high]")
        unknown = [n for n in ranges if n not in spec.factors]
        if unknown:
            raise unknown_name("factor", unknown[0], spec.names, owner=spec.owner)
        factors = {}
        for name in spec.names:
            if name not in ranges:
                raise bad_value("data['ranges']", sorted(ranges), f"all {_count(len(spec.names))} factors {spec.names}")
            try:
                low, high = ranges[name]
            except (TypeError, ValueError):
                raise bad_value(f"data['ranges'][{name!r}]", ranges[name], "a [low, high] pair") from None
            factors[name] = Factor(name, *_check_range(spec, name, low, high, allow_pinned=True))
        return cls._from_factors(spec, factors, *_check_roles(spec, content, nuisance))


def resolve_target(target: str, generator: Any = "spirograph") -> tuple[str, ...]:
    """Factor names addressed by ``target``: a factor name or a named group of ``generator``."""
    return _get_spec(generator).resolve_target(target)


def _names_arg(argument: str, value: Any) -> list[str]:
    """``value`` as a list of names: an iterable of strings, not a string itself."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise bad_value(argument, value, "a list of factor names, not a string" if isinstance(value, (str, bytes)) else "a list of factor names")
    names = list(value)
    for name in names:
        if not isinstance(name, str):
            raise bad_value(argument, names, "a list of factor names (strings)")
    return names


def _check_roles(spec, content: Iterable[str], nuisance: Iterable[str] | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    content = _names_arg("content", content)
    nuisance = None if nuisance is None else _names_arg("nuisance", nuisance)
    names = spec.names
    for name in content + list(nuisance or []):
        if name not in spec.factors:
            raise unknown_name("factor", name, names, owner=spec.owner)
    if len(set(content)) != len(content):
        raise bad_value("content", content, "each factor name at most once")
    if nuisance is None:
        nuisance = [n for n in names if n not in content]
    overlap = sorted(set(content) & set(nuisance), key=names.index)
    if overlap:
        raise bad_value("nuisance", nuisance, f"names disjoint from content (both have {overlap})")
    missing = [n for n in names if n not in content and n not in nuisance]
    if missing:
        raise bad_value("content/nuisance", (content, nuisance), f"a split covering all {_count(len(names))} factors (missing {missing})")
    if len(set(nuisance)) != len(nuisance):
        raise bad_value("nuisance", nuisance, "each factor name at most once")
    if not content:
        raise bad_value("content", content, "at least one content factor")
    order = names.index
    return tuple(sorted(content, key=order)), tuple(sorted(nuisance, key=order))


def _count(n: int) -> str:
    words = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")
    return words[n] if n < len(words) else str(n)


def check_start(start: Any, n: int) -> int:
    """``start`` as int, such that items ``start .. start + n - 1`` are all indices an int64 holds."""
    last = INDEX_MAX - max(n - 1, 0)
    start = check_int("start", start, 0)
    if start > last:
        raise bad_value("start", start, f"an integer in [0, {last}], so that the last item start + n - 1 = "
                        f"{start + n - 1} fits in an int64 (n={n})")
    return start


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


def itemsize(dtype: torch.dtype) -> int:
    """Bytes per element of ``dtype`` (8 for anything torch cannot allocate, so checks stay on the safe side)."""
    try:
        return torch.empty(0, dtype=dtype).element_size()
    except (TypeError, RuntimeError):
        return 8


def stack(factors: Mapping[str, torch.Tensor], names: Iterable[str]) -> torch.Tensor:
    """Stack the named 1-D factor tensors into columns: shape (B, len(names))."""
    return torch.stack([factors[n] for n in names], dim=-1)

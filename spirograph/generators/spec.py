"""``GeneratorSpec``: the frozen, versioned description of one image generator.

Everything generic in the package (factor spaces, seeded sampling, split files, the harness, the
baselines, the command line) asks a generator's spec for what is specific to it, and nothing else.

How to add a generator
======================

Make a folder ``spirograph/generators/<name>/`` (a package: add it to ``packages`` in setup.cfg)
whose ``spec.py`` defines ``SPEC = GeneratorSpec(...)``; the registry finds it by itself and the
contract test (``tests/spirograph/generators/test_contract.py``) checks it with the same tests as
every other generator. What to provide:

``name``, ``version``, ``title``
    A lower-case identifier (``[a-z][a-z0-9_]*``), a version >= 1 and one line for listings.
    Bump ``version`` whenever the same factors and options give other pixels: files and results
    record (name, version), and results of different versions are never ranked together.
``factors``
    Mapping name -> ``(low, high)``, the uniform prior of each scalar factor, in canonical
    column order (the order of every content/nuisance column and of the sampling streams).
``positive``
    Factors that must stay strictly positive (a renderer divides by them): ranges, pins and
    shifts that reach 0 are refused, and so are rendered values <= 0.
``content``
    The default content factors (downstream targets); the rest are the default nuisance.
``groups``
    Named groups of factors (e.g. ``"background": ("bg_r", "bg_g", "bg_b")``) that a shift can
    target besides any single factor. Group names must differ from factor names.
``colours``
    The factors that are colour channels in [0, 1] (listings and figures; shifts may leave [0, 1]).
``options``
    Mapping option name -> default of every keyword ``render_fn`` takes. It must contain
    ``resolution`` (the image side R); everything else is the generator's own.
``validate_options``
    The ONE validator of render options: takes a complete mapping (defaults merged with the
    caller's values) and returns it normalised (ints as int, floats as float), raising
    ``spirograph._validate.bad_value`` naming the option for a bad value. Every place that
    accepts render options (generator, split writer, suites, run configs, result validation)
    calls it through ``GeneratorSpec.render_options``.
``render_fn``
    ``render_fn(factors, **options) -> Tensor (B, 3, R, R)``: a pure function of a mapping from
    every factor name to a 1-D tensor of length B (one device, float32 or float64), with the
    factors' dtype and device. It is called with validated inputs only. It must be twice
    differentiable in every factor (the InvCLR penalty differentiates through it twice) and
    support forward mode (``torch.func.jvp``), and without autograd an image's bits must not
    depend on the batch it is rendered in (split files are byte-reproducible).
``render_into_fn`` (optional)
    ``render_into_fn(out, factors, **options) -> None``: a no-grad fast path writing into a
    preallocated contiguous ``out`` (B, 3, R, R); bit-identical to ``render_fn`` per image.
    Without it ``render_fn`` is used under ``torch.no_grad``.
``check_space`` (optional)
    ``check_space(ranges, options) -> None``: refuses, with one ``bad_value`` line naming what to
    change, a box of factor ranges (name -> (low, high), pinned factors as low == high) that the
    generator cannot draw at these validated render options (a shape that leaves the canvas, a
    resolution too small for an edge width). ``Generator`` calls it for every space it is given,
    shifted spaces included, so nothing is sampled, rendered or written from such a box.
``check_values`` (optional)
    ``check_values(factors) -> None``: the renderer's own rules on factor values beyond
    positivity (e.g. a modulation amplitude below 1), raising one ``bad_value`` line naming the
    factor; ``render`` calls it after the generic checks, so no direct call draws NaN.
``reference_fn`` (optional)
    A slow, obviously correct transcription of the generator's formula with ``render_fn``'s
    signature; the contract test compares the two in float64 within 1e-9.
``shifts``
    The robustness shift families (``spirograph.shifts.ShiftFamily``): each moves the prior of
    one nuisance factor or group by levels; splits and harness read only these objects.
``suites``
    Dotted path of a module that registers this generator's evaluation suites when imported
    (``spirograph.harness.suites``); ``None`` if it has none.
``descriptions``
    Optional one-line description per factor, for ``spirograph generators``.
``stream_namespace``
    Prefix of the per-item sampling streams (default: the name), so two generators sharing a
    factor name never draw the same numbers. Spirograph's is empty: its draws stay those of 0.1/0.2.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping

import torch
from torch.autograd import forward_ad

from .._validate import bad_value, unknown_name

NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*\Z")
DTYPES = (torch.float32, torch.float64)
"""The dtypes factors and images may have (half precision is too coarse for some renderers)."""
DTYPE_RULE = "a floating dtype, torch.float32 or torch.float64"
MAX_RESOLUTION = 4096
"""The largest image side any generator accepts: one 4096² RGB float32 image is already 200 MB."""


@dataclass(frozen=True, eq=False)
class GeneratorSpec:
    """One generator, frozen: factors, roles, groups, render options and function, shifts, suites.

    See the module docstring for what each field means and promises. Specs compare and hash by
    identity; ``(name, version)`` is what files and results record.

    Raises:
        ValueError: an inconsistent description (unknown names in roles, groups, colours or
            shifts, empty or invalid ranges, a missing ``resolution`` option, ...).
    """

    name: str
    version: int
    title: str
    factors: Mapping[str, tuple[float, float]]
    content: tuple[str, ...]
    options: Mapping[str, Any]
    validate_options: Callable[[dict], dict]
    render_fn: Callable[..., torch.Tensor]
    positive: tuple[str, ...] = ()
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    colours: tuple[str, ...] = ()
    shifts: tuple[Any, ...] = ()
    render_into_fn: Callable[..., None] | None = None
    reference_fn: Callable[..., torch.Tensor] | None = None
    check_space: Callable[[Mapping[str, tuple[float, float]], Mapping[str, Any]], None] | None = None
    check_values: Callable[[Mapping[str, torch.Tensor]], None] | None = None
    suites: str | None = None
    descriptions: Mapping[str, str] = field(default_factory=dict)
    stream_namespace: str | None = None

    def __post_init__(self) -> None:
        def fix(attr, value):
            object.__setattr__(self, attr, value)

        if not isinstance(self.name, str) or not NAME_PATTERN.match(self.name):
            raise bad_value("name", self.name, "a lower-case identifier such as 'spirograph'")
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            raise bad_value("version", self.version, "an integer >= 1")
        factors = {}
        for name, prior in dict(self.factors).items():
            if not isinstance(name, str) or not NAME_PATTERN.match(name):
                raise bad_value("factors", name, "factor names that are lower-case identifiers")
            low, high = (float(v) for v in prior)
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise bad_value(f"factors[{name!r}]", prior, "a finite (low, high) with low < high")
            factors[name] = (low, high)
        if not factors:
            raise bad_value("factors", self.factors, "at least one factor")
        fix("factors", MappingProxyType(factors))
        names = tuple(factors)
        for attr in ("content", "positive", "colours"):
            value = tuple(getattr(self, attr))
            for n in value:
                if n not in factors:
                    raise unknown_name(f"factor in {attr}", n, names, owner=f"generator {self.name!r}")
            fix(attr, tuple(n for n in names if n in value))
        if not self.content or len(self.content) == len(names):
            raise bad_value("content", self.content, "at least one content and one nuisance factor")
        for n in self.positive:
            if factors[n][0] <= 0:
                raise bad_value(f"factors[{n!r}]", factors[n], f"low > 0 ({n} is in positive)")
        groups = {}
        for group, members in dict(self.groups).items():
            if group in factors or not NAME_PATTERN.match(str(group)):
                raise bad_value("groups", group, "group names that are identifiers and not factor names")
            for n in members:
                if n not in factors:
                    raise unknown_name(f"factor in group {group!r}", n, names, owner=f"generator {self.name!r}")
            groups[group] = tuple(members)
        fix("groups", MappingProxyType(groups))
        options = dict(self.options)
        if "resolution" not in options:
            raise bad_value("options", sorted(options), "a 'resolution' option (the image side R) among them")
        fix("options", MappingProxyType(options))
        for attr in ("validate_options", "render_fn"):
            if not callable(getattr(self, attr)):
                raise bad_value(attr, getattr(self, attr), "a callable")
        for attr in ("render_into_fn", "reference_fn", "check_space", "check_values"):
            if getattr(self, attr) is not None and not callable(getattr(self, attr)):
                raise bad_value(attr, getattr(self, attr), "a callable or None")
        fix("descriptions", MappingProxyType(dict(self.descriptions)))
        keys, split_names = set(), set()
        for family in self.shifts:
            if family.key in keys or family.split_name in split_names:
                raise bad_value("shifts", family.key, "shift families with distinct keys and split names")
            keys.add(family.key)
            split_names.add(family.split_name)
            if any(n in self.content for n in self.resolve_target(family.target)):
                raise bad_value(f"shift family {family.key!r}", family.target, "a target of default nuisance factors only")
        fix("shifts", tuple(self.shifts))
        if self.stream_namespace is None:
            fix("stream_namespace", self.name)

    # -- factors -----------------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        """Factor names in canonical order."""
        return tuple(self.factors)

    @property
    def nuisance(self) -> tuple[str, ...]:
        """The default nuisance factors: every factor that is not default content."""
        return tuple(n for n in self.names if n not in self.content)

    @property
    def owner(self) -> str:
        """How errors name this generator: ``generator 'spirograph'``."""
        return f"generator {self.name!r}"

    def resolve_target(self, target: str) -> tuple[str, ...]:
        """Factor names addressed by ``target``: a factor name or one of ``groups``.

        Raises:
            ValueError: neither, naming the generator and what it has.
        """
        if isinstance(target, str):
            if target in self.groups:
                return self.groups[target]
            if target in self.factors:
                return (target,)
        raise unknown_name("shift target", target, self.names + tuple(self.groups), owner=self.owner)

    # -- render options ------------------------------------------------------------------------
    def render_options(self, options: Mapping[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
        """The complete, validated render options: ``options`` and ``overrides`` over the defaults.

        Returns:
            dict with every option of ``self.options``, in its order, normalised.

        Raises:
            ValueError: an option this generator does not have (naming it and what it has), or
                a bad value (from ``validate_options``).
        """
        merged = dict(self.options)
        for source in (options or {}, overrides):
            for key, value in source.items():
                if key not in self.options:
                    raise unknown_name("render option", key, self.options, owner=self.owner)
                merged[key] = value
        checked = self.validate_options(merged)
        return {key: checked[key] for key in self.options}

    # -- rendering -------------------------------------------------------------------------------
    def check_factors(self, factors: Mapping[str, torch.Tensor]) -> None:
        """Validate a factor mapping for ``render``; one ValueError naming the offending entry.

        Every factor present, 1-D tensors of one length, device and dtype (float32/float64),
        finite, > 0 where ``positive`` says so, and within the renderer's own ``check_values`` rules.
        """
        check_factor_mapping(factors, self.names, self.positive, owner=self.owner)
        if self.check_values is not None:
            self.check_values(factors)

    def render(self, factors: Mapping[str, torch.Tensor], **options: Any) -> torch.Tensor:
        """Validated, differentiable render: (B, 3, R, R) with the factors' dtype and device.

        Args:
            factors: every factor name -> 1-D tensor of length B.
            options: render options (missing ones take their defaults).

        Raises:
            ValueError: bad factors or options, naming the entry.
        """
        options = self.render_options(options)
        self.check_factors(factors)
        return self.render_fn(factors, **options)

    def render_into(self, out: torch.Tensor, factors: Mapping[str, torch.Tensor], **options: Any) -> None:
        """No-grad render of trusted, validated inputs into ``out`` (B, 3, R, R)."""
        if out.shape[0] == 0:
            return
        if self.render_into_fn is not None:
            self.render_into_fn(out, factors, **options)
            return
        with torch.no_grad():
            out.copy_(self.render_fn(factors, **options))

    # -- shifts ----------------------------------------------------------------------------------
    def shift_family(self, name: str):
        """The shift family called ``name`` (its split name such as ``bg_mean`` or its key).

        Raises:
            ValueError: unknown name, naming the generator and its families.
        """
        for family in self.shifts:
            if name in (family.split_name, family.key):
                return family
        raise unknown_name("shift", name, [f.split_name for f in self.shifts], owner=self.owner)

    # -- description -----------------------------------------------------------------------------
    @property
    def identity(self) -> dict[str, Any]:
        """What files and results record: ``{"generator": name, "generator_version": version}``."""
        return {"generator": self.name, "generator_version": self.version}

    def describe(self) -> dict[str, Any]:
        """JSON-friendly summary: name, version, title, factors with ranges and roles, options, shifts."""
        return {
            "name": self.name,
            "version": self.version,
            "title": self.title,
            "factors": [
                {
                    "name": n,
                    "range": list(self.factors[n]),
                    "role": "content" if n in self.content else "nuisance",
                    "positive": n in self.positive,
                    "colour": n in self.colours,
                    "description": self.descriptions.get(n, ""),
                }
                for n in self.names
            ],
            "groups": {g: list(m) for g, m in self.groups.items()},
            "options": dict(self.options),
            "shifts": [f.split_name for f in self.shifts],
        }

    def __repr__(self) -> str:
        return f"GeneratorSpec({self.name!r}, version={self.version}, factors={self.names})"

    def __reduce__(self):
        # Pickled by reference to the registry (worker processes, DataLoader workers): a spec holds
        # functions and read-only mappings, and must be the one registered under its name anyway.
        return (_registered, (self.name, self.version))


def _registered(name: str, version: int) -> GeneratorSpec:
    """The registered spec ``name`` (what an unpickled spec resolves to); its version must match."""
    from . import get

    spec = get(name)
    if spec.version != version:
        raise bad_value(f"generator {name!r} version", version, f"the registered version {spec.version}")
    return spec


_is_transformed = getattr(getattr(torch._C, "_functorch", None), "is_functorch_wrapped_tensor", lambda value: False)


def differentiated(factors: Mapping[str, torch.Tensor]) -> bool:
    """Whether autograd sees a render: reverse mode, forward-mode duals or a torch.func transform.

    Only a render nothing differentiates may take a no-grad fast path (forward mode has no formula
    for ``out=`` kernels).
    """
    values = factors.values()
    if torch.is_grad_enabled() and any(v.requires_grad for v in values):
        return True
    return any(_is_transformed(v) or forward_ad.unpack_dual(v).tangent is not None for v in values)


def check_factor_mapping(
    factors: Mapping[str, torch.Tensor], names: tuple[str, ...], positive: tuple[str, ...] = (), *, owner: str | None = None
) -> None:
    """Validate ``factors`` (name -> 1-D tensor) against the factor ``names`` of one generator.

    Raises:
        ValueError: not a mapping, unknown or missing names, non-tensors, a dtype other than
            float32/float64, mismatched shapes/devices/dtypes, non-finite values, or values <= 0
            in a ``positive`` factor; the offending entry is named.
    """
    if not isinstance(factors, Mapping):
        raise bad_value("factors", type(factors).__name__, "a mapping from factor name to 1-D tensor")
    for name in factors:
        if name not in names:
            raise unknown_name("factor", name, names, owner=owner)
    missing = [n for n in names if n not in factors]
    if missing:
        raise bad_value("factors", sorted(factors, key=str), f"all {len(names)} factors; missing {missing}")
    first = factors[names[0]]
    for name in names:
        value = factors[name]
        arg = f"factors[{name!r}]"
        if not isinstance(value, torch.Tensor):
            raise bad_value(arg, type(value).__name__, "a torch.Tensor")
        if value.dtype not in DTYPES:
            raise bad_value(f"{arg}.dtype", value.dtype, DTYPE_RULE)
        if value.ndim != 1:
            raise bad_value(f"{arg}.shape", tuple(value.shape), "a 1-D tensor of length B")
        if value.shape != first.shape:
            raise bad_value(f"{arg}.shape", tuple(value.shape), f"length {first.shape[0]} like factors[{names[0]!r}]")
        if value.device != first.device:
            raise bad_value(f"{arg}.device", str(value.device), f"{first.device} like factors[{names[0]!r}]")
        if value.dtype != first.dtype:
            raise bad_value(f"{arg}.dtype", value.dtype, f"{first.dtype} like factors[{names[0]!r}]")
    # One host sync for all checks of values.
    finite = torch.isfinite(torch.stack([factors[n].detach() for n in names])).all(dim=1).tolist()
    ok_positive = torch.stack([(factors[n].detach() > 0).all() for n in positive]).tolist() if positive else []
    for name, ok in zip(names, finite):
        if not ok:
            raise bad_value(f"factors[{name!r}]", "non-finite values (NaN or inf)", "finite values")
    for name, ok in zip(positive, ok_positive):
        if not ok:
            low = factors[name].detach().min().item()
            raise bad_value(f"factors[{name!r}]", f"min {low:g}", f"{name} > 0")

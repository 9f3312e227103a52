"""Shift families: one ``ShiftFamily`` object per family, read by the split files, the harness and the plots.

A family moves the prior of one target (a nuisance factor or a named group of a generator) by a
mean shift Δμ or a width change Δv: ``U[low, high]`` becomes ``U[low + Δμ − Δv, high + Δμ + Δv]``.
Each generator's spec lists its families (``GeneratorSpec.shifts``); Spirograph's four are in
``spirograph.generators.spirograph.shifts`` and are also ``SHIFT_FAMILIES`` here.

Each family has two stable names: its **key** names its curve in result files
(``metrics.robustness.background_mean``) and its **split name** names its shift splits in HDF5
files and on the command line (``shift/bg_mean+0.4``, ``--shifts bg_mean``). Both are kept as
they were released; ``get_family`` accepts either.

Levels: the robustness task scores exactly a family's ``levels``. Split files and
``SpirographRendered`` also accept any other finite level ("off-grid", e.g. ``bg_mean:0.7``) whose
shifted ranges are valid; such splits are the same shift at another strength, but no suite scores
them. Level 0 is the unshifted test split itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._validate import bad_value

if TYPE_CHECKING:  # the factor space imports generators, whose specs import this module
    from .factors import FactorSpace

KINDS = ("mean", "width")
SHIFT_PREFIX = "shift/"


@dataclass(frozen=True)
class ShiftFamily:
    """One shift family: its two names, what it moves and how, its levels and its display title."""

    key: str
    split_name: str
    target: str
    kind: str
    levels: tuple[float, ...]
    title: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise bad_value("kind", self.kind, "one of " + ", ".join(repr(k) for k in KINDS))
        object.__setattr__(self, "levels", tuple(check_level("levels", level) for level in self.levels))

    @property
    def split_levels(self) -> tuple[float, ...]:
        """The levels written as shift splits by default (level 0 is the test split itself)."""
        return tuple(level for level in self.levels if level != 0.0)

    def apply(self, space: FactorSpace, level: float, options: dict | None = None) -> FactorSpace:
        """``space`` with this family's shift at ``level``; see ``shift_space``.

        Args:
            options: render options (missing ones take the generator's defaults); when given, the
                shifted box must also be drawable at them (the generator's ``check_space``: e.g. a
                sprite that would leave the canvas or be thinner than its edge).

        Raises:
            ValueError: as ``shift_space``; a level that leaves a range empty or invalid, or (with
                ``options``) a box the generator cannot draw, is named with the shift and the level.
        """
        shifted = self._shift(space, level)
        spec = space.spec
        if options is not None and spec.check_space is not None:
            options = spec.render_options(options)
            try:
                spec.check_space({n: (f.low, f.high) for n, f in shifted.factors.items()}, options)
            except ValueError as err:
                at = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in options.items())
                raise ValueError(
                    f"shift {self.split(level)[len(SHIFT_PREFIX):]} ({self.title} {level:+g}) cannot be drawn at {at}: "
                    f"its {err} (choose a smaller level or other render options)"
                ) from None
        return shifted

    def _shift(self, space: FactorSpace, level: float) -> FactorSpace:
        try:
            return shift_space(space, self.target, self.kind, level)
        except ValueError as err:
            moved = []
            for name in space.spec.resolve_target(self.target):
                if name in space.nuisance:
                    low, high = space[name].low, space[name].high
                    low, high = (low + level, high + level) if self.kind == "mean" else (low - level, high + level)
                    moved.append((name, low, high))
            text = str(err)
            rule = text.partition(": expected ")[2].split(" (use pin()")[0] if ": expected " in text else ""
            if not moved or not rule:
                raise
            bad = next(((n, lo, hi) for n, lo, hi in moved if n in text), moved[0])
            raise ValueError(
                f"shift {self.split(level)[len(SHIFT_PREFIX):]} ({self.title} {level:+g}) gives {bad[0]} the range "
                f"[{bad[1]:.4g}, {bad[2]:.4g}]; expected a level whose shifted ranges keep {rule}"
            ) from None

    def split(self, level: float) -> str:
        """Group path of the shift split at ``level``, e.g. ``shift/bg_mean+0.4``."""
        return f"{SHIFT_PREFIX}{self.split_name}{format_level(level)}"


def get_family(name: str, generator: str = "spirograph") -> ShiftFamily:
    """The family of ``generator`` called ``name`` (its split name such as ``bg_mean`` or its key such as ``background_mean``).

    Raises:
        ValueError: unknown generator, or a family it does not have (naming it and its families).
    """
    from .generators import get

    return get(generator).shift_family(name)


def __getattr__(name: str):
    # Spirograph's families under their 0.2 names, looked up when asked for: the spec that holds
    # them imports this module for ShiftFamily.
    if name in ("SHIFT_FAMILIES", "BY_SPLIT_NAME"):
        from .generators.spirograph import shifts

        return getattr(shifts, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def format_level(level: float) -> str:
    """A level as it appears in split names: signed, shortest ``%g`` form (``+0.4``, ``-0.3``)."""
    return f"{level:+g}"


def check_level(argument: str, level) -> float:
    """A finite level, rounded to what its split name can say, so the name and the shift agree.

    Raises:
        ValueError: not a finite number.
    """
    if isinstance(level, bool):
        raise bad_value(argument, level, "a finite number")
    try:
        value = float(level)
    except (TypeError, ValueError):
        raise bad_value(argument, level, "a finite number") from None
    if not math.isfinite(value):
        raise bad_value(argument, level, "a finite number")
    return float(format_level(value))


def shift_space(space: FactorSpace, target: str, kind: str, level: float) -> FactorSpace:
    """``space`` with ``target`` moved by ``kind`` ("mean": Δμ, "width": Δv) = ``level``.

    Only nuisance factors may be shifted: a shift of a content factor would move the regression
    targets themselves, not the transformations an encoder should be robust to.

    Raises:
        ValueError: unknown target or kind, a target that is content in ``space``, or a shifted
            range that is empty.
    """
    if kind not in KINDS:
        raise bad_value("kind", kind, "one of " + ", ".join(repr(k) for k in KINDS))
    content = [n for n in space.spec.resolve_target(target) if n in space.content]
    if content:
        raise bad_value(f"shift of {target!r}", content, "nuisance factors only (these are content in this space)")
    if kind == "mean":
        return space.shifted(target, mean_shift=level)
    return space.shifted(target, width_change=level)

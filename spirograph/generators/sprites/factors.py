"""The thirteen sprites factors: names, default ranges and roles, and the geometry of the prior box.

A sprite is a filled 2-D shape on a canvas [−1, 1]² (PROTOCOL.md §S1). Its content is its form and
its foreground red; where it is, how it is turned and how big it is, and the other colours, are
nuisance. ``check_box`` is the one place that decides whether a box of factor ranges, a resolution
and an edge width make sense together: the shape must stay inside the canvas and must not be
thinner than its own blurred edge anywhere in the box.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from ..._validate import bad_value, check_int, check_positive_float

FACTOR_NAMES: tuple[str, ...] = (
    "roundness",
    "aspect",
    "lobes",
    "x",
    "y",
    "angle",
    "scale",
    "fg_r",
    "fg_g",
    "fg_b",
    "bg_r",
    "bg_g",
    "bg_b",
)
"""The fixed factor names, in canonical column order."""

DEFAULT_RANGES: dict[str, tuple[float, float]] = {
    "roundness": (1.0, 4.0),
    "aspect": (0.5, 1.0),
    "lobes": (0.0, 0.25),
    "x": (-0.25, 0.25),
    "y": (-0.25, 0.25),
    "angle": (-math.pi / 4, math.pi / 4),
    "scale": (0.25, 0.4),
    "fg_r": (0.4, 1.0),
    "fg_g": (0.4, 1.0),
    "fg_b": (0.4, 1.0),
    "bg_r": (0.0, 0.6),
    "bg_g": (0.0, 0.6),
    "bg_b": (0.0, 0.6),
}
"""PROTOCOL.md §S1 priors: every factor is uniform on its range (reasons there)."""

DEFAULT_CONTENT: tuple[str, ...] = ("roundness", "aspect", "lobes", "fg_r")
DEFAULT_NUISANCE: tuple[str, ...] = ("x", "y", "angle", "scale", "fg_g", "fg_b", "bg_r", "bg_g", "bg_b")

FACTOR_GROUPS: dict[str, tuple[str, ...]] = {
    "background": ("bg_r", "bg_g", "bg_b"),
    "foreground": ("fg_r", "fg_g", "fg_b"),
    "colour": ("fg_r", "fg_g", "fg_b", "bg_r", "bg_g", "bg_b"),
    "position": ("x", "y"),
    "pose": ("x", "y", "angle", "scale"),
    "form": ("roundness", "aspect", "lobes"),
}
"""Named groups a shift can target, besides any single factor name."""

POSITIVE: tuple[str, ...] = ("roundness", "aspect", "scale")
"""Factors that must stay strictly positive: the renderer divides by scale and aspect and raises to 1/roundness."""

COLOURS: tuple[str, ...] = FACTOR_GROUPS["colour"]
"""Factors that are colour channels (foreground and background RGB)."""

DESCRIPTIONS: dict[str, str] = {
    "roundness": "superellipse exponent p: diamond (1), circle (2), rounded square (4)",
    "aspect": "ratio of the second half-axis to the first",
    "lobes": "amplitude of the k-fold radial modulation 1 + lobes·cos kθ",
    "x": "centre along the image columns (canvas [-1, 1], left to right)",
    "y": "centre along the image rows (canvas [-1, 1], top to bottom)",
    "angle": "rotation in radians, turning x towards y",
    "scale": "first half-axis in canvas units",
    "fg_r": "foreground red",
    "fg_g": "foreground green",
    "fg_b": "foreground blue",
    "bg_r": "background red",
    "bg_g": "background green",
    "bg_b": "background blue",
}
"""One line per factor, for listings."""

SMOOTHING = 0.01
"""ε of the shape's definition, in half-axis units: |u| is √(u² + ε²) and r is √(u² + w² + ε²), so
the diamond's corners are rounded within about ε of the vertex and the centre is smooth."""

TAU = 0.4
"""Default edge width τ of the coverage sigmoid, in pixels."""

LOBE_COUNT = 5
"""Default number k of lobes of the radial modulation."""

MAX_LOBE_COUNT = 12
"""Largest k: at k = 12 and the largest amplitude the lobes are about 2 px wide at 32 px."""

CANVAS_MARGIN = 2.5
"""The shape's edge stays this many τ inside the canvas: coverage at the canvas edge ≤ σ(−2.5) = 7.6%."""

INNER_MARGIN = 2.0
"""The shape reaches at least this many τ from its centre to its edge: coverage at the centre ≥ σ(2) = 88%."""

# Where a factor's values must lie for the shape to exist (not for it to fit the canvas).
_LIMITS: dict[str, tuple[float, float, str]] = {
    "roundness": (1.0, 8.0, "1 <= roundness <= 8 (p >= 1 keeps the superellipse convex; p <= 8 keeps |u|^p in float32)"),
    "aspect": (0.0, 1.0, "0 < aspect <= 1 (aspect > 1 is aspect < 1 turned by a quarter turn at another scale)"),
    "lobes": (0.0, 0.5, "0 <= lobes <= 0.5 (the lobes' modulation 1 + lobes·cos kθ must stay well above 0)"),
    "scale": (0.0, math.inf, "scale > 0"),
}
_OPEN_LOW = ("aspect", "scale")  # a zero aspect or scale is a degenerate shape

_DIRECTIONS = 8192  # directions on which the box's extreme radii are evaluated


def _shown(pair) -> tuple[float, float]:
    """A range as an error message shows it: 10 significant digits, so (0.15, 0.30000000000000004) reads (0.15, 0.3)."""
    return tuple(float(f"{v:.10g}") for v in pair)


def check_options(resolution: Any, tau: Any, lobe_count: Any, max_resolution: int) -> tuple[int, float, int]:
    """Validate the rendering options alone; returns them as (int, float, int).

    Raises:
        ValueError: ``resolution`` not an integer in [2, max_resolution], ``tau`` not a finite
            number > 0, ``lobe_count`` not an integer in [2, MAX_LOBE_COUNT].
    """
    resolution = check_int("resolution", resolution, 2, max_resolution)
    tau = check_positive_float("tau", tau)
    lobe_count = check_int("lobe_count", lobe_count, 2, MAX_LOBE_COUNT)
    return resolution, tau, lobe_count


def check_range(name: str, low: float, high: float) -> None:
    """Reject a range of one factor that makes the shape degenerate (scale, aspect, roundness, lobes, angle)."""
    if name in _LIMITS:
        lo, hi, rule = _LIMITS[name]
        if low < lo or high > hi or (name in _OPEN_LOW and low <= lo):
            raise bad_value(f"range of {name!r}", _shown((low, high)), rule)
    if name == "angle" and high - low >= math.pi:
        raise bad_value("range of 'angle'", _shown((low, high)), "a width below π (half a turn), so a change of angle is a real change")


def _boundary_radii(roundness: float, lobes: float, lobe_count: int, *, lower: bool) -> tuple[np.ndarray, np.ndarray]:
    """Directions θ (unit frame) and bounds on the boundary radius along them, before the aspect squash.

    Without smoothing the boundary is at r(θ) = (1 + lobes·cos kθ) / ‖(cos θ, sin θ)‖_p. Smoothing
    only shrinks the shape (√(u² + ε²) ≥ |u|), by at most 2^(1/p)·ε in ρ (Minkowski), so the
    unsmoothed radius bounds it from above and (1 + lobes·cos kθ − 2^(1/p)·ε)/‖·‖_p from below.
    """
    theta = np.linspace(0.0, 2.0 * math.pi, _DIRECTIONS, endpoint=False)
    cos, sin = np.cos(theta), np.sin(theta)
    norm = (np.abs(cos) ** roundness + np.abs(sin) ** roundness) ** (1.0 / roundness)
    modulation = 1.0 + lobes * np.cos(lobe_count * theta)
    if lower:
        modulation = modulation - 2.0 ** (1.0 / roundness) * SMOOTHING
    return theta, modulation / norm


def extent(ranges: Mapping[str, tuple[float, float]], lobe_count: int = LOBE_COUNT) -> tuple[float, float]:
    """(inradius, circumradius) over the box, in canvas units: the shape's smallest and largest distance
    from its centre to its edge.

    The shape grows with roundness (p-norms fall with p), aspect, and scale; the lobes' amplitude
    widens both extremes. So the smallest inradius is at the box's corner (roundness, aspect, scale
    low; lobes high) and the largest circumradius at (roundness, aspect, scale, lobes high).
    """
    (p_lo, p_hi), (a_lo, a_hi) = ranges["roundness"], ranges["aspect"]
    (s_lo, s_hi), lobes = ranges["scale"], ranges["lobes"][1]
    theta, inner = _boundary_radii(p_lo, lobes, lobe_count, lower=True)
    inradius = s_lo * float(np.min(inner * np.hypot(np.cos(theta), a_lo * np.sin(theta))))
    theta, outer = _boundary_radii(p_hi, lobes, lobe_count, lower=False)
    circumradius = s_hi * float(np.max(outer * np.hypot(np.cos(theta), a_hi * np.sin(theta))))
    return inradius, circumradius


def check_box(ranges: Mapping[str, tuple[float, float]], *, resolution: int, tau: float, lobe_count: int) -> None:
    """Check that the box of factor ranges fits the canvas and the edge width at this resolution.

    Two conditions, each a one-line ValueError naming what to change:
    the shape's edge stays ``CANVAS_MARGIN``·τ pixels inside the canvas for every position and
    form in the box (the circumradius bound is rotation-free); and every shape reaches
    ``INNER_MARGIN``·τ pixels from its centre to its edge (else the resolution is too small for τ).

    Args:
        ranges: name -> (low, high) for at least roundness, aspect, lobes, x, y, scale.
        resolution: R, the image side in pixels; tau: the edge width in pixels; lobe_count: k.
    """
    for name in ("roundness", "aspect", "lobes", "scale", "angle"):
        if name in ranges:
            check_range(name, *ranges[name])
    pixel = 2.0 / resolution  # canvas units per pixel
    inradius, circumradius = extent(ranges, lobe_count)
    reach = max(abs(v) for name in ("x", "y") for v in ranges[name])
    limit = 1.0 - CANVAS_MARGIN * tau * pixel
    if circumradius > limit:
        allowed = ranges["scale"][1] * limit / circumradius
        raise bad_value(
            "range of 'scale'",
            _shown(ranges["scale"]),
            f"scale <= {allowed:.4g}: the largest shape reaches {circumradius:.4g} from its centre, beyond the canvas "
            f"(edge {CANVAS_MARGIN:g}·tau px inside it at resolution {resolution})",
        )
    if reach + circumradius > limit:
        name = max(("x", "y"), key=lambda n: max(abs(v) for v in ranges[n]))
        raise bad_value(
            f"range of {name!r}",
            _shown(ranges[name]),
            f"|{name}| <= {limit - circumradius:.4g}: the largest shape reaches {circumradius:.4g} from its centre, "
            f"and its edge must stay {CANVAS_MARGIN:g}·tau px inside the canvas at resolution {resolution}",
        )
    need = INNER_MARGIN * tau * pixel
    if inradius < need:
        thinnest = f"the thinnest shape in the box reaches only {inradius / pixel:.3g} px from its centre to its edge, less than {INNER_MARGIN:g}·tau"
        if extent(DEFAULT_RANGES, lobe_count)[0] >= need:  # the default box fits: the ranges are what shrank it
            low = ranges["scale"][0] * need / inradius
            raise bad_value(
                "range of 'scale'", _shown(ranges["scale"]), f"scale >= {low:.4g} at resolution {resolution}, tau={tau:g}: {thinnest}"
            )
        raise bad_value(
            "resolution",
            resolution,
            f"resolution >= {math.ceil(2.0 * INNER_MARGIN * tau / inradius)} for tau={tau:g} px "
            f"(or tau <= {inradius / pixel / INNER_MARGIN:.3g}): {thinnest}",
        )

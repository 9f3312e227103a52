"""Spirograph's ten factors as released: names, priors, default roles and named groups (PROTOCOL.md §1).

Plain constants with no imports, so that the generic ``spirograph.factors`` can re-export them
for code written against 0.1/0.2 without importing the renderer.
"""

from __future__ import annotations

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

POSITIVE: tuple[str, ...] = ("b", "sigma")
"""Factors that must stay strictly positive: the curve divides by ``b``, the kernel by ``sigma``."""

COLOURS: tuple[str, ...] = FACTOR_GROUPS["colour"]
"""Factors that are colour channels (foreground and background RGB)."""

DESCRIPTIONS: dict[str, str] = {
    "m": "outer radius term of the hypotrochoid",
    "b": "rolling-circle radius (curve divides by it)",
    "h": "pen distance from the rolling circle's centre",
    "sigma": "kernel width (the exponent divides by it)",
    "fg_r": "foreground red",
    "fg_g": "foreground green",
    "fg_b": "foreground blue",
    "bg_r": "background red",
    "bg_g": "background green",
    "bg_b": "background blue",
}
"""One line per factor, for listings."""

"""Sprites: a filled 2-D shape under differentiable position, rotation and scale (PROTOCOL.md §S1).

Thirteen factors: the form (``roundness``, ``aspect``, ``lobes``) and ``fg_r`` are content; the
pose (``x``, ``y``, ``angle``, ``scale``) and the other colours are nuisance. ``render`` draws them
with exact, smooth derivatives of every order; ``reference`` holds the renderer written straight
from the definition that the tests compare it with.
"""

from . import fused
from .factors import (
    DEFAULT_CONTENT,
    DEFAULT_NUISANCE,
    DEFAULT_RANGES,
    FACTOR_GROUPS,
    FACTOR_NAMES,
    LOBE_COUNT,
    TAU,
    check_box,
    check_options,
    extent,
)
from .render import check_factors, render, render_into, render_unchecked

__all__ = [
    "DEFAULT_CONTENT",
    "DEFAULT_NUISANCE",
    "DEFAULT_RANGES",
    "FACTOR_GROUPS",
    "FACTOR_NAMES",
    "LOBE_COUNT",
    "TAU",
    "check_box",
    "check_factors",
    "check_options",
    "extent",
    "fused",
    "render",
    "render_into",
    "render_unchecked",
]

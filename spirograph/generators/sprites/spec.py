"""The registered spec of the sprites generator (PROTOCOL.md §S1)."""

from __future__ import annotations

from ..spec import MAX_RESOLUTION, GeneratorSpec
from .factors import (
    COLOURS,
    DEFAULT_CONTENT,
    DEFAULT_RANGES,
    DESCRIPTIONS,
    FACTOR_GROUPS,
    LOBE_COUNT,
    POSITIVE,
    TAU,
    check_box,
    check_options,
)
from .reference import render_plain
from .render import check_values, render_into, render_unchecked
from .shifts import FAMILIES

OPTIONS = {"resolution": 32, "tau": TAU, "lobe_count": LOBE_COUNT}
"""The render options and their defaults: image side, edge width τ in pixels, number of lobes k."""


def validate_options(options: dict) -> dict:
    """The one validator of sprites' render options: the complete mapping, normalised.

    Raises:
        ValueError: ``resolution`` outside [2, MAX_RESOLUTION], ``tau`` not a finite number > 0,
            ``lobe_count`` outside [2, 12].
    """
    resolution, tau, lobe_count = check_options(options["resolution"], options["tau"], options["lobe_count"], MAX_RESOLUTION)
    return {"resolution": resolution, "tau": tau, "lobe_count": lobe_count}


def check_space(ranges, options) -> None:
    """Refuse a box whose shape could leave the canvas or be thinner than its edge at these options (``check_box``)."""
    check_box(ranges, resolution=options["resolution"], tau=options["tau"], lobe_count=options["lobe_count"])


SPEC = GeneratorSpec(
    name="sprites",
    # Version 1: the renderer of PROTOCOL.md §S1 as first released.
    version=1,
    title="a filled superellipse with lobes under differentiable position, rotation and scale",
    factors=DEFAULT_RANGES,
    content=DEFAULT_CONTENT,
    options=OPTIONS,
    validate_options=validate_options,
    render_fn=render_unchecked,
    render_into_fn=render_into,
    reference_fn=render_plain,
    check_space=check_space,
    check_values=check_values,
    positive=POSITIVE,
    groups=FACTOR_GROUPS,
    colours=COLOURS,
    shifts=FAMILIES,
    suites="spirograph.generators.sprites.suites",
    descriptions=DESCRIPTIONS,
)

"""Where the Spirograph renderer lived in 0.1/0.2: its public names, re-exported for code written against them.

The renderer is ``spirograph.generators.spirograph.render``; new code reaches it through the
registry (``spirograph.generators.get("spirograph").render``) or ``spirograph.render``.
"""

from .generators.spec import DTYPES, differentiated
from .generators.spirograph.render import (
    CPU_BLOCK_BYTES,
    DTYPE_RULE,
    GPU_BLOCK,
    GRAD_BLOCK_FACTOR,
    MAX_POINTS,
    MAX_RESOLUTION,
    NORMALIZATIONS,
    OPTIONS,
    block_size,
    check_factors,
    check_options,
    colorize,
    curve_points,
    exponent_floor,
    intensity,
    render,
    render_into,
    render_unchecked,
)

__all__ = [
    "CPU_BLOCK_BYTES",
    "DTYPE_RULE",
    "DTYPES",
    "GPU_BLOCK",
    "GRAD_BLOCK_FACTOR",
    "MAX_POINTS",
    "MAX_RESOLUTION",
    "NORMALIZATIONS",
    "OPTIONS",
    "block_size",
    "check_factors",
    "check_options",
    "colorize",
    "curve_points",
    "differentiated",
    "exponent_floor",
    "intensity",
    "render",
    "render_into",
    "render_unchecked",
]

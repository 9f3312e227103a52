"""The registered spec of the Spirograph generator (PROTOCOL.md §1)."""

from __future__ import annotations

from ..spec import GeneratorSpec
from .dense import render_dense
from .factors import COLOURS, DEFAULT_CONTENT, DEFAULT_RANGES, DESCRIPTIONS, FACTOR_GROUPS, POSITIVE
from .render import OPTIONS, check_options, render_into, render_unchecked
from .shifts import FAMILIES

SPEC = GeneratorSpec(
    name="spirograph",
    # Version 1: the pixels of 0.1 and 0.2 (the original code's within 1e-4 in float32).
    version=1,
    title="hypotrochoid curves drawn with a Gaussian kernel on a coloured background (ICLR 2021)",
    factors=DEFAULT_RANGES,
    content=DEFAULT_CONTENT,
    options=OPTIONS,
    validate_options=check_options,
    render_fn=render_unchecked,
    render_into_fn=render_into,
    reference_fn=render_dense,
    positive=POSITIVE,
    groups=FACTOR_GROUPS,
    colours=COLOURS,
    shifts=FAMILIES,
    suites="spirograph.harness.suites",
    descriptions=DESCRIPTIONS,
    # Empty: Spirograph's per-item streams are those of 0.1/0.2, so its split files keep their bytes.
    stream_namespace="",
)

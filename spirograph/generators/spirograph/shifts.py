"""Spirograph's four nuisance-shift families (PROTOCOL.md §1), as released.

=====================  ===========  ==========  ======  ===================================
result key             split name   target      kind    levels (PROTOCOL.md §1)
=====================  ===========  ==========  ======  ===================================
``background_mean``    ``bg_mean``  background  mean    0, 0.1, 0.2, 0.3, 0.4
``background_width``   ``bg_width`` background  width   0, 0.1, 0.2, 0.3, 0.4
``h_mean``             ``h_mean``   h           mean    ±0.1, ±0.3, ±0.5
``h_width``            ``h_width``  h           width   ±0.1, ±0.3, ±0.5
=====================  ===========  ==========  ======  ===================================
"""

from __future__ import annotations

from ...shifts import ShiftFamily

FAMILIES: tuple[ShiftFamily, ...] = (
    ShiftFamily("background_mean", "bg_mean", "background", "mean", (0.0, 0.1, 0.2, 0.3, 0.4), "background mean shift Δμ"),
    ShiftFamily("background_width", "bg_width", "background", "width", (0.0, 0.1, 0.2, 0.3, 0.4), "background width change Δv"),
    ShiftFamily("h_mean", "h_mean", "h", "mean", (-0.5, -0.3, -0.1, 0.1, 0.3, 0.5), "h mean shift Δμ"),
    ShiftFamily("h_width", "h_width", "h", "width", (-0.5, -0.3, -0.1, 0.1, 0.3, 0.5), "h width change Δv"),
)
"""The four families in the order results list them."""

SHIFT_FAMILIES: dict[str, ShiftFamily] = {f.key: f for f in FAMILIES}
"""The families keyed by their result key (``background_mean``, ...)."""

BY_SPLIT_NAME: dict[str, ShiftFamily] = {f.split_name: f for f in FAMILIES}
"""The same families keyed by their split name (``bg_mean``, ...)."""

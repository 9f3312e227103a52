"""Sprites' robustness shift families (PROTOCOL.md §S1): the background ones and three geometric ones.

=====================  ==================  ==========  ======  =====================================
result key             split name          target      kind    levels
=====================  ==================  ==========  ======  =====================================
``background_mean``    ``bg_mean``         background  mean    0, 0.1, 0.2, 0.3, 0.4
``background_width``   ``bg_width``        background  width   0, 0.1, 0.2, 0.3, 0.4
``scale_mean``         ``scale_mean``      scale       mean    −0.08, −0.06, −0.04, −0.02, 0
``position_width``     ``position_width``  position    width   0, 0.025, 0.05, 0.075, 0.1
``angle_mean``         ``angle_mean``      angle       mean    0, 0.4, 0.8, 1.2, 1.6 (radians)
=====================  ==================  ==========  ======  =====================================

Every level is feasible in the default box at 32 px and τ = 0.4 (``check_box``, tested): smaller
objects down to scale 0.17 (the thinnest shape still reaches 0.89 px ≥ 2·τ from its centre to
its edge; 0.152 is the limit), positions out to ±0.35 (the largest shape's edge then stays
2.5·τ = 1 px inside the canvas: 0.353 is the limit), rotations beyond the
training range: levels 0.4, 0.8, 1.2 keep 75%, 49%, 24% of the range inside the training one, and at
1.6 (92°) the range [0.81, 2.39] lies wholly beyond it. Five lobes repeat after 72° and a square
after 90°, so for those forms a large rotation comes back near a trained one: the curve measures
rotations of a generic form, not of every form.
"""

from __future__ import annotations

from ...shifts import ShiftFamily

FAMILIES: tuple[ShiftFamily, ...] = (
    ShiftFamily("background_mean", "bg_mean", "background", "mean", (0.0, 0.1, 0.2, 0.3, 0.4), "background mean shift Δμ"),
    ShiftFamily("background_width", "bg_width", "background", "width", (0.0, 0.1, 0.2, 0.3, 0.4), "background width change Δv"),
    ShiftFamily("scale_mean", "scale_mean", "scale", "mean", (-0.08, -0.06, -0.04, -0.02, 0.0), "smaller objects: scale mean shift Δμ"),
    ShiftFamily(
        "position_width",
        "position_width",
        "position",
        "width",
        (0.0, 0.025, 0.05, 0.075, 0.1),
        "positions nearer the edge: x, y width change Δv",
    ),
    ShiftFamily(
        "angle_mean", "angle_mean", "angle", "mean", (0.0, 0.4, 0.8, 1.2, 1.6), "rotations beyond the training range: angle shift Δμ (rad)"
    ),
)
"""The five families in the order results list them."""

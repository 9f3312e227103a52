"""A toy second generator (a soft disc) for the tests that check the generic machinery with more than one generator.

Imported by the conftest files that offer the ``toy`` fixture (tests/ is on the import path).
"""

import math

import torch

from spirograph._validate import check_int, check_positive_float
from spirograph.generators import GeneratorSpec
from spirograph.shifts import ShiftFamily


def _toy_options(options):
    return {"resolution": check_int("resolution", options["resolution"], 2, 64), "softness": check_positive_float("softness", options["softness"])}


def _toy_render(factors, *, resolution, softness):
    """A disc of ``radius`` at horizontal position ``x``: coverage sigmoid((radius − distance)/softness)."""
    axis = torch.linspace(-1.0, 1.0, resolution, dtype=factors["x"].dtype, device=factors["x"].device)
    dx = axis.view(1, 1, -1) - factors["x"].view(-1, 1, 1)
    dy = axis.view(1, -1, 1)
    distance = torch.sqrt(dx * dx + dy * dy + 1e-6)
    coverage = torch.sigmoid((factors["radius"].view(-1, 1, 1) - distance) / softness).unsqueeze(1)  # (B, 1, R, R)
    fg = torch.stack([factors["fg_r"], factors["fg_g"], factors["fg_g"]], dim=-1)[..., None, None]
    bg = torch.stack([factors["bg_r"], factors["bg_r"], factors["bg_r"]], dim=-1)[..., None, None]
    return coverage * fg + (1 - coverage) * bg


def _toy_reference(factors, *, resolution, softness):
    """The same image pixel by pixel, as plain float64 arithmetic."""
    out = torch.empty(factors["x"].shape[0], 3, resolution, resolution, dtype=torch.float64)
    axis = [-1.0 + 2.0 * i / (resolution - 1) for i in range(resolution)]
    for b in range(out.shape[0]):
        f = {k: float(v[b]) for k, v in factors.items()}
        for i, y in enumerate(axis):
            for j, x in enumerate(axis):
                d = math.sqrt((x - f["x"]) ** 2 + y * y + 1e-6)
                c = 1.0 / (1.0 + math.exp(-(f["radius"] - d) / softness))
                for ch, (fg, bg) in enumerate(((f["fg_r"], f["bg_r"]), (f["fg_g"], f["bg_r"]), (f["fg_g"], f["bg_r"]))):
                    out[b, ch, i, j] = c * fg + (1 - c) * bg
    return out.to(factors["x"].dtype)


TOY = GeneratorSpec(
    name="toy",
    version=1,
    title="a soft disc on a background (tests only)",
    # fg_r has Spirograph's name and range: its draws must still differ (namespaced streams).
    factors={"radius": (0.2, 0.8), "x": (-0.5, 0.5), "fg_r": (0.4, 1.0), "fg_g": (0.4, 1.0), "bg_r": (0.0, 0.6)},
    content=("radius", "fg_r"),
    options={"resolution": 16, "softness": 0.1},
    validate_options=_toy_options,
    render_fn=_toy_render,
    reference_fn=_toy_reference,
    positive=("radius",),
    groups={"background": ("bg_r",)},
    colours=("fg_r", "fg_g", "bg_r"),
    shifts=(ShiftFamily("background_mean", "bg_mean", "background", "mean", (0.0, 0.2), "background mean shift Δμ"),),
)


def registered():
    """Register the toy for the duration of a test (a generator fixture): yields its spec."""
    from spirograph import generators

    generators.register(TOY)
    try:
        yield TOY
    finally:
        generators._REGISTRY.pop("toy", None)

"""Sprites derivatives: exact (gradcheck, gradgradcheck, forward mode) and finite everywhere in the box."""

import itertools

import torch
from torch.autograd import gradcheck, gradgradcheck

from spirograph.generators.sprites import DEFAULT_RANGES, FACTOR_NAMES, render, render_unchecked

GEOMETRY = ("roundness", "aspect", "lobes", "x", "y", "angle", "scale")


def draw(n, seed, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    return {k: (lo + (hi - lo) * torch.rand(n, generator=gen, dtype=torch.float64)).to(dtype) for k, (lo, hi) in DEFAULT_RANGES.items()}


def as_function(f, resolution, block=None):
    """render as a function of the 13 factor tensors (for gradcheck)."""

    def fn(*values):
        return render_unchecked(dict(zip(FACTOR_NAMES, values)), resolution=resolution, block=block)

    return fn, tuple(f[n].clone().requires_grad_(True) for n in FACTOR_NAMES)


def test_gradcheck_and_gradgradcheck_float64():
    # Two blocks of one image each: the join of blocks is differentiated too.
    fn, inputs = as_function(draw(2, 0), resolution=10, block=1)
    assert gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)
    fn, inputs = as_function(draw(2, 1), resolution=6, block=1)
    assert gradgradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-4)


def test_forward_mode_jvp_equals_central_differences():
    f = draw(3, 2)
    tangent = draw(3, 3)
    fn, _ = as_function(f, resolution=16, block=2)
    values = tuple(f[n] for n in FACTOR_NAMES)
    tangents = tuple(tangent[n] - DEFAULT_RANGES[n][0] for n in FACTOR_NAMES)
    _, jvp = torch.func.jvp(fn, values, tangents)
    h = 1e-6
    plus = fn(*(v + h * t for v, t in zip(values, tangents)))
    minus = fn(*(v - h * t for v, t in zip(values, tangents)))
    torch.testing.assert_close(jvp, (plus - minus) / (2 * h), rtol=1e-6, atol=1e-7)


def corners_and_degenerate_spots(dtype):
    """Every corner of the geometric box, plus shapes centred on a pixel centre (u = w = 0 there, the
    u = 0 column and w = 0 row through it: |u|^p at 0, the angle at the centre), the diamond's vertex
    on the pixel row, and no lobes (∇G vanishes at the centre)."""
    rows = [dict(zip(GEOMETRY, corner)) for corner in itertools.product(*(DEFAULT_RANGES[n] for n in GEOMETRY))]
    centre = 1 / 32  # a pixel centre at R = 32
    for roundness, lobes, aspect in itertools.product((1.0, 2.0, 4.0), (0.0, 0.25), (0.5, 1.0)):
        rows.append(dict(roundness=roundness, aspect=aspect, lobes=lobes, x=centre, y=centre, angle=0.0, scale=0.25))
        # Vertex at (x, y + scale·aspect): on a pixel centre when scale·aspect is a multiple of 2/32.
        rows.append(dict(roundness=roundness, aspect=aspect, lobes=lobes, x=centre, y=centre, angle=0.0, scale=0.375))
    f = {n: torch.tensor([r[n] for r in rows], dtype=dtype) for n in GEOMETRY}
    for n in FACTOR_NAMES:
        if n not in f:
            f[n] = torch.full((len(rows),), sum(DEFAULT_RANGES[n]) / 2, dtype=dtype)
    return f


def test_first_and_second_derivatives_finite_everywhere():
    for dtype in (torch.float32, torch.float64):
        f = {n: v.requires_grad_(True) for n, v in corners_and_degenerate_spots(dtype).items()}
        images = render(f)
        weights = torch.randn(images.shape, generator=torch.Generator().manual_seed(0), dtype=dtype)
        grads = torch.autograd.grad((images * weights).sum(), list(f.values()), create_graph=True)
        assert all(torch.isfinite(g).all() for g in grads)
        assert all(g.abs().sum() > 0 for n, g in zip(f, grads) if n in GEOMETRY)
        # Second derivatives: the gradient of every first derivative (summed over images) w.r.t. every factor.
        for first in grads:
            second = torch.autograd.grad(first.sum(), list(f.values()), retain_graph=True, allow_unused=True)
            assert all(s is None or torch.isfinite(s).all() for s in second)

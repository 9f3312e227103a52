"""The sprites renderer against its definition (PROTOCOL.md §S1): signed distance, geometry, paths, bits."""

import math

import pytest
import torch
import torch.nn.functional as F

from spirograph.generators.sprites import DEFAULT_RANGES, FACTOR_NAMES, render, render_unchecked
from spirograph.generators.sprites.reference import render_plain, render_supersampled, signed_distance
from spirograph.generators.sprites.render import logit, logit_clamp, pixel_centres


def draw(n, seed, dtype=torch.float64, ranges=DEFAULT_RANGES):
    gen = torch.Generator().manual_seed(seed)
    return {k: (lo + (hi - lo) * torch.rand(n, generator=gen, dtype=torch.float64)).to(dtype) for k, (lo, hi) in ranges.items()}


def coverage(images, f):
    """Invert the blend on the red channel: (img − bg)/(fg − bg), (B, R, R)."""
    fg, bg = f["fg_r"].view(-1, 1, 1), f["bg_r"].view(-1, 1, 1)
    return (images[:, 0] - bg) / (fg - bg)


def test_shape_and_dtype():
    for dtype in (torch.float32, torch.float64):
        images = render(draw(3, 0, dtype), resolution=20)
        assert images.shape == (3, 3, 20, 20) and images.dtype == dtype


def test_pixel_centres():
    assert pixel_centres(4, torch.zeros(1)).tolist() == [-0.75, -0.25, 0.25, 0.75]


def test_written_out_gradient_equals_autograd_of_the_definition():
    # The renderer's (G − 1)/‖∇G‖ with its hand-written gradient and Chebyshev recurrence, against
    # the definition's G (arccos form) differentiated by autograd: equal to rounding in float64.
    for lobe_count in (2, 5, 12):
        f = draw(16, lobe_count)
        z = logit(f, pixel_centres(32, f["x"]), 0.4, lobe_count)
        d = signed_distance(f, lobe_count=lobe_count)
        unclamped = z.abs() < logit_clamp(torch.float64)
        assert unclamped.float().mean() > 0.5
        torch.testing.assert_close(-0.4 * z[unclamped], d[unclamped], rtol=0, atol=1e-10)


def test_geometry_matches_supersampled_inside_test():
    """The edge is where the definition puts it.

    The reference is the box filter of the inside test (16×16 points per pixel). The renderer at
    8× the resolution, average-pooled 8×8, is the box filter of the shape blurred by a logistic of
    scale τ/8 = 0.05 px. Blurring a box-filtered straight edge changes it only near the kinks of its
    profile, by at most E|t|/2 = ln 2·0.05 = 0.035; each sample grid adds at most one row of samples
    along a straight edge crossing the pixel (1/16 and a smooth profile for the renderer): 0.06 in
    all, measured 0.037. An edge displaced by 0.1 px would show as 0.1 along the whole edge.
    """
    f = draw(24, 1)
    reference = coverage(render_supersampled(f, resolution=32, samples=16), f)
    pooled = F.avg_pool2d(coverage(render(f, resolution=256), f).unsqueeze(1), 8).squeeze(1)
    assert (pooled - reference).abs().max() < 0.06
    assert (pooled - reference).abs().mean() < 1e-3
    # At the image's own resolution the two filters differ: the logistic σ(−d/τ) against the box's
    # clamp(½ − d, 0, 1) across an axis-aligned edge differ by at most σ(−0.5/0.4) = 0.223 (at
    # d = ½ px, less for slanted edges), plus the 1/16 of the sample grid.
    direct = coverage(render(f, resolution=32), f)
    assert (direct - reference).abs().max() < 1 / (1 + math.exp(1.25)) + 1 / 16


def test_paths_agree():
    # No-grad in-place path, graph path, plain unblocked form: the same formulas up to rounding
    # (the no-grad path takes powers through log and exp).
    for dtype, atol in ((torch.float32, 1e-5), (torch.float64, 1e-12)):
        f = draw(70, 3, dtype)
        plain = render_plain(f)
        fast = render_unchecked(f, block=16)
        graph_f = {k: v.clone().requires_grad_(True) for k, v in f.items()}
        graph = render_unchecked(graph_f, block=16).detach()
        torch.testing.assert_close(fast, plain, rtol=0, atol=atol)
        torch.testing.assert_close(graph, plain, rtol=0, atol=atol)


def test_no_grad_bits_independent_of_block_and_batch():
    f = draw(50, 4, torch.float32)
    whole = render_unchecked(f)
    for block in (1, 7, 64):
        assert torch.equal(render_unchecked(f, block=block), whole)
    part = render_unchecked({k: v[10:20] for k, v in f.items()})
    assert torch.equal(part, whole[10:20])
    threads = torch.get_num_threads()
    try:  # blocks shared out among worker threads, or all on the calling thread
        for count in (1, 2, 3):
            torch.set_num_threads(count)
            assert torch.equal(render_unchecked(f), whole)
    finally:
        torch.set_num_threads(threads)


def test_no_subnormal_floats_in_float32():
    # Coverage lies in [σ(−L), 1 − …] with e^(−4L) still normal: a black-on-white render shows it.
    f = draw(64, 5, torch.float32)
    for name in ("fg_r", "fg_g", "fg_b"):
        f[name] = torch.ones_like(f[name])
    for name in ("bg_r", "bg_g", "bg_b"):
        f[name] = torch.zeros_like(f[name])
    images = render(f)
    tiny = torch.finfo(torch.float32).tiny
    assert images.min() >= 1 / (1 + math.exp(logit_clamp(torch.float32))) * 0.99
    assert ((images == 0) | (images.abs() >= tiny)).all()
    for dtype in (torch.float32, torch.float64):
        assert math.exp(-4 * logit_clamp(dtype)) > torch.finfo(dtype).tiny


def test_factors_move_the_image_as_named():
    # x moves the shape right (columns), y down (rows), scale grows it, the colours are the colours.
    base = {k: torch.tensor([0.5 * (lo + hi)], dtype=torch.float64) for k, (lo, hi) in DEFAULT_RANGES.items()}

    def centroid(f):
        c = coverage(render(f), f)[0]
        grid = pixel_centres(32, c)
        return float((c.sum(0) * grid).sum() / c.sum()), float((c.sum(1) * grid).sum() / c.sum()), float(c.sum())

    x0, y0, area0 = centroid(base)
    x1, y1, _ = centroid({**base, "x": base["x"] + 0.1})
    x2, y2, _ = centroid({**base, "y": base["y"] + 0.1})
    _, _, area3 = centroid({**base, "scale": base["scale"] * 1.2})
    assert x1 - x0 == pytest.approx(0.1, abs=1e-3) and abs(y1 - y0) < 1e-3
    assert y2 - y0 == pytest.approx(0.1, abs=1e-3) and abs(x2 - x0) < 1e-3
    assert area3 / area0 == pytest.approx(1.44, rel=0.03)
    assert set(FACTOR_NAMES) == set(base)

"""Sprites written straight from the definition (PROTOCOL.md §S1), for tests and benchmarks only.

- ``shape_function``: G(u, w) = ρ(u, w) / (1 + A·cos(k·arccos c)), c = u/√(u² + w² + ε²): the
  definition itself (trigonometric, not the renderer's Chebyshev recurrence; no written-out gradient).
- ``render_supersampled``: coverage = the share of n×n sample points of each pixel inside the shape
  (G ≤ 1), i.e. the box-filtered image; no signed distance, no sigmoid.
- ``signed_distance``: (G − 1)/‖∇G‖ in pixels with ∇G by autograd, for comparing the renderer's
  written-out gradient.
- ``render_plain``: the renderer's own formulas evaluated once on the whole batch, out of place and
  unblocked: the baseline the blocked renderer's speed is measured against.
"""

from __future__ import annotations

from typing import Mapping

import torch

from .factors import LOBE_COUNT, SMOOTHING, TAU
from .render import GRADIENT_FLOOR, frame, logit, pixel_centres


def _per_image(value: torch.Tensor) -> torch.Tensor:
    return value.view(-1, *([1] * 3))


def shape_function(u: torch.Tensor, w: torch.Tensor, f: Mapping[str, torch.Tensor], lobe_count: int) -> torch.Tensor:
    """G at unit-frame points (u, w) of shape (b, ...): inside the shape iff G <= 1."""
    shape = (-1,) + (1,) * (u.ndim - 1)
    p, amplitude = f["roundness"].view(shape), f["lobes"].view(shape)
    eps2 = SMOOTHING * SMOOTHING
    rho = ((u * u + eps2) ** (p / 2) + (w * w + eps2) ** (p / 2)) ** (1 / p)
    c = u / torch.sqrt(u * u + w * w + eps2)
    return rho / (1 + amplitude * torch.cos(lobe_count * torch.arccos(c)))


def render_supersampled(
    factors: Mapping[str, torch.Tensor], *, resolution: int = 32, samples: int = 16, lobe_count: int = LOBE_COUNT
) -> torch.Tensor:
    """Box-filtered images (B, 3, R, R): each pixel's coverage is the share of its samples×samples points inside."""
    f = {k: v.detach() for k, v in factors.items()}
    fine = resolution * samples
    grid = pixel_centres(fine, f["x"])  # sample points: the pixel centres of a finer grid
    rows = []
    for i in range(f["x"].shape[0]):  # one image at a time: R²·n² points each
        one = {k: v[i : i + 1] for k, v in f.items()}
        u, w = frame(one, grid)
        inside = (shape_function(u, w, one, lobe_count) <= 1).to(u.dtype)
        rows.append(inside.view(1, resolution, samples, resolution, samples).mean(dim=(2, 4)))
    coverage = torch.cat(rows)
    return _blend(coverage, f)


def signed_distance(factors: Mapping[str, torch.Tensor], *, resolution: int = 32, lobe_count: int = LOBE_COUNT) -> torch.Tensor:
    """(G − 1)/√(‖∇_P G‖² + (η/s)²) in pixels at every pixel centre, (B, R, R), with ∇G by autograd.

    ∇_P is the gradient with respect to the pixel's canvas position; η/s is the renderer's floor
    expressed in canvas units.
    """
    f = {k: v.detach() for k, v in factors.items()}
    grid = pixel_centres(resolution, f["x"])
    n = f["x"].shape[0]
    cols = grid.expand(n, resolution, resolution).clone().requires_grad_(True)
    rows = grid.view(-1, 1).expand(n, resolution, resolution).clone().requires_grad_(True)
    cos, sin = torch.cos(f["angle"]).view(-1, 1, 1), torch.sin(f["angle"]).view(-1, 1, 1)
    dx, dy = cols - f["x"].view(-1, 1, 1), rows - f["y"].view(-1, 1, 1)
    s, a = f["scale"].view(-1, 1, 1), f["aspect"].view(-1, 1, 1)
    u = (cos * dx + sin * dy) / s
    w = (-sin * dx + cos * dy) / (s * a)
    g = shape_function(u, w, f, lobe_count)
    gx, gy = torch.autograd.grad(g.sum(), (cols, rows))
    norm = torch.sqrt(gx * gx + gy * gy + (GRADIENT_FLOOR / s) ** 2)
    return (g.detach() - 1) / norm * (resolution / 2)


def render_plain(
    factors: Mapping[str, torch.Tensor], *, resolution: int = 32, tau: float = TAU, lobe_count: int = LOBE_COUNT
) -> torch.Tensor:
    """The renderer's formulas on the whole batch at once, out of place: the unblocked baseline."""
    coverage = torch.sigmoid(logit(factors, pixel_centres(resolution, factors["x"]), tau, lobe_count))
    return _blend(coverage, factors)


def _blend(coverage: torch.Tensor, f: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """coverage·fg + (1 − coverage)·bg, channel by channel: (B, R, R) -> (B, 3, R, R)."""
    fg = torch.stack([f["fg_r"], f["fg_g"], f["fg_b"]], dim=1).view(-1, 3, 1, 1)
    bg = torch.stack([f["bg_r"], f["bg_g"], f["bg_b"]], dim=1).view(-1, 3, 1, 1)
    c = coverage.unsqueeze(1)
    return c * fg + (1 - c) * bg

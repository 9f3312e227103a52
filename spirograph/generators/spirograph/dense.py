"""The dense reference form of the renderer, as the original code computes it (PROTOCOL.md §1).

Kept for verification and benchmarking only: it builds a (T, B, 2, R, R) difference tensor
against an 'ij' meshgrid, sums over the coordinate axis, then takes exp and the mean over T. It is
T·R² exponentials per image where ``spirograph.render`` needs 2·T·R.
"""

from __future__ import annotations

import math
from typing import Mapping

import torch

from ..._validate import check_choice
from .render import NORMALIZATIONS, check_factors


def render_dense(
    factors: Mapping[str, torch.Tensor],
    *,
    resolution: int = 32,
    n_points: int = 40,
    extent: float = 6.0,
    normalize: str = "row",
) -> torch.Tensor:
    """Dense Spirograph rendering, a direct transcription of the PROTOCOL.md §1 formula.

    Args and Returns: as ``spirograph.render``; output shape (B, 3, R, R).
    """
    check_factors(factors)
    check_choice("normalize", normalize, NORMALIZATIONS)
    m, b, h, sigma = (factors[k] for k in ("m", "b", "h", "sigma"))
    dtype, device = m.dtype, m.device
    a = m + b - h
    t = torch.linspace(0, 2 * math.pi, n_points, dtype=dtype, device=device).unsqueeze(-1)  # (T, 1)
    x = (a - b) * torch.cos(t) + h * torch.cos(t * (a - b) / b)  # (T, B)
    y = (a - b) * torch.sin(t) - h * torch.sin(t * (a - b) / b)
    axis = torch.linspace(-extent, extent, resolution, dtype=dtype, device=device)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), dim=0)  # (2, R, R)
    centres = torch.stack([x, y], dim=-1)[..., None, None]  # (T, B, 2, 1, 1)
    d = ((grid - centres) ** 2).sum(2)  # (T, B, R, R)
    v = torch.exp(-d / sigma[:, None, None]).mean(0)  # (B, R, R)
    if normalize == "row":
        v = v / (v.max(dim=-1, keepdim=True)[0].max(dim=-1, keepdim=True)[0] + 1e-8)
    else:
        v = v / (v.amax(dim=(-2, -1), keepdim=True) + 1e-8)
    fg = torch.stack([factors["fg_r"], factors["fg_g"], factors["fg_b"]], dim=-1)[..., None, None]
    bg = torch.stack([factors["bg_r"], factors["bg_g"], factors["bg_b"]], dim=-1)[..., None, None]
    v = v.unsqueeze(1)
    return v * fg + (1 - v) * bg

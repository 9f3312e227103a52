"""Pure differentiable rendering of Spirograph images (PROTOCOL.md §1).

The Gaussian kernel is separable, exp(−(Δu² + Δv²)/σ) = exp(−Δu²/σ)·exp(−Δv²/σ), so the intensity
image is (1/T)·Eᵤᵀ·Eᵥ with two (T, R) matrices per image: one batched matmul instead of T·R²
exponentials. Every operation is twice differentiable, as the gradient penalty needs.
"""

from __future__ import annotations

import math
from typing import Mapping

import torch

from ._validate import bad_value, check_choice, check_int, check_positive_float, unknown_name
from .factors import FACTOR_NAMES

NORMALIZATIONS = ("row", "image")
MAX_RESOLUTION = 4096
"""The largest image side accepted: one 4096² RGB float32 image is already 200 MB."""
_EPS = 1e-8  # added to the normaliser, as the original code does


def curve_points(
    m: torch.Tensor, b: torch.Tensor, h: torch.Tensor, n_points: int = 40
) -> tuple[torch.Tensor, torch.Tensor]:
    """Points of the hypotrochoid at ``n_points`` times in [0, 2π] (both ends included).

    The phase is computed as ``t·(a − b)/b`` with ``a = m + b − h``, the original code's order of
    operations: the phase reaches ~280 rad, so a different order moves float32 points by ~4e-5.

    Args:
        m, b, h: tensors of shape (B,).
        n_points: T.

    Returns:
        ``(x, y)``, each of shape (B, T). ``x`` runs along image rows (the original's convention).
    """
    t = torch.linspace(0.0, 2.0 * math.pi, n_points, dtype=m.dtype, device=m.device)
    a = m + b - h
    radius = (a - b).unsqueeze(-1)  # (B, 1)
    phase = t * radius / b.unsqueeze(-1)  # (B, T)
    h = h.unsqueeze(-1)
    x = radius * torch.cos(t) + h * torch.cos(phase)
    y = radius * torch.sin(t) - h * torch.sin(phase)
    return x, y


def intensity(
    x: torch.Tensor,
    y: torch.Tensor,
    sigma: torch.Tensor,
    *,
    resolution: int = 32,
    extent: float = 6.0,
    normalize: str = "row",
) -> torch.Tensor:
    """Normalised curve intensity on an R×R grid over [−extent, extent]².

    Args:
        x, y: curve points, shape (B, T).
        sigma: kernel width, shape (B,); the exponent is divided by sigma itself.

    Returns:
        Tensor (B, R, R) with rows indexed by the grid coordinate that ``x`` runs along.
    """
    grid = torch.linspace(-extent, extent, resolution, dtype=x.dtype, device=x.device)
    neg_inv_sigma = (-1.0 / sigma).view(-1, 1, 1, 1)
    points = torch.stack([x, y], dim=1)  # (B, 2, T): both factors of the kernel in one pass
    needs_grad = torch.is_grad_enabled() and (points.requires_grad or neg_inv_sigma.requires_grad)
    diff = grid - points.unsqueeze(-1)  # (B, 2, T, R)
    if needs_grad:
        kernel = torch.exp(diff * diff * neg_inv_sigma)
    else:  # in place: the (B, 2, T, R) pass is memory bound
        kernel = diff.square_().mul_(neg_inv_sigma).exp_()
    v = torch.bmm(kernel[:, 0].transpose(1, 2), kernel[:, 1])  # (B, R, R)
    if normalize == "row":
        # The original takes max(-1) then max over a size-1 axis: each ROW is its own maximum.
        peak = v.amax(dim=-1, keepdim=True)
    else:
        peak = v.amax(dim=(-2, -1), keepdim=True)
    # Dividing by T commutes with the normalisation except inside the 1e-8 guard, so keep it.
    scale = peak + _EPS * x.shape[-1]
    return v.div_(scale) if not needs_grad else v / scale


def colorize(v: torch.Tensor, fg: torch.Tensor, bg: torch.Tensor) -> torch.Tensor:
    """Blend foreground and background colours: ``v·fg + (1 − v)·bg``, no clamping.

    Args:
        v: intensities (B, R, R); fg, bg: colours (B, 3).

    Returns:
        Tensor (B, 3, R, R).
    """
    # bg + v·(fg − bg): one fused pass; equal to the original's v·fg + (1 − v)·bg up to rounding.
    return torch.addcmul(bg[:, :, None, None], v.unsqueeze(1), (fg - bg)[:, :, None, None])


def render_unchecked(
    factors: Mapping[str, torch.Tensor],
    *,
    resolution: int = 32,
    n_points: int = 40,
    extent: float = 6.0,
    normalize: str = "row",
) -> torch.Tensor:
    """``render`` without input validation, for trusted internal callers on hot paths."""
    x, y = curve_points(factors["m"], factors["b"], factors["h"], n_points)
    v = intensity(x, y, factors["sigma"], resolution=resolution, extent=extent, normalize=normalize)
    fg = torch.stack([factors["fg_r"], factors["fg_g"], factors["fg_b"]], dim=-1)
    bg = torch.stack([factors["bg_r"], factors["bg_g"], factors["bg_b"]], dim=-1)
    return colorize(v, fg, bg)


def render(
    factors: Mapping[str, torch.Tensor],
    *,
    resolution: int = 32,
    n_points: int = 40,
    extent: float = 6.0,
    normalize: str = "row",
) -> torch.Tensor:
    """Render Spirograph images from the ten factors (PROTOCOL.md §1), differentiably.

    Args:
        factors: mapping from each of ``m, b, h, sigma, fg_r, fg_g, fg_b, bg_r, bg_g, bg_b`` to a
            1-D floating tensor of length B; all on one device with one dtype.
        resolution: R >= 2, the image side.
        n_points: T >= 2, points on the curve.
        extent: > 0; the grid spans [−extent, extent] on both axes.
        normalize: ``"row"`` (the original code: each image row divided by its maximum; default,
            matches published numbers) or ``"image"`` (the paper's text: one maximum per image).

    Returns:
        Tensor (B, 3, R, R) with the factors' dtype and device.

    Raises:
        ValueError: unknown/missing names, mismatched lengths/devices/dtypes, non-floating or
            non-finite values, ``b <= 0`` or ``sigma <= 0``, or bad keyword values.
    """
    resolution = check_int("resolution", resolution, 2, MAX_RESOLUTION)
    n_points = check_int("n_points", n_points, 2)
    extent = check_positive_float("extent", extent)
    check_choice("normalize", normalize, NORMALIZATIONS)
    check_factors(factors)
    return render_unchecked(factors, resolution=resolution, n_points=n_points, extent=extent, normalize=normalize)


def check_factors(factors: Mapping[str, torch.Tensor]) -> None:
    """Validate a factor mapping for ``render``; raises ValueError naming the offending entry."""
    if not isinstance(factors, Mapping):
        raise bad_value("factors", type(factors).__name__, "a mapping from factor name to 1-D tensor")
    for name in factors:
        if name not in FACTOR_NAMES:
            raise unknown_name("factor", name, FACTOR_NAMES)
    missing = [n for n in FACTOR_NAMES if n not in factors]
    if missing:
        raise bad_value("factors", sorted(factors, key=str), f"all ten factors; missing {missing}")
    first = factors[FACTOR_NAMES[0]]
    for name in FACTOR_NAMES:
        value = factors[name]
        arg = f"factors[{name!r}]"
        if not isinstance(value, torch.Tensor):
            raise bad_value(arg, type(value).__name__, "a torch.Tensor")
        if not value.is_floating_point():
            raise bad_value(f"{arg}.dtype", value.dtype, "a floating dtype (float32 or float64)")
        if value.ndim != 1:
            raise bad_value(f"{arg}.shape", tuple(value.shape), "a 1-D tensor of length B")
        if value.shape != first.shape:
            raise bad_value(f"{arg}.shape", tuple(value.shape), f"length {first.shape[0]} like factors['m']")
        if value.device != first.device:
            raise bad_value(f"{arg}.device", str(value.device), f"{first.device} like factors['m']")
        if value.dtype != first.dtype:
            raise bad_value(f"{arg}.dtype", value.dtype, f"{first.dtype} like factors['m']")
    # One host sync for all checks of values.
    stacked = torch.stack([factors[n].detach() for n in FACTOR_NAMES])
    finite = torch.isfinite(stacked).all(dim=1)
    positive = torch.stack([(factors[n].detach() > 0).all() for n in ("b", "sigma")])
    finite, positive = finite.tolist(), positive.tolist()
    for name, ok in zip(FACTOR_NAMES, finite):
        if not ok:
            raise bad_value(f"factors[{name!r}]", "non-finite values", "finite values")
    for name, ok in zip(("b", "sigma"), positive):
        if not ok:
            low = factors[name].detach().min().item()
            raise bad_value(f"factors[{name!r}]", f"min {low:g}", f"{name} > 0")

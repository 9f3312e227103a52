"""Pure differentiable rendering of Spirograph images (PROTOCOL.md §1).

The Gaussian kernel is separable, exp(−(Δu² + Δv²)/σ) = exp(−Δu²/σ)·exp(−Δv²/σ), so the intensity
image is (1/T)·Eᵤᵀ·Eᵥ with two (T, R) matrices per image: one batched matmul instead of T·R²
exponentials. Every operation is twice differentiable, as the gradient penalty needs.
"""

from __future__ import annotations

import math
from typing import Mapping

import torch

from ..._validate import check_choice, check_int, check_positive_float
from ..blocks import cat_blocks
from ..spec import MAX_RESOLUTION, check_factor_mapping, differentiated
from .factors import FACTOR_NAMES, POSITIVE

NORMALIZATIONS = ("row", "image")
MAX_POINTS = 65_536
"""The most curve points accepted: one image's kernel factors (2·T·R values) stay within 2 GB at R = 4096."""
DTYPE_RULE = "a floating dtype, torch.float32 or torch.float64 (half precision cannot hold the ~280 rad phase)"
OPTIONS = {"resolution": 32, "n_points": 40, "extent": 6.0, "normalize": "row"}
"""The render options and their defaults (PROTOCOL.md §1)."""
_EPS = 1e-8  # added to the normaliser, as the original code does
CPU_BLOCK_BYTES = 128 * (2 * 40 * 32 + 3 * 32 * 32) * 4
"""Working set of one block per CPU thread (2.9 MB): the (b, 2, T, R) kernel, (b, R, R) intensity
and (b, 2, R²) colouring operand of 128 float32 images at R = 32, T = 40, the best measured block
on one thread; 256 images were best on two (benchmarks/README.md)."""
GRAD_BLOCK_FACTOR = 4
"""Blocks with autograd hold this many times more images (512 per thread at R = 32): the same speed
on idle cores as 128 within noise, and fewer parallel regions (benchmarks/README.md)."""
GPU_BLOCK = 65_536  # on accelerators one launch per op is what matters; this only bounds memory


def curve_points(m: torch.Tensor, b: torch.Tensor, h: torch.Tensor, n_points: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
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


def exponent_floor(dtype: torch.dtype) -> float:
    """Lower bound of the kernel's exponent, so no kernel value or product of two is subnormal.

    Far from the curve exp(−Δu²/σ) underflows into subnormal floats, and every matmul or
    elementwise pass over subnormals runs up to 30× slower on x86 CPUs. Clamping the exponent at
    0.45·ln(smallest normal) (−39.3 in float32, −318.6 in float64) keeps each factor and each
    product of two normal. The change is at most e^floor per factor: after normalisation by
    ``peak + T·1e-8`` a pixel moves by at most 1e8·e^floor (9e-10 in float32, 0 in float64),
    and the gradient there (~e^floor) is dropped.
    """
    return 0.45 * math.log(torch.finfo(dtype).tiny)


def _grid(resolution: int, extent: float, like: torch.Tensor) -> torch.Tensor:
    return torch.linspace(-extent, extent, resolution, dtype=like.dtype, device=like.device)


class _Kernel(torch.autograd.Function):
    """Kernel factors k = exp(max(−(g − p)²/σ, floor)): points p (n, 2, T, 1), −1/σ (n, 1, 1, 1), grid g (R,).

    Autograd's graph for these four elementwise steps costs six passes over the (n, 2, T, R)
    tensor in the backward and twice that again in the gradient penalty's double backward. Here
    the backward is q = grad·k and, for p, one (n·2·T, R) × (R, 2) matmul that gives Σ_R q·g and
    Σ_R q together: ∂/∂p = −2/σ·(p·Σ q − Σ q·g)·(−1) written out below. It is built from
    differentiable operations on the saved output k, so it differentiates again correctly
    (gradgradcheck in the tests). In the clamped region the gradient is q·(…) with k = e^floor
    instead of 0: below 1e-17 relative in float32 (see ``exponent_floor``).
    """

    @staticmethod
    def forward(points: torch.Tensor, neg_inv_sigma: torch.Tensor, grid: torch.Tensor, floor: float) -> torch.Tensor:
        return (grid - points).square_().mul_(neg_inv_sigma).clamp_(min=floor).exp_()

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        points, neg_inv_sigma, grid, _ = inputs
        ctx.save_for_backward(points, neg_inv_sigma, grid, output)
        ctx.save_for_forward(points, neg_inv_sigma, grid, output)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        points, neg_inv_sigma, grid, kernel = ctx.saved_tensors
        q = grad * kernel  # ∂L/∂exponent
        grad_points = grad_neg = None
        if ctx.needs_input_grad[0]:
            # Σ_R q·(g − p) = Σ_R q·g − p·Σ_R q: one matmul against [g, 1] instead of two passes.
            sums = torch.matmul(q, torch.stack([grid, torch.ones_like(grid)], dim=-1))  # (n, 2, T, 2)
            grad_points = (-2.0 * neg_inv_sigma) * (sums[..., :1] - points * sums[..., 1:])
        if ctx.needs_input_grad[1]:
            diff = grid - points
            grad_neg = (q * diff * diff).sum(dim=(1, 2, 3), keepdim=True)
        return grad_points, grad_neg, None, None

    @staticmethod
    def jvp(ctx, points_t, neg_t, grid_t, floor_t):
        """Forward mode (torch.func.jvp, forward_ad): with z = −(g − p)²/σ, k̇ = k·(2·(g − p)·ṗ/σ + (g − p)²·ν̇), ν = −1/σ."""
        points, neg_inv_sigma, grid, kernel = ctx.saved_tensors
        diff = grid - points
        exponent_t = torch.zeros_like(kernel)
        if points_t is not None:
            exponent_t = exponent_t + (-2.0 * neg_inv_sigma) * diff * points_t
        if neg_t is not None:
            exponent_t = exponent_t + diff * diff * neg_t
        return kernel * exponent_t


def _raw_intensity(x: torch.Tensor, y: torch.Tensor, sigma: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """T·(unnormalised intensity), (B, R, R): the two (B, T, R) kernel factors and one batched matmul."""
    points = torch.stack([x, y], dim=1).unsqueeze(-1)  # (B, 2, T, 1): both factors in one pass
    neg_inv_sigma = (-1.0 / sigma).view(-1, 1, 1, 1)
    # unbind, not two selects: each select's backward would zero-fill a full (B, 2, T, R) tensor.
    ku, kv = _Kernel.apply(points, neg_inv_sigma, grid, exponent_floor(x.dtype)).unbind(1)
    return torch.bmm(ku.transpose(1, 2), kv)


def _peak(v: torch.Tensor, normalize: str, n_points: int) -> torch.Tensor:
    """The normaliser of each row (B, R, 1) or image (B, 1, 1), with the original's 1e-8 guard."""
    # The original takes max(-1) then max over a size-1 axis: each ROW is its own maximum.
    peak = v.amax(dim=-1, keepdim=True) if normalize == "row" else v.amax(dim=(-2, -1), keepdim=True)
    # v is T times the mean over the curve: dividing by T commutes with the normalisation except
    # inside the 1e-8 guard, so the guard is scaled by T.
    return peak + _EPS * n_points


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
        normalize: ``"row"`` or ``"image"`` (see ``render``).

    Returns:
        Tensor (B, R, R) with rows indexed by the grid coordinate that ``x`` runs along.

    Raises:
        ValueError: ``normalize`` is not one of ``NORMALIZATIONS``.
    """
    check_choice("normalize", normalize, NORMALIZATIONS)
    v = _raw_intensity(x, y, sigma, _grid(resolution, extent, x))
    return v / _peak(v, normalize, x.shape[-1])


def colorize(v: torch.Tensor, fg: torch.Tensor, bg: torch.Tensor) -> torch.Tensor:
    """Blend foreground and background colours: ``v·fg + (1 − v)·bg``, no clamping.

    Args:
        v: intensities (B, R, R); fg, bg: colours (B, 3).

    Returns:
        Tensor (B, 3, R, R).
    """
    n, rows, cols = v.shape
    # bg + (fg − bg)·v as one rank-1 batched matmul: equal to the original's blend up to rounding.
    out = torch.baddbmm(bg.unsqueeze(-1), (fg - bg).unsqueeze(-1), v.reshape(n, 1, rows * cols))
    return out.view(n, 3, rows, cols)


def _colours(factors: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    fg = torch.stack([factors["fg_r"], factors["fg_g"], factors["fg_b"]], dim=-1)
    bg = torch.stack([factors["bg_r"], factors["bg_g"], factors["bg_b"]], dim=-1)
    return fg, bg


def _render_graph(factors: Mapping[str, torch.Tensor], grid: torch.Tensor, n_points: int, normalize: str) -> torch.Tensor:
    """One block with autograd: (b, 3, R, R), twice differentiable in all ten factors."""
    x, y = curve_points(factors["m"], factors["b"], factors["h"], n_points)
    v = _raw_intensity(x, y, factors["sigma"], grid)
    fg, bg = _colours(factors)
    return colorize(v / _peak(v, normalize, n_points), fg, bg)


def _render_into(
    out: torch.Tensor, factors: Mapping[str, torch.Tensor], grid: torch.Tensor, n_points: int, normalize: str, block: int
) -> None:
    """No-grad render into ``out`` (B, 3, R, R), block by block, reusing block-sized buffers.

    Per block: one pass writes the (b, 2, T, R) differences, four in-place passes turn them into
    kernel values (cache resident), one matmul gives the intensity, one pass normalises it into
    the lower row of a [1; v] operand and one batched matmul [bg, fg − bg]·[1; v] writes the
    colour image: the only pass that touches memory beyond the cache.
    """
    batch, resolution = out.shape[0], out.shape[-1]
    floor = exponent_floor(out.dtype)
    x, y = curve_points(factors["m"], factors["b"], factors["h"], n_points)
    points = torch.stack([x, y], dim=1).unsqueeze(-1)  # (B, 2, T, 1)
    neg_inv_sigma = (-1.0 / factors["sigma"]).view(-1, 1, 1, 1)
    fg, bg = _colours(factors)
    coef = torch.stack([bg, fg - bg], dim=-1)  # (B, 3, 2)
    size = min(block, batch)
    diff = torch.empty(size, 2, n_points, resolution, dtype=out.dtype, device=out.device)
    raw = torch.empty(size, resolution, resolution, dtype=out.dtype, device=out.device)
    operand = torch.empty(size, 2, resolution * resolution, dtype=out.dtype, device=out.device)
    operand[:, 0] = 1.0
    flat = out.view(batch, 3, resolution * resolution)
    for lo in range(0, batch, size):
        hi = min(lo + size, batch)
        n = hi - lo
        kernel = torch.sub(grid, points[lo:hi], out=diff[:n])
        kernel.square_().mul_(neg_inv_sigma[lo:hi]).clamp_(min=floor).exp_()
        v = torch.bmm(kernel[:, 0].transpose(1, 2), kernel[:, 1], out=raw[:n])
        torch.div(v, _peak(v, normalize, n_points), out=operand[:n, 1].view(n, resolution, resolution))
        torch.bmm(coef[lo:hi], operand[:n], out=flat[lo:hi])


def block_size(
    device: torch.device, resolution: int = 32, n_points: int = 40, dtype: torch.dtype = torch.float32, *, grad: bool = False
) -> int:
    """Images per block of ``render``: a cache-sized working set per CPU thread, ``GPU_BLOCK`` elsewhere.

    Each operation on a block is split over the intra-op threads, so a block holds
    ``CPU_BLOCK_BYTES`` per thread. With autograd (``grad``) blocks are ``GRAD_BLOCK_FACTOR``
    times larger: every block adds some forty graph nodes, each a parallel region, and on cores
    that other processes share each region waits for a descheduled thread.
    """
    if device.type != "cpu":
        return GPU_BLOCK
    per_image = (2 * n_points * resolution + 3 * resolution * resolution) * torch.finfo(dtype).bits // 8
    return max(1, CPU_BLOCK_BYTES * torch.get_num_threads() * (GRAD_BLOCK_FACTOR if grad else 1) // per_image)


def render_unchecked(
    factors: Mapping[str, torch.Tensor],
    *,
    resolution: int = 32,
    n_points: int = 40,
    extent: float = 6.0,
    normalize: str = "row",
    block: int | None = None,
) -> torch.Tensor:
    """``render`` without input validation, for trusted internal callers on hot paths.

    The batch is rendered in blocks of ``block`` images (default ``block_size(...)``) so that
    each block's work stays in cache. Without autograd an image's bits depend neither on the block
    size nor on the batch it is in nor on the thread count (tested: split files are byte-identical
    across chunk sizes and workers); with autograd each block is its own graph, joined by one
    concatenation, and the colour blend is computed as bg + (fg − bg)·v, equal up to rounding.
    """
    m = factors["m"]
    if not differentiated(factors):
        out = torch.empty(m.shape[0], 3, resolution, resolution, dtype=m.dtype, device=m.device)
        render_into(out, factors, n_points=n_points, extent=extent, normalize=normalize, block=block)
        return out
    block = block_size(m.device, resolution, n_points, m.dtype, grad=True) if block is None else block
    grid = _grid(resolution, extent, m)
    if m.shape[0] <= block:
        return _render_graph(factors, grid, n_points, normalize)
    # One split per factor (its backward is one cat), one cat of the blocks (its backward one split).
    pieces = {name: value.split(block) for name, value in factors.items()}
    parts = [_render_graph({name: p[i] for name, p in pieces.items()}, grid, n_points, normalize) for i in range(len(pieces["m"]))]
    return cat_blocks(parts)


def render_into(
    out: torch.Tensor,
    factors: Mapping[str, torch.Tensor],
    *,
    resolution: int | None = None,
    n_points: int = 40,
    extent: float = 6.0,
    normalize: str = "row",
    block: int | None = None,
) -> None:
    """Render without autograd into a preallocated ``out`` (B, 3, R, R) (trusted callers, no checks).

    ``out`` must be contiguous with the factors' dtype and device; ``resolution``, if given,
    must equal its last dimension.
    """
    if out.shape[0] == 0:
        return
    block = block_size(out.device, out.shape[-1], n_points, out.dtype) if block is None else block
    with torch.no_grad():
        _render_into(out, factors, _grid(out.shape[-1], extent, out), n_points, normalize, block)


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
            1-D float32 or float64 tensor of length B; all on one device with one dtype.
        resolution: R >= 2, the image side.
        n_points: T >= 2, points on the curve.
        extent: > 0; the grid spans [−extent, extent] on both axes.
        normalize: ``"row"`` (the original code: each image row divided by its maximum; default,
            matches published numbers) or ``"image"`` (the paper's text: one maximum per image).

    Returns:
        Tensor (B, 3, R, R) with the factors' dtype and device.

    Raises:
        ValueError: unknown/missing names, mismatched lengths/devices/dtypes, a dtype other than
            float32/float64 (float16 and bfloat16 cannot represent the ~280 rad phase; under
            autocast render in float32), non-finite values, ``b <= 0`` or ``sigma <= 0``, or bad
            keyword values.
    """
    options = check_options(dict(resolution=resolution, n_points=n_points, extent=extent, normalize=normalize))
    check_factors(factors)
    return render_unchecked(factors, **options)


def check_options(options: dict) -> dict:
    """The one validator of Spirograph's render options: the complete mapping, normalised.

    Raises:
        ValueError: ``resolution`` outside [2, MAX_RESOLUTION], ``n_points`` outside
            [2, MAX_POINTS], ``extent`` not a finite number > 0, ``normalize`` not in NORMALIZATIONS.
    """
    return {
        "resolution": check_int("resolution", options["resolution"], 2, MAX_RESOLUTION),
        "n_points": check_int("n_points", options["n_points"], 2, MAX_POINTS),
        "extent": check_positive_float("extent", options["extent"]),
        "normalize": check_choice("normalize", options["normalize"], NORMALIZATIONS),
    }


def check_factors(factors: Mapping[str, torch.Tensor]) -> None:
    """Validate a factor mapping for ``render``; raises ValueError naming the offending entry."""
    check_factor_mapping(factors, FACTOR_NAMES, POSITIVE, owner="generator 'spirograph'")

"""Pure differentiable rendering of sprites (PROTOCOL.md §S1): a smooth signed distance, a sigmoid coverage.

Per image the inverse of translation, rotation, scale and the aspect squash is one affine map, so
the unit-frame coordinates (u, w) of every pixel centre are an outer sum of a row term and a column
term. Per pixel: the superellipse norm ρ = ((u² + ε²)^(p/2) + (w² + ε²)^(p/2))^(1/p), the lobes'
modulation m = 1 + A·T_k(u/r) with r = √(u² + w² + ε²) (T_k the Chebyshev polynomial: cos kθ
without an angle, smooth at the centre), the shape function G = ρ/m, its gradient written out,
the signed distance d = (G − 1)/‖∇G‖ in pixels and the coverage σ(−d/τ). Every operation is
smooth (infinitely differentiable in every factor and every pixel position), so gradients of any
order are finite everywhere.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Mapping

import torch

from ..._validate import bad_value
from ..blocks import cat_blocks
from ..compile_switch import enabled as compile_enabled
from ..spec import MAX_RESOLUTION, check_factor_mapping, differentiated
from . import fused  # builds on this module's formulas, which it looks up at call time
from .factors import FACTOR_NAMES, LOBE_COUNT, SMOOTHING, TAU, check_options

GRADIENT_FLOOR = 1e-3
"""η: ‖∇G‖ is computed as √(‖∇G‖² + η²) in unit-frame units. On the edge ‖∇G‖ ≥ 1/1.47 (G is
homogeneous of degree one up to ε, so q·∇G ≈ G and the edge is at most 1.47 from the centre), so
the floor moves the edge by less than 1.1e-6 of a half-axis; it only matters near the centre where
∇G can vanish (no lobes), making d very negative there: full coverage."""
CPU_BLOCK_BYTES = 3 << 20
"""Working set of one no-grad block per CPU thread: the twelve (b, R, R) buffers of 64 float32 images
at R = 32 (3 MB); 64–128 images were fastest on one thread, 32 and 4,096 slower (benchmarks/README.md)."""
GRAD_BLOCK_FACTOR = 4
"""Blocks with autograd hold this many times more images (256 per thread at R = 32): the penalty's
double backward makes some 900 operator calls per block, so small blocks pay their overhead many
times over (benchmarks/README.md)."""
GPU_BLOCK = 65_536
_BUFFERS = 12  # (b, R, R) buffers the no-grad path keeps per block


def logit_clamp(dtype: torch.dtype) -> float:
    """Bound L of the sigmoid's argument, |−d/τ| ≤ L, so no coverage, derivative or product of four is subnormal.

    L = 0.225·|ln(smallest normal)|: 19.65 in float32, 159.3 in float64. σ(−L) = e^−L·(1 + …), so
    e^(−4L) is still a normal number: the coverage, its derivative and products of up to four such
    factors never fall into the subnormal floats (up to 30× slower on x86 CPUs). A clamped pixel is more than
    L·τ = 7.9 px (τ = 0.4) from the edge; its coverage moves by at most e^−L (2.9e-9 in float32,
    3e-70 in float64), so a pixel moves by at most e^−L·|fg − bg|, and its gradient (≤ e^−L) is dropped.
    """
    return 0.225 * abs(math.log(torch.finfo(dtype).tiny))


def pixel_centres(resolution: int, like: torch.Tensor) -> torch.Tensor:
    """Canvas coordinates of the R pixel centres along one axis, (2i + 1)/R − 1: shape (R,)."""
    return torch.arange(1, 2 * resolution, 2, dtype=like.dtype, device=like.device) / resolution - 1.0


def frame(f: Mapping[str, torch.Tensor], grid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit-frame coordinates (u, w) of every pixel centre, each (b, R, R): undo translation, rotation, scale, aspect.

    x runs along image columns (left to right), y along rows (top to bottom); the angle turns x
    towards y. u = (cos φ·Δx + sin φ·Δy)/s, w = (−sin φ·Δx + cos φ·Δy)/(s·a).
    """
    cos, sin = torch.cos(f["angle"]), torch.sin(f["angle"])
    inv_u = 1.0 / f["scale"]
    inv_w = inv_u / f["aspect"]
    dx = grid - f["x"].unsqueeze(-1)  # (b, R): columns
    dy = grid - f["y"].unsqueeze(-1)  # (b, R): rows
    u = ((sin * inv_u).unsqueeze(-1) * dy).unsqueeze(-1) + ((cos * inv_u).unsqueeze(-1) * dx).unsqueeze(-2)
    w = ((cos * inv_w).unsqueeze(-1) * dy).unsqueeze(-1) - ((sin * inv_w).unsqueeze(-1) * dx).unsqueeze(-2)
    return u, w


def _per_image(value: torch.Tensor) -> torch.Tensor:
    return value.view(-1, 1, 1)


def logit(f: Mapping[str, torch.Tensor], grid: torch.Tensor, tau: float, lobe_count: int) -> torch.Tensor:
    """The clamped sigmoid argument −d/τ of every pixel, (b, R, R); differentiable (autograd graph).

    Args:
        f: factor mapping (tensors of shape (b,)); grid: ``pixel_centres`` (R,); tau: edge width
            in pixels; lobe_count: k.
    """
    u, w = frame(f, grid)
    return logit_at(u, w, f, grid.shape[0], tau, lobe_count)


def logit_at(u: torch.Tensor, w: torch.Tensor, f: Mapping[str, torch.Tensor], resolution: int, tau: float, lobe_count: int) -> torch.Tensor:
    """``logit`` at given unit-frame coordinates u, w (b, R, R) (``frame``): the per-pixel part of the formulas."""
    eps2 = SMOOTHING * SMOOTHING
    p = _per_image(f["roundness"])
    uu = u * u + eps2
    ww = w * w + eps2
    # Powers through log and exp, as the no-grad path computes them (a tensor exponent in ``pow`` is
    # not vectorised in eager mode); the fused kernels compile this same form.
    pu = torch.exp((0.5 * p) * torch.log(uu))
    pw = torch.exp((0.5 * p) * torch.log(ww))
    total = pu + pw
    rho = torch.exp(torch.log(total) / p)
    inv_r = torch.rsqrt(uu + w * w)
    c = u * inv_r
    # Chebyshev U_{k-1}(c) and U_{k-2}(c) by the stable recurrence; T_k = c·U_{k-1} − U_{k-2}, T_k' = k·U_{k-1}.
    two_c = 2.0 * c
    u_prev, u_cur = torch.ones_like(c), two_c
    for _ in range(lobe_count - 2):
        u_prev, u_cur = u_cur, two_c * u_cur - u_prev
    cheb = c * u_cur - u_prev
    amplitude = _per_image(f["lobes"])
    m = 1.0 + amplitude * cheb
    # m·∂G/∂u and m·∂G/∂w: ∂ρ/∂u = (ρ/S)·u·(u²+ε²)^(p/2−1); ∂m/∂u = A·k·U_{k−1}·(w²+ε²)/r³, ∂m/∂w = −A·k·U_{k−1}·u·w/r³.
    t = (amplitude * lobe_count) * u_cur * inv_r**3 * (rho / m)
    h = rho / total
    gu = h * u * pu / uu - t * ww
    gw = h * w * pw / ww + t * u * w
    norm = torch.sqrt(gu * gu + (gw / _per_image(f["aspect"])) ** 2 + (GRADIENT_FLOOR * m) ** 2)
    # d (px) = (G − 1)·s·R/2 / ‖D·∇G‖ with G − 1 = (ρ − m)/m; the m's cancel against the gradient's.
    to_logit = _per_image(f["scale"]) * (resolution / (2.0 * tau))
    bound = logit_clamp(u.dtype)
    return ((m - rho) * to_logit / norm).clamp(-bound, bound)


def colorize(coverage: torch.Tensor, f: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """``bg + (fg − bg)·coverage`` per channel: (b, R, R) -> (b, 3, R, R).

    A broadcast multiply-add rather than a rank-1 batched matmul: its backward is a multiply and a
    sum over pixels, where the matmul's is two batched matmuls with an inner dimension of one.
    """
    fg = torch.stack([f["fg_r"], f["fg_g"], f["fg_b"]], dim=-1).view(-1, 3, 1, 1)
    bg = torch.stack([f["bg_r"], f["bg_g"], f["bg_b"]], dim=-1).view(-1, 3, 1, 1)
    return torch.addcmul(bg, fg - bg, coverage.unsqueeze(1))


def _render_graph(f: Mapping[str, torch.Tensor], grid: torch.Tensor, tau: float, lobe_count: int) -> torch.Tensor:
    return colorize(torch.sigmoid(logit(f, grid, tau, lobe_count)), f)


def _render_into(out: torch.Tensor, f: Mapping[str, torch.Tensor], tau: float, lobe_count: int, block: int) -> None:
    """No-grad render into ``out`` (B, 3, R, R), block by block, in place on block-sized buffers.

    The same formulas as ``logit`` (tested equal to rounding), with each step written into a
    reused buffer so a block's working set stays in cache; powers go through log and exp
    (vectorised, where a tensor exponent is not), and the colours are three fused multiply-adds
    straight into the output. On a CPU with several intra-op threads the blocks are shared out
    among that many worker threads, each with its own buffers, and every block is small enough
    (``GRAIN`` elements) that torch runs its operations inline: one operation on a block then
    never waits at a barrier for a thread the operating system has descheduled, which on shared
    cores made two threads three times slower than one (benchmarks/README.md).
    """
    batch, resolution = out.shape[0], out.shape[-1]
    grid = pixel_centres(resolution, out)
    c = _Constants(f, grid, tau, lobe_count, out)
    threads = torch.get_num_threads() if out.device.type == "cpu" else 1
    if threads > 1 and batch > 1:
        size = max(1, min(block, GRAIN // (resolution * resolution)))
        starts = list(range(0, batch, size))
        if len(starts) > 1:
            shares = [starts[i::threads] for i in range(min(threads, len(starts)))]
            futures = [_pool(len(shares)).submit(_blocks, out, c, share, size, lobe_count) for share in shares]
            for future in futures:
                future.result()
            return
    _blocks(out, c, range(0, batch, min(block, batch)), min(block, batch), lobe_count)


GRAIN = 32_768
"""torch runs an elementwise operation on at most this many elements inline, without its thread pool."""
_POOLS: dict[int, ThreadPoolExecutor] = {}


def _pool(workers: int) -> ThreadPoolExecutor:
    if workers not in _POOLS:
        _POOLS[workers] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sprites-render")
    return _POOLS[workers]


class _Constants:
    """Per-image constants of the no-grad path: (B, 1, 1) factors and the (B, R) row/column terms of the affine map."""

    def __init__(self, f: Mapping[str, torch.Tensor], grid: torch.Tensor, tau: float, lobe_count: int, out: torch.Tensor) -> None:
        batch, resolution = out.shape[0], out.shape[-1]
        self.eps2 = torch.full((1, 1, 1), SMOOTHING * SMOOTHING, dtype=out.dtype, device=out.device)
        self.bound = logit_clamp(out.dtype)
        cos, sin = torch.cos(f["angle"]), torch.sin(f["angle"])
        inv_u = 1.0 / f["scale"]
        inv_w = inv_u / f["aspect"]
        dx, dy = grid - f["x"].unsqueeze(-1), grid - f["y"].unsqueeze(-1)
        self.u_row, self.u_col = ((sin * inv_u).unsqueeze(-1) * dy).unsqueeze(-1), ((cos * inv_u).unsqueeze(-1) * dx).unsqueeze(-2)
        self.w_row, self.w_col = ((cos * inv_w).unsqueeze(-1) * dy).unsqueeze(-1), ((-sin * inv_w).unsqueeze(-1) * dx).unsqueeze(-2)
        self.half_p, self.inv_p = _per_image(0.5 * f["roundness"]), _per_image(1.0 / f["roundness"])
        self.amplitude = _per_image(f["lobes"])
        self.amplitude_k = self.amplitude * lobe_count
        self.inv_aspect = _per_image(1.0 / f["aspect"])
        self.to_logit = _per_image(f["scale"] * (resolution / (2.0 * tau)))
        fg = torch.stack([f["fg_r"], f["fg_g"], f["fg_b"]], dim=-1)
        bg = torch.stack([f["bg_r"], f["bg_g"], f["bg_b"]], dim=-1)
        self.delta = (fg - bg).view(batch, 3, 1, 1)
        self.bg = bg.view(batch, 3, 1, 1)


def _blocks(out: torch.Tensor, k: _Constants, starts, size: int, lobe_count: int) -> None:
    """Render the blocks of ``size`` images beginning at ``starts`` into ``out``, on buffers of its own."""
    batch, resolution = out.shape[0], out.shape[-1]
    buf = torch.empty(_BUFFERS, size, resolution, resolution, dtype=out.dtype, device=out.device)
    eps2, bound, floor2 = k.eps2, k.bound, GRADIENT_FLOOR * GRADIENT_FLOOR
    u_row, u_col, w_row, w_col = k.u_row, k.u_col, k.w_row, k.w_col
    half_p, inv_p, amplitude, amplitude_k = k.half_p, k.inv_p, k.amplitude, k.amplitude_k
    inv_aspect, to_logit, bg, delta = k.inv_aspect, k.to_logit, k.bg, k.delta
    for lo in starts:
        hi = min(lo + size, batch)
        u, w, uu, ww, pu, pw, total, rho, c, a, b, t = (x[: hi - lo] for x in buf)
        torch.add(u_row[lo:hi], u_col[lo:hi], out=u)
        torch.add(w_row[lo:hi], w_col[lo:hi], out=w)
        torch.addcmul(eps2, u, u, out=uu)
        torch.addcmul(eps2, w, w, out=ww)
        torch.log(uu, out=pu).mul_(half_p[lo:hi]).exp_()
        torch.log(ww, out=pw).mul_(half_p[lo:hi]).exp_()
        torch.add(pu, pw, out=total)
        torch.log(total, out=rho).mul_(inv_p[lo:hi]).exp_()
        torch.addcmul(uu, w, w, out=t).rsqrt_()  # t = 1/r
        torch.mul(u, t, out=c)
        # Chebyshev recurrence: a = U_{n-1}, b = U_n; ends with a = U_{k-2}, b = U_{k-1}.
        a.fill_(1.0)
        torch.mul(c, 2.0, out=b)
        for _ in range(lobe_count - 2):
            torch.addcmul(a, c, b, value=-2.0, out=a).neg_()  # U_{n+1} = 2c·U_n − U_{n−1}, written over U_{n−1}
            a, b = b, a
        # m = 1 + A·(c·U_{k−1} − U_{k−2}), written over a.
        torch.addcmul(a, c, b, value=-1.0, out=a).mul_(-amplitude[lo:hi]).add_(1.0)
        m = a
        # t ← A·k·U_{k−1}·ρ/(m·r³); b is free after this.
        t.pow_(3).mul_(b).mul_(amplitude_k[lo:hi]).mul_(rho).div_(m)
        h = b
        torch.div(rho, total, out=h)
        # gu over pu: h·u·pu/uu − t·ww;  gw over pw: h·w·pw/ww + t·u·w.
        pu.div_(uu).mul_(u).mul_(h).addcmul_(t, ww, value=-1.0)
        pw.div_(ww).mul_(w).mul_(h)
        torch.mul(t, u, out=c).mul_(w)
        pw.add_(c).mul_(inv_aspect[lo:hi])
        # norm² = gu² + (gw/a)² + (η·m)², then the logit (m − ρ)·to_logit/norm over rho.
        torch.mul(pu, pu, out=total).addcmul_(pw, pw).addcmul_(m, m, value=floor2).rsqrt_()
        rho.neg_().add_(m).mul_(total).mul_(to_logit[lo:hi]).clamp_(-bound, bound).sigmoid_()
        torch.addcmul(bg[lo:hi], delta[lo:hi], rho.unsqueeze(1), out=out[lo:hi])


def block_size(device: torch.device, resolution: int = 32, dtype: torch.dtype = torch.float32, *, grad: bool = False) -> int:
    """Images per block: ``CPU_BLOCK_BYTES`` of (b, R, R) buffers per CPU thread, ``GPU_BLOCK`` elsewhere."""
    if device.type != "cpu":
        return GPU_BLOCK
    per_image = _BUFFERS * resolution * resolution * torch.finfo(dtype).bits // 8
    return max(1, CPU_BLOCK_BYTES * torch.get_num_threads() * (GRAD_BLOCK_FACTOR if grad else 1) // per_image)


def render_into(
    out: torch.Tensor,
    factors: Mapping[str, torch.Tensor],
    *,
    resolution: int | None = None,
    tau: float = TAU,
    lobe_count: int = LOBE_COUNT,
    block: int | None = None,
) -> None:
    """Render without autograd into a preallocated contiguous ``out`` (B, 3, R, R) (trusted callers, no checks).

    ``resolution``, if given, must equal ``out``'s last dimension (it is taken from ``out``).
    """
    if out.shape[0] == 0:
        return
    if compile_enabled():
        out.copy_(fused.render(factors, out.shape[-1], tau, lobe_count))
        return
    block = block_size(out.device, out.shape[-1], out.dtype) if block is None else block
    with torch.no_grad():
        _render_into(out, factors, tau, lobe_count, block)


def render_unchecked(
    factors: Mapping[str, torch.Tensor],
    *,
    resolution: int = 32,
    tau: float = TAU,
    lobe_count: int = LOBE_COUNT,
    block: int | None = None,
) -> torch.Tensor:
    """``render`` without input validation, for trusted internal callers on hot paths.

    Without autograd the in-place path renders block by block into the output; an image's bits
    depend neither on the block size nor on its batch (tested). With autograd each block of
    ``block`` images is its own graph, joined by one concatenation.
    """
    first = factors["x"]
    if compile_enabled():
        return fused.render(factors, resolution, tau, lobe_count)
    if not differentiated(factors):
        out = torch.empty(first.shape[0], 3, resolution, resolution, dtype=first.dtype, device=first.device)
        render_into(out, factors, tau=tau, lobe_count=lobe_count, block=block)
        return out
    block = block_size(first.device, resolution, first.dtype, grad=True) if block is None else block
    grid = pixel_centres(resolution, first)
    if first.shape[0] <= block:
        return _render_graph(factors, grid, tau, lobe_count)
    pieces = {name: value.split(block) for name, value in factors.items()}
    parts = [_render_graph({n: p[i] for n, p in pieces.items()}, grid, tau, lobe_count) for i in range(len(pieces["x"]))]
    return cat_blocks(parts)


def render(factors: Mapping[str, torch.Tensor], *, resolution: int = 32, tau: float = TAU, lobe_count: int = LOBE_COUNT) -> torch.Tensor:
    """Render sprites from their thirteen factors (PROTOCOL.md §S1), differentiably.

    Args:
        factors: mapping from each of ``roundness, aspect, lobes, x, y, angle, scale, fg_r, fg_g,
            fg_b, bg_r, bg_g, bg_b`` to a 1-D float32 or float64 tensor of length B, all on one
            device with one dtype. Values outside the prior box are drawn as they are (a shape
            may then leave the canvas); ``check_box`` decides whether a box of ranges fits.
        resolution: R in [2, MAX_RESOLUTION], the image side in pixels.
        tau: the edge width τ > 0 in pixels (coverage σ(−d/τ), d the signed distance in pixels).
        lobe_count: k in [2, 12], the number of lobes.

    Returns:
        Tensor (B, 3, R, R) with the factors' dtype and device; twice (indeed infinitely)
        differentiable in every factor, in reverse and forward mode.

    Raises:
        ValueError: unknown/missing names, mismatched lengths/devices/dtypes, a dtype other than
            float32/float64, non-finite values, a degenerate shape (scale <= 0, aspect outside
            (0, 1], roundness < 1, |lobes| >= 1), or bad keyword values.
    """
    resolution, tau, lobe_count = check_options(resolution, tau, lobe_count, MAX_RESOLUTION)
    check_factors(factors)
    return render_unchecked(factors, resolution=resolution, tau=tau, lobe_count=lobe_count)


_VALUE_RULES = (
    ("scale", lambda v: v > 0, "scale > 0"),
    ("aspect", lambda v: (v > 0) & (v <= 1), "0 < aspect <= 1"),
    ("roundness", lambda v: v >= 1, "roundness >= 1"),
    ("lobes", lambda v: v.abs() < 1, "|lobes| < 1 (the modulation 1 + lobes·cos kθ must stay positive)"),
)


def check_factors(factors: Mapping[str, torch.Tensor]) -> None:
    """Validate a factor mapping for ``render``; raises ValueError naming the offending entry.

    The generic checks (names, tensors, dtype, shape, device, finiteness) are the registry's
    ``check_factor_mapping``; ``check_values`` adds the ranges this renderer is defined on.
    """
    check_factor_mapping(factors, FACTOR_NAMES, owner="sprites")
    check_values(factors)


def check_values(factors: Mapping[str, torch.Tensor]) -> None:
    """Refuse factor values outside the ranges the renderer is defined on (``_VALUE_RULES``), one line naming the factor."""
    checks = torch.stack([rule(factors[n].detach()).all() for n, rule, _ in _VALUE_RULES]).tolist()  # one host sync
    for (name, rule, allowed), ok in zip(_VALUE_RULES, checks):
        if not ok:
            bad = factors[name].detach()[~rule(factors[name].detach())][0].item()
            raise bad_value(f"factors[{name!r}]", bad, allowed)

"""Sprites' formulas fused into a few compiled kernels (opt-in: ``SPIROGRAPH_COMPILE=1``).

The eager renderer makes some 40 passes over every block of pixels forward and about 900
operator calls per block in the InvCLR penalty's double backward (benchmarks/README.md). Here
``torch.compile`` fuses the same formulas (``render.logit_at`` and the colour blend) into a few
loops per kernel, all of the image I (B, 3, R, R) as a function of the factors θ (B, 13) in
``FACTOR_NAMES`` order:

- ``image``: I(θ), the no-grad path and ``Image``'s forward;
- ``vjp``: Σ_pixels g·∂I/∂θ (B, 13), the first backward;
- ``jvp``: ∂I/∂θ·t (B, 3, R, R), forward mode, and the InvCLR penalty's backward to the encoder;
- ``jvp_hvp``: ∂I/∂θ·v and Σ_pixels g·∂²I/∂θ²·v together, the second backward to the factors;
- ``jvp_by_vjp``: ``jvp`` in reverse mode, for ``torch.autograd.forward_ad``'s dual tensors.

The derivative kernels are ``torch.func`` transforms of that one formula, so nothing is derived by
hand. ``Image`` and ``ImageVJP`` are the autograd functions that call them: twice differentiable
(gradcheck and gradgradcheck in float64), forward mode supported (``torch.func.jvp`` and
``forward_ad``); ``torch.func.vmap`` over a render is not (a compiled kernel cannot be batched by it).

Why opt-in: each kernel is built on first use (``image`` 14 s, the penalty's two derivative kernels
24 s more on two cores; torch caches them on disk, and a later process loads them in about 10 s), building needs a
C++ compiler on a CPU (Triton on a GPU), and the images differ from the eager renderer's by
rounding (float32: a few 1e-6, within ``verify``'s 1e-5; tested). Within a process an image's
bits do not depend on its batch (tested).
"""

from __future__ import annotations

import functools
from typing import Callable, Mapping

import torch
from torch.autograd.function import once_differentiable

from ..._validate import bad_value, one_line
from ..compile_switch import ENV
from ..spec import differentiated
from . import render as _render  # partially initialised here: its names are looked up at call time
from .factors import FACTOR_NAMES

CHUNK = 64
"""Images per call of a derivative kernel. The compiled vjp keeps some 16 (b, R, R) intermediates
between its forward and backward loops; 64 images (256 KB each at R = 32) stay in cache, where the
whole batch of 4,096 made the vjp 1.8x and the second derivative 2.2x slower (benchmarks/README.md)."""

_INDEX = {name: i for i, name in enumerate(FACTOR_NAMES)}


def image(theta: torch.Tensor, grid: torch.Tensor, tau: float, lobe_count: int) -> torch.Tensor:
    """Images (B, 3, R, R) from the factors θ (B, 13) in ``FACTOR_NAMES`` order; ``grid`` the pixel centres (R,)."""
    f = {name: theta[:, i] for name, i in _INDEX.items()}
    # The frame of ``render.frame`` written per pixel rather than as an outer sum of row and column
    # terms: the outer sum's derivatives are partial sums over rows and columns, passes of their own.
    angle, scale, aspect = (f[n].view(-1, 1, 1) for n in ("angle", "scale", "aspect"))
    cos, sin = torch.cos(angle), torch.sin(angle)
    dx = grid.view(1, 1, -1) - f["x"].view(-1, 1, 1)  # columns
    dy = grid.view(1, -1, 1) - f["y"].view(-1, 1, 1)  # rows
    u = (cos * dx + sin * dy) / scale
    w = (cos * dy - sin * dx) / (scale * aspect)
    coverage = torch.sigmoid(_render.logit_at(u, w, f, grid.shape[0], tau, lobe_count))
    fg = theta[:, _INDEX["fg_r"] : _INDEX["fg_b"] + 1].view(-1, 3, 1, 1)
    bg = theta[:, _INDEX["bg_r"] : _INDEX["bg_b"] + 1].view(-1, 3, 1, 1)
    return bg + (fg - bg) * coverage.unsqueeze(1)


def vjp(theta: torch.Tensor, grad: torch.Tensor, grid: torch.Tensor, tau: float, lobe_count: int) -> torch.Tensor:
    """Σ_pixels grad·∂I/∂θ: (B, 13) from grad (B, 3, R, R)."""
    _, pullback = torch.func.vjp(lambda x: image(x, grid, tau, lobe_count), theta)
    return pullback(grad)[0]


def jvp(theta: torch.Tensor, tangent: torch.Tensor, grid: torch.Tensor, tau: float, lobe_count: int) -> torch.Tensor:
    """∂I/∂θ·tangent: (B, 3, R, R) from tangent (B, 13)."""
    return torch.func.jvp(lambda x: image(x, grid, tau, lobe_count), (theta,), (tangent,))[1]


def jvp_by_vjp(theta: torch.Tensor, tangent: torch.Tensor, grid: torch.Tensor, tau: float, lobe_count: int) -> torch.Tensor:
    """``jvp`` without forward mode, as the transpose of the (linear) map grad -> ``vjp``: inside a forward-mode dual
    level (``torch.autograd.forward_ad``) a nested ``torch.func.jvp`` is refused."""
    zero = theta.new_zeros(theta.shape[0], 3, grid.shape[0], grid.shape[0])
    return torch.func.vjp(lambda g: vjp(theta, g, grid, tau, lobe_count), zero)[1](tangent)[0]


def jvp_hvp(
    theta: torch.Tensor, grad: torch.Tensor, tangent: torch.Tensor, grid: torch.Tensor, tau: float, lobe_count: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(∂I/∂θ·v (B, 3, R, R), Σ_pixels grad·∂²I/∂θ²·v (B, 13)) in one forward-over-reverse pass; v = ``tangent``."""

    def value_and_pullback(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        value, pullback = torch.func.vjp(lambda y: image(y, grid, tau, lobe_count), x)
        return value, pullback(grad)[0]

    _, (image_tangent, hvp) = torch.func.jvp(value_and_pullback, (theta,), (tangent,))
    return image_tangent, hvp


_KERNELS: dict[str, tuple[Callable, dict]] = {
    "image": (image, {}),
    "vjp": (vjp, {}),
    "jvp": (jvp, {}),
    "jvp_by_vjp": (jvp_by_vjp, {}),
    # Inductor's default cap of 64 nodes per fused loop split this kernel into many loops with
    # full-size intermediates between them: 2.6x slower (benchmarks/README.md).
    "jvp_hvp": (jvp_hvp, {"max_fusion_size": 1024}),
}
_CHUNKED = ("vjp", "jvp_hvp")
_BUILT: set[tuple] = set()


@functools.cache
def _compiled(name: str) -> Callable:
    # One compiled function per kernel, so each has its own code object and its own few cache
    # entries (per dtype, device and render options; the batch dimension is dynamic).
    kernel, inductor = _KERNELS[name]
    return torch.compile(kernel, fullgraph=True, options=inductor)


def run(name: str, *args: torch.Tensor, options: tuple[int, float, int]):
    """Call the compiled kernel ``name`` on tensors ``args`` (batch first) at ``options`` = (resolution, tau, lobe_count).

    The first call of each kernel builds it; if torch.compile cannot build it here (no C++
    compiler, an unsupported device), a ValueError names ``SPIROGRAPH_COMPILE`` in one line.
    """
    resolution, tau, lobe_count = options
    args = tuple(a.contiguous() for a in args)
    # The pixel centres enter as an input: computed inside a kernel (an arange) they made the
    # derivative kernels' reductions four times slower.
    grid = _render.pixel_centres(resolution, args[0])
    key = (name, options, args[0].dtype, args[0].device.type)
    if key not in _BUILT:
        try:
            result = _call(name, args, grid, tau, lobe_count)
        except torch.OutOfMemoryError:
            raise  # the kernel was built; the batch does not fit
        except Exception as error:  # any failure to build: torch.compile's errors have no common base class
            reason = one_line(error).split(" Set TORCHDYNAMO_VERBOSE")[0]
            raise bad_value(
                ENV, "1", f"0 here: torch.compile could not build the sprites kernel {name!r} on this machine ({reason})"
            ) from error
        _BUILT.add(key)
        return result
    return _call(name, args, grid, tau, lobe_count)


RECOMPILE_LIMIT = 64
"""Builds kept per kernel: one per dtype, device, resolution, τ and k in use (and batch 1), where
dynamo's default of 8 would make the ninth combination in a process an error."""


def _call(name: str, args: tuple[torch.Tensor, ...], grid: torch.Tensor, tau: float, lobe_count: int):
    with torch._dynamo.config.patch(recompile_limit=RECOMPILE_LIMIT):
        return _call_kernel(name, args, grid, tau, lobe_count)


def _call_kernel(name: str, args: tuple[torch.Tensor, ...], grid: torch.Tensor, tau: float, lobe_count: int):
    kernel = _compiled(name)
    batch = args[0].shape[0]
    if name not in _CHUNKED or batch <= CHUNK or args[0].device.type != "cpu":
        for a in args:
            torch._dynamo.maybe_mark_dynamic(a, 0)  # one kernel for every batch size
        return kernel(*args, grid, tau, lobe_count)
    pieces = [kernel(*(a[lo : lo + CHUNK] for a in args), grid, tau, lobe_count) for lo in range(0, batch - batch % CHUNK, CHUNK)]
    if batch % CHUNK:
        tail = tuple(a[batch - batch % CHUNK :] for a in args)
        for a in tail:
            torch._dynamo.maybe_mark_dynamic(a, 0)
        pieces.append(kernel(*tail, grid, tau, lobe_count))
    if isinstance(pieces[0], tuple):
        return tuple(torch.cat(parts) for parts in zip(*pieces))
    return torch.cat(pieces)


def _eager(name: str, *args: torch.Tensor, options: tuple[int, float, int]):
    """Kernel ``name`` uncompiled: under a torch.func transform a compiled kernel cannot be called (PyTorch issue #128711)."""
    resolution, tau, lobe_count = options
    return _KERNELS[name][0](*args, _render.pixel_centres(resolution, args[0]), tau, lobe_count)


def _transformed(*tensors: torch.Tensor) -> bool:
    return any(torch._C._functorch.is_functorch_wrapped_tensor(t) for t in tensors)


class Image(torch.autograd.Function):
    """I(θ) (B, 3, R, R) from θ (B, 13) by the fused kernels; backward through ``ImageVJP``, forward mode by ``jvp``."""

    @staticmethod
    def forward(theta: torch.Tensor, options: tuple[int, float, int]) -> torch.Tensor:
        return run("image", theta, options=options)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        theta, ctx.options = inputs
        ctx.save_for_backward(theta)
        ctx.save_for_forward(theta)
        ctx.theta = theta

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (theta,) = ctx.saved_tensors
        return ImageVJP.apply(theta, grad, ctx.options), None

    @staticmethod
    def jvp(ctx, theta_tangent: torch.Tensor, _options) -> torch.Tensor:
        if _transformed(ctx.theta, theta_tangent):  # torch.func.jvp
            return _eager("jvp", ctx.theta, theta_tangent, options=ctx.options)
        return run("jvp_by_vjp", ctx.theta, theta_tangent, options=ctx.options)  # forward_ad's dual tensors


class ImageVJP(torch.autograd.Function):
    """Σ_pixels grad·∂I/∂θ (B, 13); differentiable once more, in θ (Hessian-vector) and in grad (a jvp)."""

    @staticmethod
    def forward(theta: torch.Tensor, grad: torch.Tensor, options: tuple[int, float, int]) -> torch.Tensor:
        return run("vjp", theta, grad, options=options)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        theta, grad, ctx.options = inputs
        ctx.save_for_backward(theta, grad)

    @staticmethod
    @once_differentiable
    def backward(ctx, outer: torch.Tensor):
        theta, grad = ctx.saved_tensors
        need_theta, need_grad = ctx.needs_input_grad[:2]
        if need_theta:
            image_tangent, hvp = run("jvp_hvp", theta, grad, outer, options=ctx.options)
            return hvp, (image_tangent if need_grad else None), None
        # The InvCLR penalty's backward to the encoder alone: the image's derivative along ``outer``.
        return None, (run("jvp", theta, outer, options=ctx.options) if need_grad else None), None


def render(f: Mapping[str, torch.Tensor], resolution: int, tau: float, lobe_count: int) -> torch.Tensor:
    """Images (B, 3, R, R) by the fused kernels: one compiled kernel without autograd, ``Image`` with it."""
    options = (resolution, float(tau), lobe_count)
    theta = torch.stack([f[n] for n in FACTOR_NAMES], dim=1)
    if not differentiated(f):
        with torch.no_grad():
            return run("image", theta, options=options)
    return Image.apply(theta, options)

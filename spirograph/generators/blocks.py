"""Helpers shared by the blocked renderers of every generator."""

from __future__ import annotations

import torch


class _Cat(torch.autograd.Function):
    """``torch.cat`` along dim 0 whose backward splits the gradient.

    Autograd's own cat backward slices the gradient; differentiated again (the gradient
    penalty's double backward) every slice becomes a zero-filled full-batch tensor, which makes
    the blocked render quadratic in the number of blocks. ``split`` differentiates into one cat.
    """

    @staticmethod
    def forward(sizes: list[int], *parts: torch.Tensor) -> torch.Tensor:
        return torch.cat(parts)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.sizes = inputs[0]
        ctx.shapes = [part.shape for part in inputs[1:]]
        ctx.like = dict(dtype=output.dtype, device=output.device)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return (None, *grad.split(ctx.sizes))

    @staticmethod
    def jvp(ctx, sizes_t, *parts_t):
        return torch.cat([t if t is not None else torch.zeros(shape, **ctx.like) for t, shape in zip(parts_t, ctx.shapes)])


def cat_blocks(parts: list[torch.Tensor]) -> torch.Tensor:
    """Concatenate rendered blocks (each (b_i, ...)) along dim 0, with a split backward (see ``_Cat``)."""
    return _Cat.apply([p.shape[0] for p in parts], *parts)

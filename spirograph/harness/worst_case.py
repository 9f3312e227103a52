"""The content error under the worst nuisance inside the prior box (PROTOCOL.md §5).

With the content probe fitted on single-draw training features and frozen, each test content gets
the nuisance inside the nuisance prior's box that maximises the probe's squared content error,
each target divided by its prior variance (so ``m`` and ``b`` do not drown the rest). The search is
projected gradient ascent through renderer, encoder and probe: signed steps of a fixed fraction of
each factor's range (the L∞ geometry of a box), projected back onto the box, from R starts per item
for S steps. Start 0 is the item's own single-draw nuisance and the best point seen is kept, so an
item's worst-case error is never below its average-case error nor below any of its starts.

This is RobustBench's robust accuracy with a parametric adversary through a differentiable
renderer (Liu et al., ICLR 2019, "Beyond Pixel Norm-Balls"); the "threat model" is simply the
nuisance prior the encoder was asked to be invariant to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .._validate import bad_value


@dataclass(frozen=True)
class Search:
    """Settings of the projected gradient ascent.

    Attributes:
        restarts: R >= 1 starts per item (the first is the item's own nuisance draw).
        steps: S >= 0 signed-gradient steps per start.
        step_size: step as a fraction (> 0) of each nuisance factor's prior range.
    """

    restarts: int
    steps: int
    step_size: float


def worst_nuisance(
    loss: Callable[[torch.Tensor], torch.Tensor],
    starts: torch.Tensor,
    low: torch.Tensor,
    high: torch.Tensor,
    search: Search,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per item, the highest-loss nuisance found from ``starts`` by projected signed-gradient ascent.

    Args:
        loss: maps nuisance (B, k) to per-item losses (B,), differentiable in its input.
        starts: (R, B, k) starting points inside the box.
        low, high: (k,) the box.
        search: restarts, steps and step size (the number of starts is ``starts.shape[0]``).

    Returns:
        ``(nuisance (B, k), loss (B,))`` of the best point seen, detached.
    """
    if starts.ndim != 3 or starts.shape[0] < 1:
        raise bad_value("starts.shape", tuple(starts.shape), "(R, B, k) with R >= 1")
    step = search.step_size * (high - low)
    best_loss: torch.Tensor | None = None
    best = starts[0].clone()
    for start in starts:
        point = start.clone()
        for iteration in range(search.steps + 1):
            point.requires_grad_(True)
            with torch.enable_grad():
                value = loss(point)
                grad = None
                if iteration < search.steps:
                    # Features that ignore the nuisance (the oracle) have no path to it: a zero gradient.
                    if value.requires_grad:
                        grad = torch.autograd.grad(value.sum(), point, allow_unused=True)[0]
                    grad = torch.zeros_like(point) if grad is None else grad
            value = value.detach()
            point = point.detach()
            better = torch.ones_like(value, dtype=torch.bool) if best_loss is None else value > best_loss
            best_loss = value.clone() if best_loss is None else torch.where(better, value, best_loss)
            best[better] = point[better]
            if grad is not None:
                point = torch.minimum(torch.maximum(point + step * grad.sign(), low), high)
    return best, best_loss

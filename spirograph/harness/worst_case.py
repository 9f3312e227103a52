"""The content error under the worst nuisance near each item's own draw, as a curve over the neighbourhood size.

With the content probe fitted on single-draw training features and frozen, each test content gets,
for each neighbourhood size ε, the nuisance that maximises the probe's squared content error (each
target divided by its prior variance, so ``m`` and ``b`` do not drown the rest) inside the box of
half-width ε·(prior range) around the item's own nuisance draw, clipped to the prior box.
Robustness is reported at fixed perturbation sizes, as RobustBench does, and the curve's area
(its mean height over [0, ε_max]) is its scalar. The current suites stop at ε = 0.25: beyond it
the maximum over a large part of the box kept growing by 5-15% with every doubling of the search
(benchmarks/README.md), so a larger neighbourhood would report a lower bound of unknown slack,
not a measure.

The search, per item and ε (PROTOCOL.md §5): the item's own draw, the worst point found at the
previous ε (so the curve never decreases) and k uniform draws in the neighbourhood are evaluated;
from the best R of them, S steps of projected signed-gradient ascent (the L∞ geometry of a box) of
a fixed fraction of the neighbourhood's half-width; the best point seen is kept. The budget (k, R,
S, step size) is a suite setting recorded in every result; ``benchmarks/README.md`` shows the curve
levelling off as it doubles. This is a parametric adversary through a differentiable renderer (Liu
et al., ICLR 2019, "Beyond Pixel Norm-Balls") whose threat model is the nuisance prior itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .._validate import bad_value, check_int


@dataclass(frozen=True)
class Search:
    """The search budget of one neighbourhood.

    Attributes:
        draws: k >= 0 uniform draws in the neighbourhood per item.
        restarts: R >= 1 ascents per item, from the best R candidates.
        steps: S >= 0 signed-gradient steps per ascent.
        step_size: each step as a fraction (0, 1] of the neighbourhood's half-width ε·range.
    """

    draws: int
    restarts: int
    steps: int
    step_size: float

    def __post_init__(self) -> None:
        check_int("draws", self.draws, 0)
        check_int("restarts", self.restarts, 1)
        check_int("steps", self.steps, 0)
        if not (isinstance(self.step_size, float) and 0.0 < self.step_size <= 1.0):
            raise bad_value("step_size", self.step_size, "a float in (0, 1]: a fraction of the neighbourhood's half-width")


def neighbourhood(own: torch.Tensor, low: torch.Tensor, high: torch.Tensor, epsilon: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The box of half-width ``epsilon``·(high − low) around each row of ``own`` (B, k), clipped to [low, high]."""
    radius = epsilon * (high - low)
    return torch.maximum(own - radius, low), torch.minimum(own + radius, high)


def worst_nuisance(
    loss: Callable[[torch.Tensor], torch.Tensor],
    candidates: torch.Tensor,
    low: torch.Tensor,
    high: torch.Tensor,
    step: torch.Tensor,
    search: Search,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per item, the highest-loss nuisance found from ``candidates`` by projected signed-gradient ascent.

    Args:
        loss: maps nuisance (B, k) to per-item losses (B,), differentiable in its input.
        candidates: (C, B, k) points inside the box; the best ``search.restarts`` of each item start an ascent.
        low, high: (B, k) or (k,) the box of each item.
        step: (B, k) or (k,) the step length per factor.
        search: restarts and steps (``draws`` is the caller's business).

    Returns:
        ``(nuisance (B, k), loss (B,))`` of the best point seen, detached.
    """
    if candidates.ndim != 3 or candidates.shape[0] < 1:
        raise bad_value("candidates.shape", tuple(candidates.shape), "(C, B, k) with C >= 1")
    with torch.no_grad():
        values = torch.stack([loss(c) for c in candidates])  # (C, B)
    best_loss, index = values.max(dim=0)
    items = torch.arange(candidates.shape[1], device=candidates.device)
    best = candidates[index, items].clone()
    order = values.argsort(dim=0, descending=True)[: search.restarts]  # (R, B)
    for start in order:
        point = candidates[start, items].clone()
        for iteration in range(search.steps):
            point.requires_grad_(True)
            with torch.enable_grad():
                value = loss(point)
                # Features that ignore the nuisance (the oracle) have no path to it: a zero gradient.
                grad = torch.autograd.grad(value.sum(), point, allow_unused=True)[0] if value.requires_grad else None
            value, point = value.detach(), point.detach()
            if iteration:  # the start's own loss is already in best_loss
                better = value > best_loss
                best_loss = torch.where(better, value, best_loss)
                best[better] = point[better]
            if grad is None:
                break
            point = torch.minimum(torch.maximum(point + step * grad.sign(), low), high)
        else:
            if search.steps:
                with torch.no_grad():
                    value = loss(point)
                better = value > best_loss
                best_loss = torch.where(better, value, best_loss)
                best[better] = point[better]
    return best, best_loss

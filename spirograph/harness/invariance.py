"""Invariance statistics of features over nuisance re-draws of the same content (PROTOCOL.md §5).

All statistics take the features of ``n`` contents under ``M`` nuisance draws each, ``draws``
(n, M, D), and work in float64 with two-pass (centre first, then square) sums so that a large
constant offset in the features costs no precision. Each is a property of the representation that
a user cares about, so each is tested against the changes that must not move it:

==========================================  =========================================================
statistic                                   unchanged by
==========================================  =========================================================
``relative_conditional_variance``            h → a·h + c (any scalar a ≠ 0, any constant vector c)
``whitened_conditional_variance``            h → A·h + c for invertible diagonal A and permutations;
                                             for a general invertible A only the shrinkage moves it
``probe_nuisance_share``                     h → a·h + c (the probe is refitted)
``normalized_conditional_variance``          h → a·h only; an offset c shrinks it (it is gameable)
``paper_trace_proxy``                        h → a·h only (the paper's estimator; see below)
==========================================  =========================================================

Intervals come from the suite's item bootstrap (``metrics.Bootstrap``); the whitening of
``whitened_conditional_variance`` is held at its full-sample estimate within the resamples.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .metrics import Bootstrap, Metric, item_mean, metric

PAPER_PROXY_DRAWS = 10
"""Images per "variance" in the paper's conditional-variance script (PROTOCOL.md §5)."""


def _centred(draws: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Deviations from each item's own mean and from the pooled mean: two (n, M, D) float64 tensors."""
    h = draws.double()
    within = h - h.mean(dim=1, keepdim=True)
    pooled = h - h.mean(dim=(0, 1), keepdim=True)
    return within, pooled


def relative_conditional_variance(draws: torch.Tensor, boot: Bootstrap) -> Metric:
    """E_x tr Cov[h | x] / tr Cov[h]: 0 when the nuisance moves nothing, 1 when h is all nuisance.

    The numerator is, per item, the unbiased variance over its M draws summed over dimensions,
    averaged over items; the denominator is the variance of all n·M feature vectors pooled (the
    total variance of the test distribution). Resampling items moves both.

    Args:
        draws: (n, M, D) features, M >= 2.
    """
    n, m, _ = draws.shape
    within, pooled = _centred(draws)
    conditional = within.pow(2).sum(dim=(1, 2)).numpy() / (m - 1)  # (n,): tr Cov[h | x_i], unbiased
    # Pooled variance under item weights w: Σ_i w_i Σ_j ‖d_ij − δ‖² / (M·Σw), δ = weighted mean of d.
    square = pooled.pow(2).sum(dim=(1, 2)).numpy()  # (n,)
    first = pooled.sum(dim=1).numpy()  # (n, D)

    def statistic(weights: np.ndarray) -> np.ndarray:
        total_weight = weights.sum(axis=1)
        shift = (weights @ first) / (m * total_weight)[:, None]  # (c, D)
        total = ((weights @ square) - m * total_weight * (shift**2).sum(axis=1)) / (m * total_weight)
        cond = (weights @ conditional) / total_weight
        return (cond / np.maximum(total, 1e-300))[:, None]

    value, ci = boot.evaluate(statistic, n)
    return metric(value[0], *ci[0])


def whitened_conditional_variance(draws: torch.Tensor, boot: Bootstrap, shrinkage: float) -> tuple[Metric, int]:
    """tr(Σ_s⁺ Σ_cond) / rank: the nuisance share of the variance in every whitened direction.

    Σ_cond is the within-item covariance (pooled over items, unbiased per item), Σ_total the
    covariance of all n·M vectors, and Σ_s = (1 − γ)·Σ_total + γ·diag(Σ_total) with γ =
    ``shrinkage``: shrinking towards the diagonal keeps rank-deficient and noisy directions from
    dominating, and commutes with per-dimension rescaling and permutation. Constant dimensions are
    dropped; the rank is the number of eigenvalues of the shrunk correlation matrix above 1e-10 of
    the largest. This is the fraction of variance that is nuisance along the directions a linear
    probe can exploit, each counted once.

    Args:
        draws: (n, M, D) features, M >= 2.
        shrinkage: γ in [0, 1].

    Returns:
        ``(metric, rank)``.
    """
    n, m, _ = draws.shape
    within, pooled = _centred(draws)
    flat = pooled.reshape(n * m, -1)
    variance = flat.pow(2).mean(dim=0)
    # Constant dimensions carry neither variance nor nuisance; "constant" relative to the
    # dimension's own magnitude, so that the choice does not depend on its unit.
    live = variance > 1e-24 * draws.double().pow(2).mean(dim=(0, 1))
    if not bool(live.any()):
        return metric(0.0, 0.0, 0.0), 0
    std = variance[live].sqrt()
    # Σ_s = D^½ ((1 − γ)·R + γ·I) D^½ with R the correlation matrix: the same shrinkage, computed on
    # standardised features so that per-dimension units cannot reach the eigenvalue threshold.
    correlation = (flat[:, live] / std).T @ (flat[:, live] / std) / (n * m)
    shrunk = (1.0 - shrinkage) * correlation
    shrunk.diagonal().add_(shrinkage)
    eigenvalues, eigenvectors = torch.linalg.eigh(shrunk)
    keep = eigenvalues > 1e-10 * eigenvalues.max()
    rank = int(keep.sum())
    whitening = eigenvectors[:, keep] / eigenvalues[keep].sqrt()  # (live D, r)
    per_item = ((within[..., live] / std) @ whitening).pow(2).sum(dim=(1, 2)) / ((m - 1) * rank)  # (n,)
    return item_mean(per_item, boot), rank


def normalized_conditional_variance(draws: torch.Tensor, boot: Bootstrap) -> Metric:
    """Per item, the unbiased variance over draws of ĥ = h/‖h‖, summed over dimensions; mean over items.

    The quantity the penalty of PROTOCOL.md §3 targets, kept for continuity with release 0.1.0
    (where it was called ``conditional_variance``). It is NOT an invariance measure: a constant
    offset added to h shrinks it towards 0 at no cost to a probe or a contrastive head.
    """
    unit = _unit(draws)
    per_item = (unit - unit.mean(dim=1, keepdim=True)).pow(2).sum(dim=(1, 2)) / (draws.shape[1] - 1)
    return item_mean(per_item, boot)


def paper_trace_proxy(draws: torch.Tensor, boot: Bootstrap) -> Metric:
    """The paper's "conditional variance" as its script computes it (PROTOCOL.md §5).

    The script repeats each image ``PAPER_PROXY_DRAWS`` (10) times consecutively, renders a fresh
    nuisance for each copy and reshapes the (10·B, d) batch of ĥ to (10, B, d) before taking the
    variance over the first axis: row r of the batch is item r // 10, so entry (j, b) is item
    (j·B + b) // 10 and each "variance over draws" runs over 10 *different* items. The estimate is
    the total variance of ĥ, 1 − ‖E ĥ‖², not a conditional variance. Reproduced here on the first
    10 draws of the n items (B = n), unbiased over the 10, summed over dimensions, mean over b.

    Args:
        draws: (n, M, D) features, n >= 10, M >= 10.
    """
    n, m, _ = draws.shape
    if m < PAPER_PROXY_DRAWS or n < PAPER_PROXY_DRAWS:
        raise ValueError(f"draws.shape={tuple(draws.shape)}: expected at least {PAPER_PROXY_DRAWS} items and draws")
    unit = _unit(draws[:, :PAPER_PROXY_DRAWS])  # (n, 10, D)
    rows = torch.arange(n * PAPER_PROXY_DRAWS)
    batch = unit[rows // PAPER_PROXY_DRAWS, rows % PAPER_PROXY_DRAWS]  # (10·n, D): item-major, as repeated
    grouped = batch.reshape(PAPER_PROXY_DRAWS, n, -1)
    per_column = grouped.var(dim=0, unbiased=True).sum(dim=1)  # (n,)
    return item_mean(per_column, boot)


def probe_nuisance_share(predictions: torch.Tensor, names: Sequence[str], boot: Bootstrap) -> dict:
    """Share of a content probe's prediction variance that comes from nuisance re-draws.

    For each target k: E_x Var_j[p_k | x] / Var[p_k], per item unbiased over its draws, the total
    over all n·M predictions pooled (a ratio of item-weighted sums under the bootstrap). ``mean``
    averages the per-target shares. 0: the probe's predictions ignore the nuisance; 1: they are
    nuisance only.

    Args:
        predictions: (n, M, k) probe predictions for every item and draw.
        names: the k content names.

    Returns:
        ``{"mean": metric, "per_factor": {name: metric}}``.
    """
    p = predictions.double()
    n, m, k = p.shape
    within = (p - p.mean(dim=1, keepdim=True)).pow(2).sum(dim=1).numpy() / (m - 1)  # (n, k)
    pooled = p - p.mean(dim=(0, 1), keepdim=True)
    square = pooled.pow(2).sum(dim=1).numpy()  # (n, k)
    first = pooled.sum(dim=1).numpy()  # (n, k)

    def statistic(weights: np.ndarray) -> np.ndarray:
        total_weight = weights.sum(axis=1, keepdims=True)
        shift = (weights @ first) / (m * total_weight)
        total = ((weights @ square) - m * total_weight * shift**2) / (m * total_weight)
        share = ((weights @ within) / total_weight) / np.maximum(total, 1e-300)
        return np.concatenate([share, share.mean(axis=1, keepdims=True)], axis=1)

    values, ci = boot.evaluate(statistic, n)
    return {
        "mean": metric(values[k], *ci[k]),
        "per_factor": {name: metric(values[i], *ci[i]) for i, name in enumerate(names)},
    }


def _unit(draws: torch.Tensor) -> torch.Tensor:
    h = draws.double()
    return h / h.norm(dim=-1, keepdim=True).clamp_min(1e-300)


__all__ = [
    "PAPER_PROXY_DRAWS",
    "normalized_conditional_variance",
    "paper_trace_proxy",
    "probe_nuisance_share",
    "relative_conditional_variance",
    "whitened_conditional_variance",
]

"""Invariance statistics of features over nuisance re-draws of the same content (PROTOCOL.md §5).

All statistics take the features of ``n`` contents under ``M`` nuisance draws each, ``draws``
(n, M, D), and work in float64 with two-pass (centre first, then square) sums so that a large
constant offset in the features costs no precision. Each is a property of the representation that
a user cares about, so each is tested against the changes that must not move it:

==========================================  =========================================================
statistic                                   unchanged by
==========================================  =========================================================
``whitened_conditional_variance`` (γ = 0)   h → A·h + c for every invertible A (headline)
``probe_nuisance_share`` (whitened probe)    h → A·h + c for every invertible A (headline)
``relative_conditional_variance``            h → a·h + c (scalar a ≠ 0) and rotations only (diagnostic)
whitened, shrunk by γ > 0                    h → A·h + c for diagonal A and permutations (diagnostic)
``normalized_conditional_variance``          h → a·h only; an offset c shrinks it (gameable; diagnostic)
``paper_trace_proxy``                        h → a·h only (the paper's estimator, diagnostic; see below)
==========================================  =========================================================

"Every invertible A" is what a linear probe or a linear projection head cannot see. It holds
exactly for the statistic of the whitened directions it keeps: ``whitening`` drops the directions
whose variance is below ``RANK_TOLERANCE`` of the largest (standardised units), the exact
degeneracies of dead units and linearly dependent features, so the estimate stays well
conditioned. A map A that pushes a kept direction below that cut (condition number of the
standardised covariance times cond(A)² beyond 1/``RANK_TOLERANCE``: 10¹³ for float64 features,
10⁹ for float32) changes the kept set.

Intervals come from the suite's item bootstrap (``metrics.Bootstrap``); the whitening is held at
its full-sample estimate within the resamples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from .metrics import Bootstrap, Metric, item_mean, metric
from .probes import LinearProbe

PAPER_PROXY_DRAWS = 10
"""Images per "variance" in the paper's conditional-variance script (PROTOCOL.md §5)."""

RANK_TOLERANCE: dict[str, float] = {"float64": 1e-13, "float32": 1e-9, "other": 1e-5}
"""Whitened directions with a variance below this fraction of the largest (in standardised units,
i.e. eigenvalues of the correlation matrix) are dropped, by the dtype the encoder returned: exact
degeneracies (dead units, linearly dependent features) land at the dtype's rounding level (about
10⁻¹⁶ in float64, 10⁻¹² in float32), orders of magnitude below; real directions of a feature set
whose standardised covariance has a condition number up to 10¹³ (float64) or 10⁹ (float32) stay."""


def rank_tolerance(dtype: torch.dtype) -> float:
    """``RANK_TOLERANCE`` for features of ``dtype``."""
    return RANK_TOLERANCE.get(str(dtype).removeprefix("torch."), RANK_TOLERANCE["other"])


@dataclass(frozen=True)
class Whitening:
    """An affine map z = (h − mean) @ matrix whose output has identity covariance on the data it was fitted on.

    Attributes:
        mean: (D,) float64.
        matrix: (D, r) float64; rows of constant dimensions are zero.
        rank: r, the number of kept directions (0 for constant features).
    """

    mean: torch.Tensor
    matrix: torch.Tensor
    rank: int

    def apply(self, features: torch.Tensor) -> torch.Tensor:
        """(..., D) features to (..., r) whitened float64 coordinates."""
        return (features.double() - self.mean) @ self.matrix


def whitening(features: torch.Tensor, shrinkage: float = 0.0) -> Whitening:
    """The whitening of (N, D) features by their covariance Σ, or by Σ_s = (1 − γ)·Σ + γ·diag(Σ) for γ = ``shrinkage``.

    Computed on standardised features (constant dimensions dropped, "constant" relative to the
    dimension's own magnitude so that the choice does not depend on its unit), keeping the
    eigen-directions of the (shrunk) correlation matrix above ``rank_tolerance(features.dtype)``
    of the largest.
    With γ = 0, whitenings of h and of A·h + c (A invertible) differ by an orthogonal map of the
    whitened coordinates, so every statistic of their norms is unchanged.
    """
    tolerance = rank_tolerance(features.dtype)
    flat = features.double()
    mean = flat.mean(dim=0)
    centred = flat - mean
    variance = centred.pow(2).mean(dim=0)
    live = variance > 1e-24 * flat.pow(2).mean(dim=0)
    dim = flat.shape[1]
    if not bool(live.any()):
        return Whitening(mean, torch.zeros(dim, 0, dtype=torch.float64), 0)
    std = variance[live].sqrt()
    standard = centred[:, live] / std
    n = flat.shape[0]
    if shrinkage or n >= standard.shape[1]:
        correlation = standard.T @ standard / n
        if shrinkage:
            correlation = (1.0 - shrinkage) * correlation
            correlation.diagonal().add_(shrinkage)
        eigenvalues, eigenvectors = torch.linalg.eigh(correlation)
        keep = eigenvalues > tolerance * eigenvalues.max()
        eigenvalues, eigenvectors = eigenvalues[keep], eigenvectors[:, keep]
    else:
        # Fewer vectors than dimensions: the same nonzero eigenpairs from the (n, n) Gram matrix.
        eigenvalues, left = torch.linalg.eigh(standard @ standard.T / n)
        keep = eigenvalues > tolerance * eigenvalues.max()
        eigenvalues = eigenvalues[keep]
        eigenvectors = standard.T @ left[:, keep] / (n * eigenvalues).sqrt()
    matrix = torch.zeros(dim, eigenvalues.shape[0], dtype=torch.float64)
    matrix[live] = eigenvectors / eigenvalues.sqrt() / std[:, None]
    return Whitening(mean, matrix, int(eigenvalues.shape[0]))


def fit_whitened_probe(features: torch.Tensor, targets: torch.Tensor) -> LinearProbe:
    """Least squares (no penalty) of (n, k) targets on the whitened (n, D) features, as a ``LinearProbe`` on h.

    Its predictions are unchanged by any invertible affine map of the features (within the rank
    cut of ``whitening``), unlike a ridge probe, whose penalty depends on the features' units.
    """
    white = whitening(features)
    z = white.apply(features)
    y = targets.double()
    y_mean = y.mean(dim=0)
    # Whitened coordinates are orthonormal on the fitting data: least squares is a projection.
    coefficients = z.T @ (y - y_mean) / z.shape[0]  # (r, k)
    weight = white.matrix @ coefficients
    return LinearProbe(weight, y_mean - white.mean @ weight)


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


def whitened_conditional_variance(draws: torch.Tensor, boot: Bootstrap, shrinkage: float = 0.0) -> tuple[Metric, int]:
    """tr(Σ_s⁺ Σ_cond) / rank: the nuisance share of the variance in every whitened direction.

    Σ_cond is the within-item covariance (pooled over items, unbiased per item), Σ_total the
    covariance of all n·M vectors. With γ = ``shrinkage`` = 0 (the headline) Σ_s = Σ_total, whitened
    with the rank cut of ``whitening``: the mean over the kept directions of the share of their
    variance that re-drawing the nuisance moves, unchanged by every invertible affine map of h.
    With γ > 0, Σ_s = (1 − γ)·Σ_total + γ·diag(Σ_total) (the 0.2 release's default, a diagnostic):
    shrinkage towards the diagonal is not invariant to rotations and makes the number track
    feature correlation as much as nuisance.

    Args:
        draws: (n, M, D) features, M >= 2.
        shrinkage: γ in [0, 1).

    Returns:
        ``(metric, rank)``.
    """
    n, m, _ = draws.shape
    within, _ = _centred(draws)
    white = whitening(draws.reshape(n * m, -1), shrinkage)
    if white.rank == 0:
        return metric(0.0, 0.0, 0.0), 0
    per_item = (within @ white.matrix).pow(2).sum(dim=(1, 2)) / ((m - 1) * white.rank)  # (n,)
    return item_mean(per_item, boot), white.rank


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
    "RANK_TOLERANCE",
    "rank_tolerance",
    "Whitening",
    "fit_whitened_probe",
    "whitening",
    "normalized_conditional_variance",
    "paper_trace_proxy",
    "probe_nuisance_share",
    "relative_conditional_variance",
    "whitened_conditional_variance",
]

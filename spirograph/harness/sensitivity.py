"""Exact derivatives of the features with respect to every factor, through renderer and encoder.

The generator is differentiable in all ten factors, so how much the features move per unit of a
factor is a derivative, not a guess from re-drawn samples: the Lie derivative of Gruver et al.
(ICLR 2023, "The Lie Derivative for Measuring Learned Equivariance"), exact here (PROTOCOL.md §5):

    S_k = E_x ‖Wᵀ ∂h/∂α_k‖ · std_prior(α_k) / sqrt(r)

with std_prior the standard deviation of factor k under the training prior and W the whitening of
the test items' single-draw features (``invariance.whitening``: r kept directions, each of unit
variance, so tr Cov[Wᵀh] = r). S_k is the root-mean-square change, per whitened direction and in
units of that direction's spread, that one prior standard deviation of factor k causes; it has no
unit and is unchanged by every invertible affine map h → A·h + c (what a linear probe cannot see).
The same with the raw features, ‖∂h/∂α_k‖ / sqrt(tr Cov[h]), is kept as a diagnostic: it is
unchanged by h → a·h + c and rotations only, so a per-dimension rescaling moves it.

Jacobian–vector products: one per factor gives the column ∂h/∂α_k of every item exactly, so the
ten factors cost ten products whatever the feature dimension D. Exact reverse mode would need D
backward passes, and a Rademacher-projected reverse pass only estimates ‖∂h/∂α_k‖² with noise, so
Jacobian–vector products are both exact and the cheapest here. They are computed in forward mode
(``torch.func.jvp``, which the renderer supports) when every operation of the encoder supports it,
else as the double-backward form of the same product (``torch.autograd.functional.jvp``: two
reverse passes). Which one ran is recorded in the result's probe settings.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch

from .._validate import first_line
from ..generator import Generator
from .encoders import FactorEncoder
from .metrics import Bootstrap, metric


class NotDifferentiable(Exception):
    """The encoder cannot be differentiated with respect to its input images (with the reason)."""


def feature_function(encoder: Any, spirograph: Generator) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``(content (B, n_c), nuisance (B, n_n)) -> features (B, D)`` through the renderer and ``encoder``."""
    if isinstance(encoder, FactorEncoder):
        return encoder.encode_factors

    def features(content: torch.Tensor, nuisance: torch.Tensor) -> torch.Tensor:
        # One piece: a chunked render writes into a preallocated buffer, which forward mode cannot track.
        return encoder(spirograph.render(content, nuisance, chunk_size=None, validate=False))

    return features


def check_differentiable(function: Callable, content: torch.Tensor, nuisance: torch.Tensor) -> None:
    """Raise ``NotDifferentiable`` unless ``function``'s output has a graph back to the factors.

    Raises:
        NotDifferentiable: the call raised, or returned features with no graph.
    """
    content = content.detach().clone().requires_grad_(True)
    nuisance = nuisance.detach().clone().requires_grad_(True)
    try:
        with torch.enable_grad():
            out = function(content, nuisance)
    except Exception as err:  # user code: any failure under autograd means "not differentiable"
        raise NotDifferentiable(f"the encoder raised {type(err).__name__} with gradients enabled: {first_line(err)}") from err
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        raise NotDifferentiable("the encoder returns features with no autograd graph (it is not differentiable in its input images)")


JVP_MODES = ("forward", "double-backward")


def jvp_mode(function: Callable, content: torch.Tensor, nuisance: torch.Tensor) -> str:
    """``"forward"`` if forward mode runs through ``function`` on these factors, else ``"double-backward"``."""
    try:
        torch.func.jvp(function, (content, nuisance), (torch.zeros_like(content), torch.ones_like(nuisance)))
        return "forward"
    except Exception:  # an operation without a forward-mode formula (a custom autograd.Function, an out= kernel)
        return "double-backward"


def derivative_norms(function: Callable, content: torch.Tensor, nuisance: torch.Tensor, mode: str = "forward",
                     matrix: torch.Tensor | None = None) -> torch.Tensor:
    """Per item and factor, the norm ‖∂h/∂α_k‖ of the feature derivative: float64 (B, n_c + n_n).

    Columns follow the content columns, then the nuisance columns. Items are independent (the
    harness checks that an encoder's features do not depend on the rest of the batch), so one
    tangent with a 1 in column k for every item gives every item's derivative at once.

    Args:
        mode: one of ``JVP_MODES`` (see ``jvp_mode``); both give the same product.
        matrix: optional (D, r) map (a whitening); then the result is (B, K, 2): ‖∂h/∂α_k‖ and
            ‖matrixᵀ ∂h/∂α_k‖ from the same products.

    Raises:
        NotDifferentiable: the product cannot be computed.
    """
    n_content = content.shape[1]
    columns = []
    for k in range(n_content + nuisance.shape[1]):
        tangent_c, tangent_n = torch.zeros_like(content), torch.zeros_like(nuisance)
        (tangent_c[:, k] if k < n_content else tangent_n[:, k - n_content]).fill_(1.0)
        derivative = _jvp(function, (content, nuisance), (tangent_c, tangent_n), mode).double().flatten(1)
        if matrix is None:
            columns.append(derivative.norm(dim=1))
        else:
            columns.append(torch.stack([derivative.norm(dim=1), (derivative @ matrix.to(derivative.device)).norm(dim=1)], dim=1))
    return torch.stack(columns, dim=1)


def _jvp(function: Callable, primals: tuple, tangents: tuple, mode: str) -> torch.Tensor:
    try:
        if mode == "forward":
            return torch.func.jvp(function, primals, tangents)[1].detach()
        with torch.enable_grad():
            return torch.autograd.functional.jvp(function, primals, tangents)[1].detach()
    except Exception as err:  # user code: report, never crash the scoring run
        raise NotDifferentiable(f"differentiating the encoder failed ({mode} mode): {type(err).__name__}: {first_line(err)}") from err


def sensitivity_metrics(norms: np.ndarray, prior_std: np.ndarray, total_variance: float, names: Sequence[str],
                        n_content: int, boot: Bootstrap) -> dict[str, Any]:
    """``sensitivity.<factor>`` and ``sensitivity.nuisance_to_content`` with bootstrap intervals.

    Args:
        norms: (n, K) per-item derivative norms ‖∂h/∂α_k‖, content factors first.
        prior_std: (K,) standard deviations of the training prior.
        total_variance: tr Cov[h] over the test items (held fixed within the resamples); for
            whitened derivatives, the number r of whitened directions.
        names: the K factor names; the first ``n_content`` are content.

    Returns:
        ``{name: metric, ..., "nuisance_to_content": metric}``: the mean over nuisance factors of
        S_k divided by the mean over content factors.
    """
    scale = prior_std / np.sqrt(max(total_variance, 1e-300))
    k = len(names)

    def statistic(weights: np.ndarray) -> np.ndarray:
        s = (weights @ norms) / weights.sum(axis=1, keepdims=True) * scale  # (c, K)
        ratio = s[:, n_content:].mean(axis=1) / np.maximum(s[:, :n_content].mean(axis=1), 1e-300)
        return np.concatenate([s, ratio[:, None]], axis=1)

    values, ci = boot.evaluate(statistic, norms.shape[0])
    out = {name: metric(values[i], *ci[i]) for i, name in enumerate(names)}
    out["nuisance_to_content"] = metric(values[k], *ci[k])
    return out


def total_variance(features: torch.Tensor) -> float:
    """tr Cov[h] of (n, D) features in float64, centred first (an offset costs no precision)."""
    h = features.double()
    return float((h - h.mean(dim=0)).pow(2).sum() / (h.shape[0] - 1))

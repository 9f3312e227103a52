"""The InvCLR gradient regulariser (PROTOCOL.md §3; Foster, Pukdee & Rainforth 2021, eq. 7–8).

A cheap stochastic estimate of how much the normalised representation ĥ moves when the nuisance
factors α are re-drawn: with a Rademacher projection S = Σ_i r_iᵀ ĥ_i and g_i = ∂S/∂α_i (double
backprop through the encoder and the renderer),

    P = min( mean_{i,j} [ g_iᵀ (α'_ij − α_i) ]², U ),   α'_ij ~ nuisance prior, j = 1..J.

Three targets (what the projection acts on), PROTOCOL.md §3:

* ``"normalized"`` (the paper): ĥ_i = h_i/‖h_i‖.
* ``"raw"``: h_i itself (the published code's ``--no-gp-normalization``).
* ``"standardized"``: (h_i − μ)/σ per dimension, with the batch statistics of the N penalised
  items, σ_d = sqrt(var_d + ε·mean_d' var_d') (ε = ``STANDARDIZE_EPS``, relative so that the
  target stays scale-free). Then g_i = J_iᵀ (r_i/σ), J_i = ∂h_i/∂α_i. P is unchanged by h → a·h + c,
  so an encoder cannot shrink it by growing a constant component of h or shrinking its scale;
  it measures nuisance movement relative to how much the features vary across items.
"""

from __future__ import annotations

import math

import torch

from spirograph._validate import bad_value, check_choice

TARGETS = ("normalized", "raw", "standardized")
"""What the penalty's projection acts on: ĥ = h/‖h‖ (paper), h, or h standardised by batch statistics."""

STANDARDIZE_EPS = 1e-4
"""ε of the ``"standardized"`` target: σ_d² = var_d + ε·mean(var). Relative to the mean variance, so a
dimension that does not vary in the batch gets a floor on the features' own scale, not an absolute one."""


def rademacher(shape: tuple[int, ...], *, generator: torch.Generator, dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
    """Independent ±1 entries of the given shape, drawn from ``generator``."""
    bits = torch.randint(0, 2, shape, generator=generator, device=device)
    return (2 * bits - 1).to(dtype)


def gradient_penalty(
    h: torch.Tensor,
    nuisance: torch.Tensor,
    prior_draws: torch.Tensor,
    signs: torch.Tensor,
    *,
    clamp: float = 1000.0,
    view: int | None = None,
    target: str = "normalized",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clamped gradient penalty P of PROTOCOL.md §3 and its unclamped value.

    Args:
        h: representations (N, d) computed from images rendered from ``nuisance``; must be
            differentiable with respect to it.
        nuisance: the nuisance factors α (N, k) of those images, a tensor that requires grad; or
            the stacked nuisance of all views (V, N, k), e.g. the leaf returned by
            ``Spirograph.views(..., requires_grad=True)``, together with ``view``.
        prior_draws: fresh nuisance draws α' (N, J, k) from the nuisance prior.
        signs: Rademacher vectors r (N, d) with entries ±1.
        clamp: the upper bound U > 0 (Spirograph: 1000); above it the penalty's gradient is zero.
        view: with a 3-D ``nuisance``, which view ``h`` (and the penalty) refers to.
        target: ``"normalized"`` (paper) penalises ĥ = h/‖h‖; ``"raw"`` penalises h itself (the
            published code's ``--no-gp-normalization``), so the norm of h is held to the nuisance as
            well; ``"standardized"`` penalises h standardised per dimension by the statistics of
            these N items (module docstring); it needs N >= 2.

    Returns:
        ``(penalty, raw)``: scalar tensors; ``penalty`` = min(raw, U) carries the gradient with
        respect to the parameters that produced ``h`` (create_graph=True), ``raw`` is detached.

    Raises:
        ValueError: inconsistent shapes, ``clamp`` ≤ 0, an unknown ``target``, fewer than 2 items for
            ``"standardized"``, or ``h`` not differentiable in ``nuisance``.
    """
    target = check_choice("target", target, TARGETS)
    if not (isinstance(clamp, (int, float)) and not isinstance(clamp, bool) and clamp > 0 and not math.isnan(clamp)):
        raise bad_value("clamp", clamp, "a number > 0 (may be inf)")
    if h.ndim != 2 or signs.shape != h.shape:
        raise bad_value("signs.shape", tuple(signs.shape), f"the shape of h, {tuple(h.shape)}")
    if not isinstance(nuisance, torch.Tensor) or nuisance.ndim not in (2, 3) or nuisance.shape[-2] != h.shape[0]:
        raise bad_value("nuisance.shape", tuple(getattr(nuisance, "shape", ())), f"({h.shape[0]}, k) or (V, {h.shape[0]}, k)")
    if (nuisance.ndim == 3) != (view is not None) or (view is not None and not 0 <= view < nuisance.shape[0]):
        raise bad_value("view", view, "an index into the views of a 3-D nuisance, and None for a 2-D one")
    alpha = nuisance if view is None else nuisance[view]
    if prior_draws.ndim != 3 or prior_draws.shape[0] != h.shape[0] or prior_draws.shape[2] != nuisance.shape[-1]:
        raise bad_value("prior_draws.shape", tuple(prior_draws.shape), f"({h.shape[0]}, J, {nuisance.shape[-1]})")
    if not (nuisance.requires_grad and h.requires_grad):
        raise bad_value("nuisance.requires_grad", nuisance.requires_grad, "True, with h computed from it")
    if target == "standardized" and h.shape[0] < 2:
        raise bad_value("h.shape[0]", h.shape[0], "at least 2 items for target='standardized' (batch statistics)")
    if h.dtype not in (torch.float32, torch.float64):  # bf16 under autocast: normalise in float32
        h = h.float()
    if target == "standardized":
        grad = _standardized_projection_grad(h, nuisance, signs.to(h.dtype))
    else:
        h_hat = h / h.norm(dim=1, keepdim=True).clamp_min(1e-12) if target == "normalized" else h
        projection = (signs.to(h_hat.dtype) * h_hat).sum()
        (grad,) = torch.autograd.grad(projection, nuisance, create_graph=True)
    if view is not None:
        grad = grad[view]  # (N, k)
    # α is data: the displacement α' − α is a constant; the penalty is differentiated through g only.
    displacement = prior_draws.to(grad.dtype) - alpha.detach().to(grad.dtype).unsqueeze(1)  # (N, J, k)
    directional = torch.einsum("nk,njk->nj", grad, displacement)
    raw = directional.pow(2).mean()
    return torch.clamp(raw, max=clamp), raw.detach()


def standardize_scale(h: torch.Tensor, eps: float = STANDARDIZE_EPS) -> torch.Tensor:
    """Per-dimension scale σ (d,) of representations h (N, d): sqrt(var_d + eps·mean(var)).

    Biased (1/N) variances over the N items; differentiable in ``h``. A tiny absolute floor only
    keeps the square root finite when no dimension varies at all.
    """
    var = h.var(dim=0, unbiased=False)
    return (var + eps * var.mean()).clamp_min(torch.finfo(h.dtype).tiny).sqrt()


def _standardized_projection_grad(h: torch.Tensor, nuisance: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
    """g = ∂/∂α Σ_i (r_i/σ)ᵀ (h_i − μ) with μ, σ held constant in the derivative: a vector–Jacobian product.

    σ stays in the outer graph: the parameters' gradient sees that scaling h up scales σ up, so
    the encoder cannot shrink P by changing the scale of h. Inside the derivative with respect to
    α the batch statistics are constants, so g_i = J_iᵀ (r_i/σ) is the per-item derivative: the
    O(1/N) path through which α_i also moves μ and σ is an artefact of estimating the population
    scale from a finite batch (it vanishes as N grows), not movement of item i's representation;
    including it would make g_i depend on every other item of the batch and on N. μ has no part
    in the derivative at all (centring only removes the offset that the target is meant to ignore).
    """
    sigma = standardize_scale(h)
    (grad,) = torch.autograd.grad(h, nuisance, grad_outputs=signs / sigma, create_graph=True)
    return grad

"""CLeVER losses: representation split, orthogonality term, parameter-norm balance (pure functions).

CLeVER (Song et al., "Contrastive Learning Via Equivariant Representation", arXiv 2406.00262)
splits the backbone representation h (D dims) into an invariant part z_IR (the first
⌊0.8·D⌋ channels) and an equivariant part z_EF (the rest), puts one head on each, and trains

    L = L_CL + 1.0·L_Orth + 0.001·L_PReg                                   (PROTOCOL.md §7)

where L_CL is the base contrastive loss on the IR head, L_Orth = |mean_i cos(p_EF(view 1)_i,
p_EF(view 2)_i)| pushes the two views' equivariant outputs apart, and L_PReg =
|Σ‖θ_IR‖² − Σ‖θ_EF‖²| keeps the two heads' parameter norms balanced. These functions hold no
state; ``spirograph_baselines.methods.clever`` owns the heads and calls them.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch
import torch.nn.functional as F

from spirograph._validate import bad_value

from .nt_xent import gather_with_grad

IR_FRACTION = 0.8
"""Share of the representation channels that form z_IR (PROTOCOL.md §7: ⌊0.8·D⌋)."""

ORTH_WEIGHT = 1.0
"""Weight of L_Orth in the published objective."""

PREG_WEIGHT = 1e-3
"""Weight of L_PReg in the published objective."""


def split_sizes(dim: int, ir_fraction: float = IR_FRACTION) -> tuple[int, int]:
    """Channel counts of (z_IR, z_EF) for a representation of ``dim`` channels.

    Args:
        dim: representation width D (>= 2).
        ir_fraction: share of channels for z_IR, in (0, 1).

    Returns:
        ``(⌊ir_fraction·D⌋, D − ⌊ir_fraction·D⌋)``; ResNet-18 (D = 512) gives (409, 103).

    Raises:
        ValueError: if ``dim`` < 2, ``ir_fraction`` is outside (0, 1), or either part would be empty.
    """
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2:
        raise bad_value("dim", dim, "an integer >= 2")
    if not isinstance(ir_fraction, (int, float)) or not 0.0 < float(ir_fraction) < 1.0:
        raise bad_value("ir_fraction", ir_fraction, "a number in (0, 1)")
    # A tiny epsilon keeps 0.8·D exact where float rounding would land just below an integer.
    d_ir = int(math.floor(float(ir_fraction) * dim + 1e-9))
    if d_ir < 1 or d_ir > dim - 1:
        raise bad_value("ir_fraction", ir_fraction, f"a share that leaves both parts non-empty for dim={dim}")
    return d_ir, dim - d_ir


def split_representation(h: torch.Tensor, ir_fraction: float = IR_FRACTION) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a representation into (z_IR, z_EF) along the channel axis.

    Args:
        h: representation (B, D).
        ir_fraction: share of channels for z_IR.

    Returns:
        ``(z_IR (B, ⌊ir_fraction·D⌋), z_EF (B, D − ⌊ir_fraction·D⌋))``, views of ``h``.

    Raises:
        ValueError: if ``h`` is not 2-D or the split would leave a part empty.
    """
    if not isinstance(h, torch.Tensor) or h.ndim != 2:
        raise bad_value("h.shape", tuple(getattr(h, "shape", ())), "a 2-D tensor (B, D)")
    d_ir, _ = split_sizes(h.shape[1], ir_fraction)
    return h[:, :d_ir], h[:, d_ir:]


def orthogonality_loss(p_first: torch.Tensor, p_second: torch.Tensor, eps: float = 1e-8, *, distributed: bool = True) -> torch.Tensor:
    """L_Orth = |mean over the batch of cos(p_first_i, p_second_i)| (PROTOCOL.md §7).

    With an EMA teacher, ``p_first`` is the teacher's EF output for one view and ``p_second`` the
    student's for the other; with the InfoNCE base both come from the same network.

    Args:
        p_first: EF head outputs of one view (B, E).
        p_second: EF head outputs of the other view (B, E).
        eps: floor of the vector norms in the cosine.
        distributed: with an initialised process group, take the mean over the union batch of all
            ranks (the per-item cosines are gathered with gradient; every rank must hold the same B),
            so the absolute value acts on one mean, not on each rank's.

    Returns:
        Scalar tensor in [0, 1], the same on every rank when ``distributed``.

    Raises:
        ValueError: if the shapes differ, are not 2-D, or the batch is empty.
    """
    if not isinstance(p_first, torch.Tensor) or not isinstance(p_second, torch.Tensor):
        raise bad_value("p_first/p_second", (type(p_first).__name__, type(p_second).__name__), "two tensors (B, E)")
    if p_first.ndim != 2 or p_first.shape != p_second.shape or p_first.shape[0] == 0:
        raise bad_value("p_second.shape", (tuple(p_first.shape), tuple(p_second.shape)), "two equal non-empty shapes (B, E)")
    cos = F.cosine_similarity(p_first, p_second, dim=1, eps=eps)
    if distributed:
        cos, _ = gather_with_grad(cos)
    return cos.mean().abs()


def squared_norm(parameters: Iterable[torch.Tensor]) -> torch.Tensor:
    """Σ‖θ‖² over a collection of parameter tensors (differentiable).

    Args:
        parameters: tensors on one device (for example ``head.parameters()``).

    Returns:
        Scalar tensor.

    Raises:
        ValueError: if ``parameters`` is empty.
    """
    params = list(parameters)
    if not params:
        raise bad_value("parameters", params, "at least one parameter tensor")
    return torch.stack([p.pow(2).sum() for p in params]).sum()


def parameter_norm_loss(ir_parameters: Iterable[torch.Tensor], ef_parameters: Iterable[torch.Tensor]) -> torch.Tensor:
    """L_PReg = |Σ‖θ_IR‖² − Σ‖θ_EF‖²| between the two heads' parameters (PROTOCOL.md §7).

    Args:
        ir_parameters: parameters of the IR head.
        ef_parameters: parameters of the EF head.

    Returns:
        Scalar tensor >= 0.

    Raises:
        ValueError: if either collection is empty.
    """
    return (squared_norm(ir_parameters) - squared_norm(ef_parameters)).abs()


def clever_objective(
    contrastive: torch.Tensor,
    orthogonality: torch.Tensor,
    parameter_norm: torch.Tensor,
    *,
    orth_weight: float = ORTH_WEIGHT,
    preg_weight: float = PREG_WEIGHT,
) -> torch.Tensor:
    """The CLeVER objective L = L_CL + orth_weight·L_Orth + preg_weight·L_PReg.

    Args:
        contrastive: base contrastive loss on the IR head, scalar.
        orthogonality: L_Orth, scalar.
        parameter_norm: L_PReg, scalar.
        orth_weight: weight of L_Orth (>= 0; published 1.0).
        preg_weight: weight of L_PReg (>= 0; published 0.001).

    Returns:
        Scalar tensor.

    Raises:
        ValueError: if a term is not a scalar tensor or a weight is negative or not finite.
    """
    for name, value in (("contrastive", contrastive), ("orthogonality", orthogonality), ("parameter_norm", parameter_norm)):
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            raise bad_value(name, type(value).__name__ if not isinstance(value, torch.Tensor) else tuple(value.shape), "a scalar tensor")
    for name, weight in (("orth_weight", orth_weight), ("preg_weight", preg_weight)):
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
            raise bad_value(name, weight, "a finite number >= 0")
    return contrastive.reshape(()) + orth_weight * orthogonality.reshape(()) + preg_weight * parameter_norm.reshape(())

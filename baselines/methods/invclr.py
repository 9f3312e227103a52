"""InvCLR: SimCLR plus the gradient regulariser of PROTOCOL.md §3 (Foster, Pukdee & Rainforth 2021)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import torch

from spirograph._validate import bad_value, check_choice, check_int

from ..losses.gradient_penalty import TARGETS, gradient_penalty, rademacher
from ..losses.nt_xent import nt_xent
from . import register
from .base import StepContext
from .simclr import SimCLR, SimCLRConfig


@dataclass
class InvCLRConfig(SimCLRConfig):
    """InvCLR settings: SimCLR's plus the penalty's.

    Attributes:
        lam: penalty weight λ ≥ 0 (Spirograph: 0.01).
        clamp: upper bound U > 0 of the penalty (Spirograph: 1000; ``inf`` for none).
        n_prior: J, fresh nuisance draws per item (paper: 100).
        lam_warmup: fraction of training in [0, 1) over which λ rises linearly from 0 (paper: 0).
        penalty_items: 0 (paper) computes P on every view-1 item inside the contrastive forward
            pass; a positive number p computes it on the first min(p, n) view-1 items (the batch is
            in random order) through a separate forward pass: an unbiased estimate of the same mean
            at a fraction of the double-backprop cost. With BatchNorm in the encoder that pass
            normalises with the subset's own statistics, so it is meant for encoders without BatchNorm.
        penalty_target: what the penalty's projection acts on (``losses.gradient_penalty``):
            ``"normalized"`` (paper) ĥ = h/‖h‖; ``"raw"`` h itself (the published code's
            ``--no-gp-normalization``); ``"standardized"`` h centred and scaled per dimension by
            the batch statistics of the penalised items (all view-1 items of this rank, or the
            ``penalty_items`` subset), so an offset or a rescaling of h cannot shrink it.
    """

    lam: float = 0.01
    clamp: float = 1000.0
    n_prior: int = 100
    lam_warmup: float = 0.0
    penalty_items: int = 0
    penalty_target: str = "normalized"

    def validate(self) -> "InvCLRConfig":
        super().validate()
        if isinstance(self.lam, bool) or not isinstance(self.lam, (int, float)) or not math.isfinite(self.lam) or self.lam < 0:
            raise bad_value("lam", self.lam, "a finite number >= 0")
        if isinstance(self.clamp, bool) or not isinstance(self.clamp, (int, float)) or math.isnan(self.clamp) or self.clamp <= 0:
            raise bad_value("clamp", self.clamp, "a number > 0 (inf for no clamp)")
        self.n_prior = check_int("n_prior", self.n_prior, 1)
        if isinstance(self.lam_warmup, bool) or not isinstance(self.lam_warmup, (int, float)) or not 0 <= self.lam_warmup < 1:
            raise bad_value("lam_warmup", self.lam_warmup, "a fraction in [0, 1)")
        self.penalty_items = check_int("penalty_items", self.penalty_items, 0)
        self.penalty_target = check_choice("penalty_target", self.penalty_target, TARGETS)
        if self.penalty_target == "standardized" and self.penalty_items == 1:
            raise bad_value("penalty_items", self.penalty_items, "0 or at least 2 with penalty_target='standardized' (batch statistics)")
        self.lam, self.clamp, self.lam_warmup = float(self.lam), float(self.clamp), float(self.lam_warmup)
        return self

    @classmethod
    def from_overrides(cls, overrides: Mapping[str, Any] | None = None) -> "InvCLRConfig":
        if overrides and "penalty_normalize" in overrides:
            # Removed in 0.2.0: say what replaces it rather than only "unknown field".
            raise bad_value(
                "penalty_normalize", overrides["penalty_normalize"], "penalty_target instead ('normalized' for true, 'raw' for false)"
            )
        return super().from_overrides(overrides)


@register("invclr")
class InvCLR(SimCLR):
    """SimCLR + λ·P, P the clamped gradient penalty on view 1's representation (``penalty_target``)."""

    Config = InvCLRConfig
    needs_nuisance_grad = True
    uses_nuisance_labels = True  # the penalty differentiates the renderer with respect to α

    def lam_at(self, progress: float) -> float:
        """λ at a training progress in [0, 1], after the linear warm-up."""
        cfg = self.config
        if cfg.lam_warmup <= 0:
            return cfg.lam
        return cfg.lam * min(1.0, progress / cfg.lam_warmup)

    def _encode_with_penalty_view(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """View 0's representation from its own encoder pass (n, d), and z (k, n, proj_dim) as ``encode_views``.

        The penalty differentiates h of view 0 twice. Taken from a pass over all k views, both
        backward passes would run over every view's encoder graph (the other views' gradients are
        zeros): about k times the work. Encoding each view apart gives the same h whenever the
        encoder treats items independently (no BatchNorm: convolutions, GroupNorm) or the passes are
        per view anyway; the head still sees the batch as ``view_passes`` says, so the loss and its
        gradient are unchanged up to float rounding. A BatchNorm encoder with joint passes keeps the
        joint pass (its statistics cover all views).
        """
        batch_coupled = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in self.encoder.modules())
        if self.config.view_passes == "joint" and batch_coupled:
            h, z = self.encode_views(images)
            return h[0], z
        k, n = images.shape[:2]
        h = [self.encoder(images[v]) for v in range(k)]
        if self.config.view_passes == "per-view":
            return h[0], torch.stack([self.head(hv) for hv in h])
        return h[0], self.head(torch.cat(h)).reshape(k, n, -1)

    def training_step(self, ctx: StepContext) -> dict[str, Any]:
        cfg = self.config
        n = ctx.images.shape[1]
        if cfg.penalty_items > 0:
            # The penalty's pass needs images differentiable in α while the contrastive pass does not.
            _, z = self.encode_views(ctx.images.detach())
            p = min(cfg.penalty_items, n)  # a short last batch (drop_last false) may hold fewer items
            # A fresh leaf for the subset's nuisance, re-rendered so the images depend on it alone.
            nuisance, view = ctx.nuisance[0, :p].detach().requires_grad_(True), None
            with torch.autocast(device_type=nuisance.device.type, enabled=False):  # render in full precision
                images_pen = ctx.spirograph.render(ctx.content[:p], nuisance, validate=False)
            h_pen = self.encoder(images_pen)
        else:
            h_pen, z = self._encode_with_penalty_view(ctx.images)
            nuisance, view, p = ctx.nuisance, 0, n
        contrastive = nt_xent(z[0], z[1], cfg.temperature)
        signs = rademacher(tuple(h_pen.shape), generator=ctx.generator, dtype=h_pen.dtype, device=h_pen.device)
        prior = ctx.spirograph.sample_nuisance(p * cfg.n_prior, generator=ctx.generator).reshape(p, cfg.n_prior, -1)
        penalty, raw = gradient_penalty(h_pen, nuisance, prior, signs, clamp=cfg.clamp, view=view, target=cfg.penalty_target)
        lam = self.lam_at(ctx.progress)
        loss = contrastive + lam * penalty
        return {"loss": loss, "nt_xent": contrastive.detach(), "penalty": raw, "lam": lam}

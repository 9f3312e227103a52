"""InvCLR: SimCLR plus the gradient regulariser of SPEC §3 (Foster, Pukdee & Rainforth 2021)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from spirograph._validate import bad_value, check_int

from ..losses.gradient_penalty import gradient_penalty, rademacher
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
    """

    lam: float = 0.01
    clamp: float = 1000.0
    n_prior: int = 100
    lam_warmup: float = 0.0

    def validate(self) -> "InvCLRConfig":
        super().validate()
        if isinstance(self.lam, bool) or not isinstance(self.lam, (int, float)) or not math.isfinite(self.lam) or self.lam < 0:
            raise bad_value("lam", self.lam, "a finite number >= 0")
        if isinstance(self.clamp, bool) or not isinstance(self.clamp, (int, float)) or math.isnan(self.clamp) or self.clamp <= 0:
            raise bad_value("clamp", self.clamp, "a number > 0 (inf for no clamp)")
        self.n_prior = check_int("n_prior", self.n_prior, 1)
        if isinstance(self.lam_warmup, bool) or not isinstance(self.lam_warmup, (int, float)) or not 0 <= self.lam_warmup < 1:
            raise bad_value("lam_warmup", self.lam_warmup, "a fraction in [0, 1)")
        self.lam, self.clamp, self.lam_warmup = float(self.lam), float(self.clamp), float(self.lam_warmup)
        return self


@register("invclr")
class InvCLR(SimCLR):
    """SimCLR + λ·P, P the clamped gradient penalty on view 1's normalised representation."""

    Config = InvCLRConfig
    needs_nuisance_grad = True
    uses_nuisance_labels = True  # the penalty differentiates the renderer with respect to α

    def lam_at(self, progress: float) -> float:
        """λ at a training progress in [0, 1], after the linear warm-up."""
        cfg = self.config
        if cfg.lam_warmup <= 0:
            return cfg.lam
        return cfg.lam * min(1.0, progress / cfg.lam_warmup)

    def training_step(self, ctx: StepContext) -> dict[str, Any]:
        h, z = self.encode_views(ctx)
        contrastive = nt_xent(z[0], z[1], self.config.temperature)
        n, d = h.shape[1], h.shape[2]
        signs = rademacher((n, d), generator=ctx.generator, dtype=h.dtype, device=h.device)
        prior = ctx.spirograph.sample_nuisance(n * self.config.n_prior, generator=ctx.generator)
        prior = prior.reshape(n, self.config.n_prior, -1)
        penalty, raw = gradient_penalty(h[0], ctx.nuisance, prior, signs, clamp=self.config.clamp, view=0)
        lam = self.lam_at(ctx.progress)
        loss = contrastive + lam * penalty
        return {"loss": loss, "nt_xent": contrastive.detach(), "penalty": raw, "lam": lam}

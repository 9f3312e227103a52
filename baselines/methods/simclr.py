"""SimCLR: NT-Xent on the projections of two views with independent nuisance draws (PROTOCOL.md §2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from spirograph._validate import bad_value, check_choice, check_int, check_positive_float

from ..encoders import ProjectionHead
from ..losses.nt_xent import nt_xent
from . import register
from .base import Method, MethodConfig, StepContext

VIEW_PASSES = ("per-view", "joint")
"""How the views go through encoder and head: one call per view (the original code; BatchNorm
statistics per view) or all views in one call (statistics over the k·n items)."""


@dataclass
class SimCLRConfig(MethodConfig):
    """SimCLR settings.

    Attributes:
        temperature: NT-Xent temperature τ > 0 (paper: 0.5).
        proj_hidden: hidden size of the projection head (None: the representation size).
        proj_dim: projection size (paper: 128).
        head_batch_norm: BatchNorm in the head as in the paper (False: sample-independent head).
        view_passes: "per-view" (paper: the original code calls the network once per view, so
            BatchNorm statistics are per view) or "joint" (both views in one call: statistics over
            2n items). Identical for sample-independent encoders and heads.
    """

    temperature: float = 0.5
    proj_hidden: int | None = None
    proj_dim: int = 128
    head_batch_norm: bool = True
    view_passes: str = "per-view"

    def validate(self) -> "SimCLRConfig":
        super().validate()
        self.temperature = check_positive_float("temperature", self.temperature)
        if self.proj_hidden is not None:
            self.proj_hidden = check_int("proj_hidden", self.proj_hidden, 1)
        self.proj_dim = check_int("proj_dim", self.proj_dim, 1)
        if not isinstance(self.head_batch_norm, bool):
            raise bad_value("head_batch_norm", self.head_batch_norm, "True or False")
        self.view_passes = check_choice("view_passes", self.view_passes, VIEW_PASSES)
        return self


@register("simclr")
class SimCLR(Method):
    """SimCLR (Chen et al. 2020) on Spirograph views: encoder → projection head → NT-Xent."""

    Config = SimCLRConfig

    def build(self) -> None:
        cfg = self.config
        self.head = ProjectionHead(self.encoder.out_dim, cfg.proj_hidden, cfg.proj_dim, batch_norm=cfg.head_batch_norm)

    def encode_views(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Representations of views (k, n, 3, R, R): ``(h (k, n, d), z (k, n, proj_dim))``, per ``view_passes``."""
        k, n = images.shape[:2]
        if self.config.view_passes == "per-view":
            h = [self.encoder(images[v]) for v in range(k)]
            return torch.stack(h), torch.stack([self.head(hv) for hv in h])
        h = self.encoder(images.reshape(k * n, *images.shape[2:]))
        z = self.head(h)
        return h.reshape(k, n, -1), z.reshape(k, n, -1)

    def training_step(self, ctx: StepContext) -> dict[str, Any]:
        _, z = self.encode_views(ctx.images)
        loss = nt_xent(z[0], z[1], self.config.temperature)
        return {"loss": loss, "nt_xent": loss.detach()}

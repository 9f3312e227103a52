"""CLeVER: contrastive learning with a split invariant / equivariant representation (PROTOCOL.md §7).

Song et al., "Contrastive Learning Via Equivariant Representation" (arXiv 2406.00262). The
backbone output h (D dims) is split into z_IR (first ⌊0.8·D⌋ channels) and z_EF (the rest); a
projection head on each; the loss is

    L = L_CL(IR head) + 1.0·L_Orth(EF head) + 0.001·L_PReg(IR head, EF head).

Base loss: the published code uses DINO with an EMA teacher (and also released a SimSiam form);
this benchmark uses the InfoNCE / NT-Xent loss of PROTOCOL.md §2 as the base, so CLeVER compares directly
with SimCLR and InvCLR (same encoder, views and optimiser). Without a teacher, L_Orth compares the
EF outputs of the two views of the same network.

Two registered methods:

* ``clever``: the published method; it never reads the nuisance values.
* ``clever-nuisance``: a Spirograph-only variant that adds a linear regression head from z_EF to
  the known (prior-standardised) nuisance values of each view, weighted by ``nuisance_weight``. It
  uses nuisance labels and says so in its disclosures.

At the end of training, :func:`split_probes` fits the harness's ridge probe
(:func:`spirograph.harness.probes.fit_ridge`, the paper's objective of PROTOCOL.md §5) from z_IR,
z_EF and their concatenation to the content and to the nuisance, the probes the paper reports:
z_IR should predict content and z_EF should carry the nuisance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spirograph import Spirograph
from spirograph._validate import bad_value, check_choice, check_int, check_positive_float
from spirograph.harness.probes import fit_ridge

from ..encoders import ProjectionHead
from ..losses import clever as L
from ..losses.nt_xent import nt_xent
from . import register
from .base import Method, MethodConfig, StepContext
from .simclr import VIEW_PASSES


def _check_weight(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise bad_value(name, value, "a finite number >= 0")
    return float(value)


@dataclass
class CLeVERConfig(MethodConfig):
    """CLeVER settings.

    Attributes:
        ir_fraction: share of representation channels in z_IR, in (0, 1) (paper: 0.8).
        temperature: NT-Xent temperature of the base loss (PROTOCOL.md §2: 0.5).
        orth_weight: weight of L_Orth (paper: 1.0).
        preg_weight: weight of L_PReg (paper: 0.001).
        proj_hidden: hidden size of both heads (None: each head's input size).
        proj_dim: output size of both heads (128).
        head_batch_norm: BatchNorm in the heads as in SimCLR's head.
        view_passes: "per-view" (one encoder and head call per view, as SimCLR's paper setting) or
            "joint" (both views in one call); see ``SimCLRConfig``.
        probe_train, probe_test: contents for the end-of-training split probes (0 disables them).
        probe_seed: seed of the probe contents and nuisance draws.
        probe_ridge: λ of the probes' objective (PROTOCOL.md §5: 1e-8; ``fit_ridge`` scales it by n·k).
    """

    ir_fraction: float = L.IR_FRACTION
    temperature: float = 0.5
    orth_weight: float = L.ORTH_WEIGHT
    preg_weight: float = L.PREG_WEIGHT
    proj_hidden: int | None = None
    proj_dim: int = 128
    head_batch_norm: bool = True
    view_passes: str = "per-view"
    probe_train: int = 10_000
    probe_test: int = 5_000
    probe_seed: int = 1
    probe_ridge: float = 1e-8

    def validate(self) -> "CLeVERConfig":
        super().validate()
        if isinstance(self.ir_fraction, bool) or not isinstance(self.ir_fraction, (int, float)) or not 0 < self.ir_fraction < 1:
            raise bad_value("ir_fraction", self.ir_fraction, "a number in (0, 1)")
        self.temperature = check_positive_float("temperature", self.temperature)
        self.orth_weight = _check_weight("orth_weight", self.orth_weight)
        self.preg_weight = _check_weight("preg_weight", self.preg_weight)
        if self.proj_hidden is not None:
            self.proj_hidden = check_int("proj_hidden", self.proj_hidden, 1)
        self.proj_dim = check_int("proj_dim", self.proj_dim, 1)
        if not isinstance(self.head_batch_norm, bool):
            raise bad_value("head_batch_norm", self.head_batch_norm, "True or False")
        self.view_passes = check_choice("view_passes", self.view_passes, VIEW_PASSES)
        self.probe_train = check_int("probe_train", self.probe_train, 0)
        self.probe_test = check_int("probe_test", self.probe_test, 0)
        if (self.probe_train == 0) != (self.probe_test == 0):
            raise bad_value("probe_train/probe_test", (self.probe_train, self.probe_test), "both 0 (no probes) or both >= 1")
        if 0 < self.probe_train < 2:
            raise bad_value("probe_train", self.probe_train, "0 or at least 2 contents")
        self.probe_seed = check_int("probe_seed", self.probe_seed, 0)
        self.probe_ridge = check_positive_float("probe_ridge", self.probe_ridge)
        return self


@register("clever")
class CLeVER(Method):
    """CLeVER with the InfoNCE base loss: IR head → NT-Xent, EF head → L_Orth, L_PReg between heads."""

    Config = CLeVERConfig

    def build(self) -> None:
        cfg = self.config
        d_ir, d_ef = L.split_sizes(self.encoder.out_dim, cfg.ir_fraction)
        self.ir_head = ProjectionHead(d_ir, cfg.proj_hidden, cfg.proj_dim, batch_norm=cfg.head_batch_norm)
        self.ef_head = ProjectionHead(d_ef, cfg.proj_hidden, cfg.proj_dim, batch_norm=cfg.head_batch_norm)

    def split(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(z_IR (B, d_IR), z_EF (B, d_EF)) of representations h (B, D)."""
        return L.split_representation(h, self.config.ir_fraction)

    def encode_views(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(z_EF (k·n, d_EF) view-major, p_IR (k, n, proj_dim), p_EF (k, n, proj_dim))`` of views (k, n, 3, R, R)."""
        k, n = images.shape[:2]
        if self.config.view_passes == "per-view":
            parts = [self.split(self.encoder(images[v])) for v in range(k)]
            p_ir = torch.stack([self.ir_head(z_ir) for z_ir, _ in parts])
            p_ef = torch.stack([self.ef_head(z_ef) for _, z_ef in parts])
            return torch.cat([z_ef for _, z_ef in parts]), p_ir, p_ef
        z_ir, z_ef = self.split(self.encoder(images.reshape(k * n, *images.shape[2:])))
        return z_ef, self.ir_head(z_ir).reshape(k, n, -1), self.ef_head(z_ef).reshape(k, n, -1)

    def training_step(self, ctx: StepContext) -> dict[str, Any]:
        cfg = self.config
        z_ef, p_ir, p_ef = self.encode_views(ctx.images)
        contrastive = nt_xent(p_ir[0], p_ir[1], cfg.temperature)
        # |mean cos| over the union batch: every rank sees one mean.
        orth = L.orthogonality_loss(p_ef[0], p_ef[1], distributed=True)
        preg = L.parameter_norm_loss(self.ir_head.parameters(), self.ef_head.parameters())
        loss = L.clever_objective(contrastive, orth, preg, orth_weight=cfg.orth_weight, preg_weight=cfg.preg_weight)
        logs = {"nt_xent": contrastive.detach(), "orth": orth.detach(), "preg": preg.detach()}
        extra, extra_logs = self.extra_terms(z_ef, ctx)
        if extra is not None:
            loss = loss + extra
        return {"loss": loss, **logs, **extra_logs}

    def extra_terms(self, z_ef: torch.Tensor, ctx: StepContext) -> tuple[torch.Tensor | None, dict[str, Any]]:
        """Hook for variants: an extra loss term on z_EF (B·k, d_EF) and its logs; none when published."""
        return None, {}

    @torch.no_grad()
    def final_report(self, spirograph: Spirograph, *, batch_size: int = 1024) -> dict[str, float]:
        """Ridge probes from z_IR, z_EF and [z_IR, z_EF] to content and nuisance (see :func:`split_probes`)."""
        cfg = self.config
        if cfg.probe_train == 0:
            return {}
        return split_probes(
            self.encoder, spirograph, ir_fraction=cfg.ir_fraction, n_train=cfg.probe_train, n_test=cfg.probe_test,
            seed=cfg.probe_seed, ridge=cfg.probe_ridge, batch_size=batch_size,
        )


@dataclass
class CLeVERNuisanceConfig(CLeVERConfig):
    """``clever-nuisance`` settings: CLeVER's plus the nuisance regression.

    Attributes:
        nuisance_weight: weight > 0 of the MSE between a linear map of z_EF and the view's
            nuisance values standardised by the prior (each column to mean 0, variance 1).
    """

    nuisance_weight: float = 1.0

    def validate(self) -> "CLeVERNuisanceConfig":
        super().validate()
        self.nuisance_weight = check_positive_float("nuisance_weight", self.nuisance_weight)
        return self


@register("clever-nuisance")
class CLeVERNuisance(CLeVER):
    """CLeVER plus a linear z_EF → nuisance regression on the known nuisance values (not published)."""

    Config = CLeVERNuisanceConfig
    uses_nuisance_labels = True

    def build(self) -> None:
        super().build()
        _, d_ef = L.split_sizes(self.encoder.out_dim, self.config.ir_fraction)
        self.nuisance_head = nn.Linear(d_ef, len(self.space.nuisance))

    def extra_terms(self, z_ef: torch.Tensor, ctx: StepContext) -> tuple[torch.Tensor | None, dict[str, Any]]:
        self.check_space(ctx.spirograph)
        space = ctx.spirograph.space
        mean = space.prior_mean(space.nuisance).to(z_ef)
        std = space.prior_variance(space.nuisance).to(z_ef).sqrt().clamp(min=1e-12)
        target = (ctx.nuisance.detach().reshape(z_ef.shape[0], -1).to(z_ef) - mean) / std
        regression = F.mse_loss(self.nuisance_head(z_ef), target)
        return self.config.nuisance_weight * regression, {"nuisance_mse": regression.detach()}


@torch.no_grad()
def split_probes(
    encoder: nn.Module,
    spirograph: Spirograph,
    *,
    ir_fraction: float = L.IR_FRACTION,
    n_train: int = 10_000,
    n_test: int = 5_000,
    seed: int = 1,
    ridge: float = 1e-8,
    batch_size: int = 1024,
) -> dict[str, float]:
    """Content and nuisance linear probes from z_IR, z_EF and their concatenation.

    Probe items come from ``spirograph`` with streams ``clever-probe/train`` and
    ``clever-probe/test`` of ``seed`` (one nuisance draw per image), the encoder runs in eval
    mode, and the harness's closed-form ridge (``fit_ridge``, float64) is fitted per feature set and
    target (PROTOCOL.md §5).

    Args:
        encoder: backbone (B, 3, R, R) → (B, D).
        spirograph: generator of the probe images (its device is used).
        ir_fraction: split of the representation.
        n_train, n_test: probe contents (>= 2 and >= 1).
        seed: seed of the probe items.
        ridge: λ > 0 of the paper's objective (scaled by n·k inside ``fit_ridge``).
        batch_size: images per encoder call.

    Returns:
        ``{"probe/<ir|ef|concat>/<content|nuisance>_<mse|r2>": float}``: MSE in raw factor units
        averaged over the targets (the paper's metric) and the mean R².

    Raises:
        ValueError: on bad sizes.
    """
    n_train, n_test = check_int("n_train", n_train, 2), check_int("n_test", n_test, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    was_training = encoder.training
    encoder.eval()
    try:
        sets = {}
        for split, n in (("train", n_train), ("test", n_test)):
            content, nuisance = spirograph.sample(n, seed=seed, stream=f"clever-probe/{split}")
            feats = []
            for lo in range(0, n, batch_size):
                images = spirograph.render(content[lo : lo + batch_size], nuisance[lo : lo + batch_size], validate=False)
                feats.append(encoder(images).double())
            sets[split] = (torch.cat(feats), content.double(), nuisance.double())
    finally:
        encoder.train(was_training)
    report: dict[str, float] = {}
    (tr_h, tr_c, tr_a), (te_h, te_c, te_a) = sets["train"], sets["test"]
    d_ir, _ = L.split_sizes(tr_h.shape[1], ir_fraction)
    parts = {"ir": slice(0, d_ir), "ef": slice(d_ir, None), "concat": slice(None)}
    for part, cols in parts.items():
        for target, (ty, vy) in (("content", (tr_c, te_c)), ("nuisance", (tr_a, te_a))):
            probe = fit_ridge(tr_h[:, cols], ty.to(tr_h.device), ridge)
            test_y = vy.to(te_h.device)
            mse = (probe.predict(te_h[:, cols]) - test_y).pow(2).mean(0)
            r2 = 1 - mse / test_y.var(0, unbiased=False).clamp(min=1e-12)
            report[f"probe/{part}/{target}_mse"] = float(mse.mean())
            report[f"probe/{part}/{target}_r2"] = float(r2.mean())
    return report

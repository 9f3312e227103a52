"""Invariance Propagation: instance discrimination against a memory bank plus propagated positives (PROTOCOL.md §8).

Wang et al., "Unsupervised Representation Learning by Invariance Propagation" (NeurIPS 2020).
Per step each item is rendered once (a fresh nuisance draw), embedded into 128 L2-normalised dims
and compared with a memory bank of all N training items (``spirograph_baselines.memory_bank``):

    L = L_ins + λ_inv·1[epoch >= inv_warmup_epochs]·L_inv,   λ_inv = 0.6, 30 warm-up epochs,

with the losses of ``spirograph_baselines.losses.invprop`` (top-M background, τ = 0.2, kNN graph
k = 4, L = 3 propagation steps, P hard positives). After the optimiser step the bank vectors and
kNN-graph rows of the batch items are updated with momentum 0.5, gathered over all ranks so every
rank's bank stays identical. During the warm-up only L_ins is computed: no propagation, no hard
positives (their diagnostics below start with L_inv).

Spirograph's content is continuous, so "category-level" positives are items with nearby content.
Because the factors are known, every step logs how far the discovered hard positives lie from
their anchors in content and in nuisance (Euclidean distance in prior-standardised units), next
to the same distances for random pairs: ``pos_content_dist`` well below ``rand_content_dist``
means propagation finds items of similar content; ``pos_nuisance_dist`` near
``rand_nuisance_dist`` means it is not fooled by the nuisance. A bank entry averages the views
that updated it; its nuisance is recorded as that of the latest one (weight 1 − momentum).
Training never reads these factors: they only feed the diagnostic.

Scaling for small runs (the ``cpu-quick`` preset, ``spirograph_baselines.presets``). The bank
always holds one vector per training content (N = n_contents). A bank-based method learns an item
only when it revisits it (its positive is the item's own embedding from one epoch earlier), so
at a budget of ~780 steps of 256 items the preset trades distinct contents for visits:

* N = 5,000 contents for 40 epochs (760 steps) instead of 20,000 for 10. (SimCLR and CLeVER
  run 1,248 two-view steps on a GroupNorm ConvNet; InvP keeps 760 one-view steps and the ConvNet
  with BatchNorm: with the norm-free ConvNet its embedding collapsed in all three seeds, and
  with the GroupNorm one as well, see baselines/RESULTS_EXTRA.md.)
* M = 1,024: the paper's 4,096 would be 82% of such a bank, which makes the background nearly
  the whole bank; 1,024 (20%) keeps it a set of the nearest entries.
* P = 10 instead of 20: a smaller bank is sparser in content, so the 20 hardest of the
  (at most 84) propagated entries would reach farther from the anchor.
* 10 warm-up epochs of 40 (the paper: 30), so every bank entry has been written
  ten times before its kNN rows feed L_inv.

One comparison on validation contents (never the test items), seed 0, P = 10 in both: this
setting gave a single-draw content MSE of 0.041 (0.012 with 10 averaged draws) and positives at
content distance 1.96 from their anchors (random pairs 2.73), against 0.056 (0.016) and 2.17
for N = 20,000 × 10 epochs, M = 2,048, 3 warm-up epochs. Several settings changed at once, so
this picks a setting; it does not attribute the gain to one of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spirograph._validate import bad_value, check_int, check_positive_float

from ..losses import invprop as L
from ..memory_bank import MemoryBank, all_gather_rows, last_occurrence
from . import register
from .base import Method, MethodConfig, StepContext


@dataclass
class InvPropConfig(MethodConfig):
    """Invariance Propagation settings (paper defaults, PROTOCOL.md §8).

    Attributes:
        embed_dim: embedding width d (128).
        temperature: τ (0.2).
        background_size: M, background set size (4096); at most the number of training items.
        neighbours: k of the kNN graph (4), fewer than M.
        steps: L, propagation hops (3).
        positives: P, hard positives per anchor (20 at CIFAR scale), at most M − 1.
        lam_inv: weight of L_inv after the warm-up (0.6).
        inv_warmup_epochs: epochs of instance loss only (30).
        bank_momentum: weight of the old bank vector in an update (0.5).
        bank_seed: seed of the bank's random initial vectors.
    """

    embed_dim: int = 128
    temperature: float = L.TEMPERATURE
    background_size: int = L.BACKGROUND_SIZE
    neighbours: int = L.NEIGHBOURS
    steps: int = L.STEPS
    positives: int = L.POSITIVES
    lam_inv: float = 0.6
    inv_warmup_epochs: int = 30
    bank_momentum: float = 0.5
    bank_seed: int = 0

    def validate(self) -> "InvPropConfig":
        super().validate()
        self.embed_dim = check_int("embed_dim", self.embed_dim, 1)
        self.temperature = check_positive_float("temperature", self.temperature)
        self.background_size = check_int("background_size", self.background_size, 2)
        self.neighbours = check_int("neighbours", self.neighbours, 1)
        if self.neighbours >= self.background_size:
            raise bad_value("neighbours", self.neighbours, f"fewer than background_size ({self.background_size})")
        self.steps = check_int("steps", self.steps, 1)
        self.positives = check_int("positives", self.positives, 1)
        if self.positives > self.background_size - 1:
            raise bad_value("positives", self.positives, f"at most background_size - 1 ({self.background_size - 1})")
        if isinstance(self.lam_inv, bool) or not isinstance(self.lam_inv, (int, float)) or not math.isfinite(self.lam_inv) or self.lam_inv < 0:
            raise bad_value("lam_inv", self.lam_inv, "a finite number >= 0")
        self.lam_inv = float(self.lam_inv)
        self.inv_warmup_epochs = check_int("inv_warmup_epochs", self.inv_warmup_epochs, 0)
        m = self.bank_momentum
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not 0 <= m < 1:
            raise bad_value("bank_momentum", m, "a number in [0, 1)")
        self.bank_momentum = float(m)
        self.bank_seed = check_int("bank_seed", self.bank_seed, 0)
        return self


@register("invprop")
class InvProp(Method):
    """Invariance Propagation: a linear 128-d embedding head, a memory bank and the two losses."""

    Config = InvPropConfig
    views_per_item = 1

    def build(self) -> None:
        cfg = self.config
        if cfg.background_size > self.n_items:
            raise bad_value("background_size", cfg.background_size, f"at most the number of training items ({self.n_items})")
        # The published network ends in a linear layer to 128 dims, normalised (no MLP head).
        self.head = nn.Linear(self.encoder.out_dim, cfg.embed_dim)
        self.bank = MemoryBank(self.n_items, cfg.embed_dim, neighbours=cfg.neighbours, momentum=cfg.bank_momentum, seed=cfg.bank_seed)
        # Known factors of each bank entry, for the diagnostic only (never used by the losses).
        self.register_buffer("item_content", torch.zeros(self.n_items, len(self.space.content)))
        self.register_buffer("item_nuisance", torch.zeros(self.n_items, len(self.space.nuisance)))
        self.register_buffer("item_seen", torch.zeros(self.n_items, dtype=torch.bool))
        self._pending: tuple[torch.Tensor, ...] | None = None

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised embeddings (B, embed_dim) of images (B, 3, R, R)."""
        return F.normalize(self.head(self.encoder(images)), dim=1)

    def invariance_active(self, epoch: int) -> bool:
        """Whether L_inv is on at this 0-based epoch (after ``inv_warmup_epochs`` epochs)."""
        return epoch >= self.config.inv_warmup_epochs

    def training_step(self, ctx: StepContext) -> dict[str, Any]:
        cfg = self.config
        self.check_space(ctx.spirograph)
        index = ctx.indices.to(self.bank.vectors.device, torch.long)
        v = self.embed(ctx.images[0])
        active = self.invariance_active(ctx.epoch)
        # During the warm-up L_inv is unused, so the propagation and hard positives are skipped.
        out = L.invprop_losses(
            v, index, self.bank.vectors, self.bank.graph, background_size=cfg.background_size, temperature=cfg.temperature,
            neighbours=cfg.neighbours, steps=cfg.steps, positives=cfg.positives, invariance=active,
        )
        loss = out.instance + (cfg.lam_inv * out.invariance if active else 0.0)
        self._pending = (index, v.detach(), out.neighbours, ctx.content.detach(), ctx.nuisance[0].detach())
        logs = {"l_ins": out.instance.detach(), "lam_inv": cfg.lam_inv if active else 0.0}
        if active:
            logs["l_inv"] = out.invariance.detach()
        logs.update(self.positive_diagnostics(ctx, index, out.positives, out.valid))
        return {"loss": loss, **logs}

    @torch.no_grad()
    def positive_diagnostics(
        self, ctx: StepContext, index: torch.Tensor, positives: torch.Tensor | None, valid: torch.Tensor | None
    ) -> dict[str, float]:
        """Mean content / nuisance distances anchor → hard positives and anchor → random items.

        Distances are Euclidean in prior-standardised units, over positives already seen by the
        bank; random partners are drawn with ``ctx.generator`` among seen items.

        Args:
            positives, valid: hard positives (B, P) and their mask, or None during the warm-up.

        Returns:
            ``pos_found`` (mean valid positives per anchor; not during the warm-up) and, once any
            item was seen, ``rand_content_dist``, ``rand_nuisance_dist`` and (not during the warm-up)
            ``pos_content_dist``, ``pos_nuisance_dist``.
        """
        logs: dict[str, float] = {} if valid is None else {"pos_found": float(valid.sum(dim=1).float().mean())}
        seen = self.item_seen.nonzero().squeeze(1)
        if seen.numel() == 0:
            return logs
        space = ctx.spirograph.space
        c_scale = space.prior_variance(space.content).to(self.item_content).sqrt().clamp(min=1e-12)
        a_scale = space.prior_variance(space.nuisance).to(self.item_nuisance).sqrt().clamp(min=1e-12)
        anchor_c = ctx.content.to(self.item_content) / c_scale
        anchor_a = ctx.nuisance[0].detach().to(self.item_nuisance) / a_scale
        mask = None if valid is None else valid & self.item_seen[positives]
        if mask is not None and mask.any():
            pos_c = self.item_content[positives] / c_scale
            pos_a = self.item_nuisance[positives] / a_scale
            logs["pos_content_dist"] = float((pos_c - anchor_c.unsqueeze(1)).norm(dim=2)[mask].mean())
            logs["pos_nuisance_dist"] = float((pos_a - anchor_a.unsqueeze(1)).norm(dim=2)[mask].mean())
        pick = torch.randint(0, seen.numel(), (index.shape[0],), generator=ctx.generator, device=ctx.generator.device)
        partner = seen[pick.to(seen.device)]
        logs["rand_content_dist"] = float((self.item_content[partner] / c_scale - anchor_c).norm(dim=1).mean())
        logs["rand_nuisance_dist"] = float((self.item_nuisance[partner] / a_scale - anchor_a).norm(dim=1).mean())
        return logs

    @torch.no_grad()
    def after_step(self, ctx: StepContext, outputs) -> None:
        """Write the step's embeddings and kNN rows into the bank (all ranks alike), and the known factors."""
        if self._pending is None:
            return
        index, v, rows, content, nuisance = all_gather_rows(*self._pending)
        self._pending = None
        self.bank.update(index, v, rows, gather=False)
        keep = last_occurrence(index)
        self.item_content[index[keep]] = content[keep].to(self.item_content)
        self.item_nuisance[index[keep]] = nuisance[keep].to(self.item_nuisance)
        self.item_seen[index] = True

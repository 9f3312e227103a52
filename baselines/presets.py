"""Named settings for ``spirograph-train --preset``: ``paper`` (PROTOCOL.md §2/§3) and ``cpu-quick``.

A preset holds the training settings and method settings; method settings under ``"*"`` apply to
every method that has such a field, settings under a method's name only to that method.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from spirograph._validate import unknown_name

from .config import TrainConfig


@dataclass(frozen=True)
class Preset:
    """A named bundle of training and method settings."""

    name: str
    description: str
    train: TrainConfig
    method: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    train_by_method: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Training settings that differ for one method (e.g. the bank size of a memory-bank method)."""

    def train_settings(self, method_cls) -> TrainConfig:
        """This preset's training settings for ``method_cls``: ``train`` updated by its ``train_by_method`` entry."""
        return TrainConfig.from_overrides(self.train, self.train_by_method.get(method_cls.name, {}))

    def method_settings(self, method_cls) -> dict[str, Any]:
        """Settings of this preset for ``method_cls`` (its ``"*"`` entries that the method has, then its own)."""
        fields = {f.name for f in dataclasses.fields(method_cls.Config)}
        shared = {k: v for k, v in self.method.get("*", {}).items() if k in fields}
        return {**shared, **self.method.get(method_cls.name, {})}


PAPER = Preset(
    name="paper",
    description="PROTOCOL.md §2/§3: ResNet-18 (CIFAR stem, Kaiming init), 50 epochs of 196 steps over 100k contents "
    "(batch 512, last batch 160), LARS lr 3.0 with the original per-epoch schedule min(cosine, (e+1)/10), "
    "one encoder pass per view, τ = 0.5; invclr λ = 0.01, U = 1000, J = 100.",
    train=TrainConfig(drop_last=False, lr_schedule="cosine-ramp", schedule_unit="epoch").validate(),
    method={
        "*": {"temperature": 0.5, "proj_dim": 128, "view_passes": "per-view"},
        "invclr": {"lam": 0.01, "clamp": 1000.0, "n_prior": 100, "lam_warmup": 0.0},
        # PROTOCOL.md §8 as published (P at CIFAR scale); the bank holds all n_contents items.
        "invprop": {"temperature": 0.2, "background_size": 4096, "neighbours": 4, "steps": 3, "positives": 20, "lam_inv": 0.6, "inv_warmup_epochs": 30},
    },
)

_SIMCLR_QUICK = {"encoder_kwargs": {"widths": [32, 64, 128], "norm": "group"}, "epochs": 16}

CPU_QUICK = Preset(
    name="cpu-quick",
    description="A few minutes on 2 CPU cores: ConvNet 32-64-128, batch 256 (last partial batch dropped), per-step "
    "warm-up then cosine, both views in one pass; settings chosen on validation contents (see RESULTS.md).",
    train=TrainConfig(
        encoder="convnet",
        encoder_kwargs={"widths": [32, 64, 128]},
        n_contents=20_000,
        batch_size=256,
        drop_last=True,
        epochs=10,
        optimizer="lars",
        base_lr=1.5,
        warmup_epochs=1,
        lr_schedule="warmup-cosine",
        schedule_unit="step",
        checkpoint_every=100,
        log_every=10,
    ).validate(),
    method={
        # The settings chosen before the paper preset became per-view: both views in one pass.
        "*": {"temperature": 0.5, "proj_dim": 128, "view_passes": "joint"},
        # λ (from 0.01, 0.1, 1), the encoder and the budget were compared on validation contents (RESULTS.md).
        "invclr": {"lam": 0.01, "clamp": 1000.0, "n_prior": 100, "lam_warmup": 0.5, "penalty_items": 64},
        # Scaled to a 5k-item bank visited 40 times: see the docstring of methods/invprop.py.
        "invprop": {"temperature": 0.2, "background_size": 1024, "neighbours": 4, "steps": 3, "positives": 10, "lam_inv": 0.6, "inv_warmup_epochs": 10},
        "clever": {"probe_train": 5000, "probe_test": 2500},
        "clever-nuisance": {"probe_train": 5000, "probe_test": 2500},
    },
    # A bank-based method learns an item only when it revisits it, so InvP trains on 5k contents
    # for 40 epochs (760 one-view steps, chosen on validation contents) with the BatchNorm ConvNet.
    train_by_method={
        "invprop": {"n_contents": 5000, "epochs": 40},
        # SimCLR/InvCLR: a GroupNorm ConvNet (samples stay independent, so the penalty can be
        # computed on a subset of items in its own forward pass, and train-mode features equal
        # eval-mode ones; on validation it beat both the norm-free and the BatchNorm ConvNet by
        # far) and 16 epochs (1,248 steps): 3-4 minutes per run on one core (RESULTS.md).
        "simclr": _SIMCLR_QUICK,
        "invclr": _SIMCLR_QUICK,
        # CLeVER is SimCLR plus a split and two terms: the same encoder and budget keep them comparable.
        "clever": _SIMCLR_QUICK,
        "clever-nuisance": _SIMCLR_QUICK,
    },
)

PRESETS: dict[str, Preset] = {p.name: p for p in (PAPER, CPU_QUICK)}


def available_presets() -> tuple[str, ...]:
    return tuple(sorted(PRESETS))


def get_preset(name: str) -> Preset:
    """The preset called ``name``. Raises ValueError with a did-you-mean hint if unknown."""
    if name not in PRESETS:
        raise unknown_name("preset", name, PRESETS)
    return PRESETS[name]

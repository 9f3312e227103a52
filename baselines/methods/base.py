"""The interface every training method implements, and the per-step context the trainer hands it."""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

import torch
from torch import nn

from spirograph import FactorSpace, Spirograph
from spirograph._validate import bad_value, check_int, unknown_name


@dataclass
class MethodConfig:
    """Base of every method's config: a dataclass whose ``validate`` raises one clear ValueError."""

    def validate(self) -> "MethodConfig":
        """Check every field; return ``self``. Subclasses extend this (call ``super().validate()``)."""
        return self

    @classmethod
    def from_overrides(cls, overrides: Mapping[str, Any] | None = None) -> "MethodConfig":
        """Defaults updated by ``overrides``; unknown keys raise with a did-you-mean hint."""
        fields = {f.name for f in dataclasses.fields(cls)}
        for key in overrides or {}:
            if key not in fields:
                raise unknown_name(f"{cls.__name__} field", key, fields)
        return cls(**dict(overrides or {})).validate()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class StepContext:
    """Everything one training step sees on one rank.

    Attributes:
        images: rendered views (k, n, 3, R, R), k = ``Method.views_per_item``.
        nuisance: their nuisance factors (k, n, n_nuisance); requires grad when the method sets
            ``needs_nuisance_grad`` (the images are then differentiable with respect to it).
        content: content factors of the n items (n, n_content).
        indices: indices of the n items in the fixed training set (n,), int64.
        step: 0-based global step; ``total_steps``: steps in the whole run; ``epoch``: 0-based.
        generator: a torch.Generator on the training device for the method's own random draws.
        spirograph: the generator that rendered the views (nuisance prior, rendering options).
        rank, world_size: position in the process group (0, 1 without one).
    """

    images: torch.Tensor
    nuisance: torch.Tensor
    content: torch.Tensor
    indices: torch.Tensor
    step: int
    total_steps: int
    epoch: int
    generator: torch.Generator
    spirograph: Spirograph
    rank: int = 0
    world_size: int = 1

    @property
    def progress(self) -> float:
        """Fraction of training completed before this step, in [0, 1)."""
        return self.step / max(self.total_steps, 1)


class Method(nn.Module, abc.ABC):
    """A contrastive training method: its modules (encoder + heads), config and training step.

    Subclasses set ``name``, ``Config`` (a ``MethodConfig`` dataclass), optionally
    ``views_per_item`` and ``needs_nuisance_grad``, and implement ``build`` and ``training_step``.
    State that must survive a checkpoint (memory banks, EMA teachers) is registered as buffers or
    submodules so it lives in ``state_dict``.

    Args:
        encoder: backbone mapping images (B, 3, R, R) to representations (B, encoder.out_dim).
        config: an instance of ``Config`` (validated here).
        n_items: size of the fixed training set (for per-item state such as memory banks).
        space: the factor space the training views are rendered from; heads and buffers that
            depend on the number of content or nuisance factors are sized from it (default: the
            default roles, ``FactorSpace()``).
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type[MethodConfig]] = MethodConfig
    views_per_item: ClassVar[int] = 2
    needs_nuisance_grad: ClassVar[bool] = False
    uses_nuisance_labels: ClassVar[bool] = False  # disclosed in results: does training read α?

    def __init__(self, encoder: nn.Module, config: MethodConfig, *, n_items: int, space: FactorSpace | None = None) -> None:
        super().__init__()
        if not isinstance(config, self.Config):
            raise bad_value("config", type(config).__name__, f"a {self.Config.__name__}")
        if not hasattr(encoder, "out_dim"):
            raise bad_value("encoder", type(encoder).__name__, "an nn.Module with an integer attribute out_dim")
        if space is not None and not isinstance(space, FactorSpace):
            raise bad_value("space", type(space).__name__, "a FactorSpace")
        self.config = config.validate()
        self.encoder = encoder
        self.n_items = check_int("n_items", n_items, 1)
        self.space = FactorSpace() if space is None else space
        self.build()

    def check_space(self, spirograph: Spirograph) -> None:
        """Raise ValueError unless ``spirograph`` renders from factors with this method's content/nuisance roles."""
        roles = (tuple(spirograph.space.content), tuple(spirograph.space.nuisance))
        if roles != (tuple(self.space.content), tuple(self.space.nuisance)):
            raise bad_value(
                "spirograph.space", f"content {roles[0]}, nuisance {roles[1]}",
                f"the roles the method was built for (content {self.space.content}, nuisance {self.space.nuisance})",
            )

    def build(self) -> None:
        """Create heads and state from ``self.config``, ``self.encoder.out_dim`` and ``self.space``."""

    @abc.abstractmethod
    def training_step(self, ctx: StepContext) -> dict[str, Any]:
        """Compute the loss of one step.

        Returns:
            dict with ``loss`` (scalar tensor to back-propagate) and any scalar logs (floats or
            0-d tensors) that go to the metrics log.
        """

    def forward(self, ctx: StepContext) -> dict[str, Any]:
        # DistributedDataParallel synchronises gradients of whatever its forward computes.
        return self.training_step(ctx)

    @torch.no_grad()
    def after_step(self, ctx: StepContext, outputs: Mapping[str, Any]) -> None:
        """Hook run after the optimiser step (memory-bank or EMA updates). Default: nothing."""

    @torch.no_grad()
    def final_report(self, spirograph: Spirograph) -> dict[str, float]:
        """Method-specific evaluation after training (rank 0; written to ``method_report.json``). Default: none."""
        return {}

    def disclosures(self) -> dict[str, Any]:
        """What a leaderboard entry must disclose about how this encoder was trained."""
        return {"method": self.name, "uses_nuisance_labels": self.uses_nuisance_labels, "config": self.config.to_dict()}

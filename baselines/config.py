"""The trainer's configuration: data, encoder, optimiser, schedule and bookkeeping (PROTOCOL.md §2)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from spirograph._validate import bad_value, check_choice, check_int, check_positive_float, unknown_name
from spirograph.generators import get as get_generator

from .encoders import ENCODERS
from .optim import LR_SCHEDULES

OPTIMIZERS = ("lars", "sgd", "adamw")
SCHEDULE_UNITS = ("epoch", "step")


@dataclass
class TrainConfig:
    """Settings of one training run (method settings live in the method's own config).

    Attributes:
        encoder: "resnet18" or "convnet"; ``encoder_kwargs`` go to its constructor.
        n_contents: size of the fixed training set of content vectors (paper: 100,000).
        data_seed: seed of the training contents (stream ``baselines/train``).
        batch_size: global batch (items per step over all ranks; paper: 512); ≥ 2.
        drop_last: False (paper) ends each epoch with a partial batch of the remaining
            n_contents mod batch_size items (100k/512: 195 full batches and one of 160, 196 steps);
            True drops those items from the epoch (⌊n_contents / batch_size⌋ steps).
        epochs: passes over the training set of ``steps_per_epoch`` steps each.
        max_steps: stop after this many steps (None: the whole schedule); the schedule is unchanged.
        optimizer: "lars" (paper), "sgd" or "adamw".
        base_lr: learning rate per 256 items; the lr is base_lr·batch_size/256 (paper: 1.5 → 3.0).
        momentum, weight_decay, trust_coefficient: optimiser settings (paper: 0.9, 1e-6, 1e-3).
        warmup_epochs: linear warm-up length W in epochs (paper: 10).
        lr_schedule: with u the scheduler unit and T the units of the whole run (``schedule_units``):
            "cosine-ramp" (paper, the original code's CosineAnnealingWithLinearRampLR):
            lr_u = lr·min(½(1 + cos(π·u/T)), (u + 1)/W); "warmup-cosine": linear warm-up from
            0.001·lr over W units, then cosine to 0 over the remaining T − W units.
        schedule_unit: "epoch" (paper: the lr changes once per epoch) or "step".
        generator: the registered generator whose views are trained on (default "spirograph";
            run records without one are Spirograph's).
        resolution: image side R (paper: 32).
        normalize: Spirograph's row or image normalisation (paper: "row"); other generators
            leave it at "row" and take their render options from ``render``.
        render: further render options of the generator (default: its defaults).
        checkpoint_every: steps between checkpoints (a checkpoint is also written at the end).
        log_every: steps between metrics-log lines.
    """

    encoder: str = "resnet18"
    encoder_kwargs: dict = field(default_factory=dict)
    n_contents: int = 100_000
    data_seed: int = 0
    batch_size: int = 512
    drop_last: bool = False
    epochs: int = 50
    max_steps: int | None = None
    optimizer: str = "lars"
    base_lr: float = 1.5
    momentum: float = 0.9
    weight_decay: float = 1e-6
    trust_coefficient: float = 1e-3
    warmup_epochs: float = 10
    lr_schedule: str = "cosine-ramp"
    schedule_unit: str = "epoch"
    generator: str = "spirograph"
    resolution: int = 32
    normalize: str = "row"
    render: dict = field(default_factory=dict)
    checkpoint_every: int = 500
    log_every: int = 10

    def validate(self) -> "TrainConfig":
        """Check every field; return ``self``. Raises ValueError naming the field."""
        if self.encoder not in ENCODERS:
            raise unknown_name("encoder", self.encoder, ENCODERS)
        if not isinstance(self.encoder_kwargs, dict):
            raise bad_value("encoder_kwargs", self.encoder_kwargs, "a dict of keyword arguments")
        self.n_contents = check_int("n_contents", self.n_contents, 2)
        self.data_seed = check_int("data_seed", self.data_seed, 0)
        self.batch_size = check_int("batch_size", self.batch_size, 2)
        if self.batch_size > self.n_contents:
            raise bad_value("batch_size", self.batch_size, f"at most n_contents ({self.n_contents})")
        if not isinstance(self.drop_last, bool):
            raise bad_value("drop_last", self.drop_last, "true or false")
        if not self.drop_last and self.n_contents % self.batch_size == 1:
            # A one-item batch has no negative for NT-Xent and no BatchNorm statistics.
            raise bad_value("drop_last", self.drop_last, f"true when n_contents mod batch_size is 1 ({self.n_contents} mod {self.batch_size})")
        self.epochs = check_int("epochs", self.epochs, 1)
        if self.max_steps is not None:
            self.max_steps = check_int("max_steps", self.max_steps, 1)
        self.optimizer = check_choice("optimizer", self.optimizer, OPTIMIZERS)
        self.base_lr = check_positive_float("base_lr", self.base_lr)
        for name in ("momentum", "weight_decay", "warmup_epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise bad_value(name, value, "a finite number >= 0")
        if self.momentum >= 1:
            raise bad_value("momentum", self.momentum, "a number in [0, 1)")
        self.trust_coefficient = check_positive_float("trust_coefficient", self.trust_coefficient)
        if self.warmup_epochs >= self.epochs:
            raise bad_value("warmup_epochs", self.warmup_epochs, f"fewer than epochs ({self.epochs})")
        self.lr_schedule = check_choice("lr_schedule", self.lr_schedule, tuple(LR_SCHEDULES))
        self.schedule_unit = check_choice("schedule_unit", self.schedule_unit, SCHEDULE_UNITS)
        spec = get_generator(self.generator)
        if not isinstance(self.render, dict):
            raise bad_value("render", self.render, "a dict of render options")
        if spec.name != "spirograph" and self.normalize != "row":
            raise bad_value("normalize", self.normalize, f"'row' (Spirograph's option) for generator {spec.name!r}; its options go in 'render'")
        options = self.render_options()  # the generator's one validator
        self.resolution = options["resolution"]
        if spec.name == "spirograph":
            self.normalize = options["normalize"]
        self.checkpoint_every = check_int("checkpoint_every", self.checkpoint_every, 1)
        self.log_every = check_int("log_every", self.log_every, 1)
        return self

    def render_options(self) -> dict[str, Any]:
        """The complete render options of the training views, validated by the generator."""
        options = {"resolution": self.resolution, **self.render}
        if self.generator == "spirograph":
            options.setdefault("normalize", self.normalize)
        return get_generator(self.generator).render_options(options)

    @property
    def steps_per_epoch(self) -> int:
        """⌊n_contents / batch_size⌋ with ``drop_last``, else ⌈n_contents / batch_size⌉."""
        return self.n_contents // self.batch_size if self.drop_last else -(-self.n_contents // self.batch_size)

    def batch_size_at(self, step: int) -> int:
        """Global items of ``step``: ``batch_size``, or the remainder on the last step of an epoch."""
        position = step % self.steps_per_epoch
        return min(self.batch_size, self.n_contents - position * self.batch_size)

    def check_world_size(self, world_size: int) -> None:
        """Raise ValueError unless every step's batch splits into equal shards of >= 1 item over ``world_size`` ranks."""
        if self.batch_size % world_size:
            raise bad_value("batch_size", self.batch_size, f"a multiple of the number of processes ({world_size})")
        last = self.batch_size_at(self.steps_per_epoch - 1)
        if last % world_size:
            raise bad_value(
                "drop_last", self.drop_last,
                f"true, or n_contents with a last partial batch ({last} items) that is a multiple of the number of processes ({world_size})",
            )

    @property
    def total_steps(self) -> int:
        """Steps actually run: the full schedule, or ``max_steps`` if smaller."""
        full = self.epochs * self.steps_per_epoch
        return full if self.max_steps is None else min(full, self.max_steps)

    @property
    def lr(self) -> float:
        """Peak learning rate: base_lr·batch_size/256 (linear scaling, PROTOCOL.md §2)."""
        return self.base_lr * self.batch_size / 256

    def schedule_units(self) -> tuple[int, int]:
        """``(warmup, total)`` in scheduler units (epochs or steps)."""
        if self.schedule_unit == "epoch":
            return round(self.warmup_epochs), self.epochs
        return round(self.warmup_epochs * self.steps_per_epoch), self.epochs * self.steps_per_epoch

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_overrides(cls, base: "TrainConfig", overrides: Mapping[str, Any]) -> "TrainConfig":
        """A copy of ``base`` with ``overrides`` applied; unknown keys raise with a did-you-mean hint."""
        fields = {f.name for f in dataclasses.fields(cls)}
        for key in overrides:
            if key not in fields:
                raise unknown_name("training setting", key, fields)
        return dataclasses.replace(base, **dict(overrides)).validate()

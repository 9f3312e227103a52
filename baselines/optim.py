"""Optimiser and learning-rate schedules of PROTOCOL.md §2: SGD with LARS; cosine with a linear ramp (paper) or warm-up then cosine."""

from __future__ import annotations

import math
from typing import Iterable

import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, LambdaLR, LinearLR, LRScheduler, SequentialLR

from spirograph._validate import bad_value, check_int

WARMUP_START = 1e-3  # LinearLR needs a positive start factor; the first unit runs at 0.1% of the lr


def _check_nonneg(argument: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise bad_value(argument, value, "a finite number >= 0")
    return float(value)


class LARS(torch.optim.Optimizer):
    """SGD with momentum and layer-wise adaptive rate scaling (You, Gitman & Ginsburg 2017).

    For every parameter tensor (weights, biases and BatchNorm parameters alike, as in PROTOCOL.md §2):

        d = g + wd·p,   ratio = η·‖p‖ / (‖g‖ + wd·‖p‖)   (1 where ‖p‖ or ‖g‖ is 0),
        v ← μ·v + ratio·d,   p ← p − lr·v.

    Args:
        params: parameters or parameter groups.
        lr: learning rate (paper: 1.5·batch/256).
        momentum: μ (paper: 0.9).
        weight_decay: wd (paper: 1e-6).
        trust_coefficient: η (paper: 1e-3).
    """

    def __init__(
        self, params: Iterable, lr: float, momentum: float = 0.9, weight_decay: float = 0.0, trust_coefficient: float = 1e-3
    ) -> None:
        lr = _check_nonneg("lr", lr)
        if not 0 <= _check_nonneg("momentum", momentum) < 1:
            raise bad_value("momentum", momentum, "a number in [0, 1)")
        _check_nonneg("weight_decay", weight_decay)
        if _check_nonneg("trust_coefficient", trust_coefficient) <= 0:
            raise bad_value("trust_coefficient", trust_coefficient, "a number > 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, trust_coefficient=trust_coefficient))

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            wd, mu, eta = group["weight_decay"], group["momentum"], group["trust_coefficient"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                p_norm, g_norm = torch.linalg.vector_norm(p), torch.linalg.vector_norm(g)
                d = g.add(p, alpha=wd) if wd else g.clone()
                ratio = torch.where((p_norm > 0) & (g_norm > 0), eta * p_norm / (g_norm + wd * p_norm), torch.ones_like(p_norm))
                d.mul_(ratio)
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = d
                else:
                    state["momentum_buffer"].mul_(mu).add_(d)
                p.add_(state["momentum_buffer"], alpha=-group["lr"])
        return loss


def build_optimizer(name: str, params: Iterable, *, lr: float, momentum: float, weight_decay: float, trust_coefficient: float):
    """``"lars"`` (PROTOCOL.md §2), ``"sgd"`` (momentum SGD) or ``"adamw"``."""
    if name == "lars":
        return LARS(params, lr=lr, momentum=momentum, weight_decay=weight_decay, trust_coefficient=trust_coefficient)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise bad_value("optimizer", name, "one of 'lars', 'sgd', 'adamw'")


def warmup_cosine(optimizer: torch.optim.Optimizer, *, warmup: int, total: int) -> LRScheduler:
    """Linear warm-up over ``warmup`` units, then cosine annealing to 0 at ``total`` units.

    One unit is one ``scheduler.step()`` (an epoch in the paper, a step in short runs). The
    learning rate at unit u < warmup is lr·(WARMUP_START + (1 − WARMUP_START)·u/warmup).
    """
    total = check_int("total", total, 1)
    warmup = check_int("warmup", warmup, 0)
    if warmup >= total:
        raise bad_value("warmup", warmup, f"fewer units than the whole schedule ({total})")
    cosine = CosineAnnealingLR(optimizer, T_max=total - warmup, eta_min=0.0)
    if warmup == 0:
        return cosine
    linear = LinearLR(optimizer, start_factor=WARMUP_START, end_factor=1.0, total_iters=warmup)
    return SequentialLR(optimizer, [linear, cosine], milestones=[warmup])


def cosine_ramp_factor(unit: int, *, warmup: int, total: int) -> float:
    """The original code's factor at unit u: min(½(1 + cos(π·u/total)), (u + 1)/warmup); no ramp if warmup is 0."""
    cosine = 0.5 * (1.0 + math.cos(math.pi * unit / total))
    return cosine if warmup == 0 else min(cosine, (unit + 1) / warmup)


def cosine_ramp(optimizer: torch.optim.Optimizer, *, warmup: int, total: int) -> LRScheduler:
    """The paper's schedule (the original code's CosineAnnealingWithLinearRampLR), stepped once per unit.

    The learning rate at unit u is lr·min(½(1 + cos(π·u/total)), (u + 1)/warmup): a ramp from
    lr/warmup that meets the cosine over the *whole* run, not a cosine that starts after the
    warm-up (``warmup_cosine``); mid-run it is lower than that one (PROTOCOL.md §2).
    """
    total = check_int("total", total, 1)
    warmup = check_int("warmup", warmup, 0)
    if warmup >= total:
        raise bad_value("warmup", warmup, f"fewer units than the whole schedule ({total})")
    return LambdaLR(optimizer, lambda unit: cosine_ramp_factor(unit, warmup=warmup, total=total))


LR_SCHEDULES = {"cosine-ramp": cosine_ramp, "warmup-cosine": warmup_cosine}


def build_schedule(name: str, optimizer: torch.optim.Optimizer, *, warmup: int, total: int) -> LRScheduler:
    """The schedule ``name`` ("cosine-ramp" or "warmup-cosine", ``TrainConfig.lr_schedule``) over ``total`` units."""
    if name not in LR_SCHEDULES:
        raise bad_value("lr_schedule", name, "one of " + ", ".join(repr(k) for k in LR_SCHEDULES))
    return LR_SCHEDULES[name](optimizer, warmup=warmup, total=total)

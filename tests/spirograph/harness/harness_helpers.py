"""Helpers of the harness tests: a tiny suite and a small deterministic encoder."""

from __future__ import annotations

import torch
from torch import nn

from spirograph.harness.suites import Suite


def tiny_suite(**overrides) -> Suite:
    """A suite small enough for CI: hundreds of items, M up to 10, 200 bootstrap resamples."""
    settings = dict(
        name="tiny-test", version=1, seed=7, n_train=400, n_test=200, n_averaging_train=120, n_averaging_test=60,
        n_robustness_train=120, n_robustness_test=60, averaging_draws=(1, 2, 10), label_fractions=(0.1, 1.0),
        knn_neighbours=(1, 5), bootstrap_resamples=200, batch_size=200, n_invariance_test=30, n_sensitivity=20, n_worst_case=20,
        worst_case_draws=3, worst_case_restarts=2, worst_case_steps=2, worst_case_step_size=1.0,
    )
    settings.update(overrides)
    return Suite(**settings)


class SmallNet(nn.Module):
    """A cheap deterministic ConvNet (8-16 channels) for tests that need real image features."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(2), nn.Flatten(),
        )
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=generator) * 0.3)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


def set_mean_r2(data: dict, value: float, ci: list[float]) -> dict:
    """Give result mapping ``data`` a linear mean R² of ``value`` that its per-factor R² agree with.

    Every per-factor R² is set to ``value`` (with interval ``ci``), so the derived mean stays
    consistent (the validator recomputes it). Returns ``data``.
    """
    linear = data["metrics"]["linear"]
    for entry in linear["per_factor"].values():
        entry["r2"] = {"value": value, "ci": list(ci)}
    linear["mean_r2"] = {"value": value, "ci": list(ci)}
    return data

"""Bootstrap metrics against direct formulas."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spirograph.harness.metrics import Bootstrap, item_mean, regression, shift_curves


def data(n=500, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.rand(n, 2, generator=g, dtype=torch.float64) * torch.tensor([3.0, 0.5], dtype=torch.float64)
    p = y + 0.1 * torch.randn(n, 2, generator=g, dtype=torch.float64)
    return p, y


def test_point_values_match_formulas():
    p, y = data()
    out = regression(p, y, ["a", "b"], Bootstrap(200, 0.95, 0))
    mse = (p - y).pow(2).mean(0)
    r2 = 1 - (p - y).pow(2).sum(0) / (y - y.mean(0)).pow(2).sum(0)
    assert out["per_factor"]["a"]["mse"]["value"] == pytest.approx(float(mse[0]), rel=1e-12)
    assert out["per_factor"]["b"]["r2"]["value"] == pytest.approx(float(r2[1]), rel=1e-12)
    assert out["mean_mse"]["value"] == pytest.approx(float(mse.mean()), rel=1e-12)
    assert out["mean_r2"]["value"] == pytest.approx(float(r2.mean()), rel=1e-12)
    for entry in (out["mean_mse"], out["mean_r2"], out["per_factor"]["a"]["r2"]):
        low, high = entry["ci"]
        assert low <= entry["value"] <= high and low < high


def test_interval_width_shrinks_with_more_items():
    widths = []
    for n in (200, 5000):
        p, y = data(n)
        ci = regression(p, y, ["a", "b"], Bootstrap(300, 0.95, 0))["mean_mse"]["ci"]
        widths.append(ci[1] - ci[0])
    assert widths[1] < widths[0] / 3


def test_seeded_and_repeatable():
    p, y = data()
    a = regression(p, y, ["a", "b"], Bootstrap(200, 0.95, 3))
    b = regression(p, y, ["a", "b"], Bootstrap(200, 0.95, 3))
    c = regression(p, y, ["a", "b"], Bootstrap(200, 0.95, 4))
    assert a == b and a != c


def test_item_mean_covers_the_mean():
    values = np.random.default_rng(0).exponential(size=1000)
    out = item_mean(values, Bootstrap(500, 0.9, 0))
    assert out["value"] == pytest.approx(values.mean())
    assert out["ci"][0] < 1.0 < out["ci"][1]


def test_shift_curves_relative_degradation():
    rng = np.random.default_rng(0)
    reference = rng.exponential(size=400)
    errors = {"same": [reference.copy(), reference.copy()], "worse": [2 * reference, 4 * reference]}
    out = shift_curves(errors, reference, Bootstrap(200, 0.95, 0))
    assert out["same"]["summary"]["value"] == pytest.approx(0.0, abs=1e-12)
    # (2 − 1) and (4 − 1) relative increases, exactly, whatever the resample.
    assert out["worse"]["summary"]["value"] == pytest.approx(2.0)
    assert out["worse"]["summary"]["ci"] == pytest.approx([2.0, 2.0])
    assert out["summary"]["value"] == pytest.approx(1.0)
    assert out["reference"]["value"] == pytest.approx(reference.mean())
    assert out["worse"]["mse"][1]["value"] == pytest.approx(4 * reference.mean())


def test_bootstrap_validates():
    with pytest.raises(ValueError, match="resamples"):
        Bootstrap(10, 0.95, 0)

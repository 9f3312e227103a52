"""Probes: closed-form ridge against L-BFGS and plain references; tuned ridge; kNN."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spirograph.harness.probes import fit_knn, fit_lbfgs, fit_ridge, fit_ridge_tuned, ridge_objective


def problem(n=300, d=12, k=3, noise=0.1, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64) + 2.0
    w = torch.randn(d, k, generator=g, dtype=torch.float64)
    y = x @ w + 0.5 + noise * torch.randn(n, k, generator=g, dtype=torch.float64)
    return x, y


def test_closed_form_is_the_minimiser():
    x, y = problem()
    probe = fit_ridge(x, y, 1e-3)
    best = ridge_objective(x, y, probe, 1e-3)
    # The gradient of J vanishes at the closed-form solution.
    w = probe.weight.clone().requires_grad_(True)
    b = probe.bias.clone().requires_grad_(True)
    loss = (x @ w + b - y).pow(2).mean() + 1e-3 * w.pow(2).sum()
    loss.backward()
    assert w.grad.abs().max() < 1e-10 and b.grad.abs().max() < 1e-10
    lbfgs = fit_lbfgs(x, y, 1e-3, steps=500)
    assert ridge_objective(x, y, lbfgs, 1e-3) == pytest.approx(best, rel=1e-8)


def test_zero_ridge_is_least_squares():
    x, y = problem()
    probe = fit_ridge(x, y, 0.0)
    design = np.hstack([x.numpy(), np.ones((x.shape[0], 1))])
    solution = np.linalg.lstsq(design, y.numpy(), rcond=None)[0]
    np.testing.assert_allclose(probe.weight.numpy(), solution[:-1], atol=1e-8)
    np.testing.assert_allclose(probe.bias.numpy(), solution[-1], atol=1e-8)


def test_dual_form_matches_primal():
    x, y = problem(n=40, d=60)
    probe = fit_ridge(x, y, 1e-2)  # d > n: dual (n, n) system
    xc, yc = x - x.mean(0), y - y.mean(0)
    alpha = 40 * 3 * 1e-2
    primal = torch.linalg.solve(xc.T @ xc + alpha * torch.eye(60, dtype=torch.float64), xc.T @ yc)
    torch.testing.assert_close(probe.weight, primal, atol=1e-9, rtol=1e-9)


def test_constant_features_predict_the_mean():
    x = torch.ones(50, 4)
    y = torch.arange(100, dtype=torch.float64).reshape(50, 2)
    probe = fit_ridge(x, y)
    torch.testing.assert_close(probe.predict(x[:3]), y.mean(0).expand(3, 2))


def test_tuned_ridge_prefers_regularisation_when_overfitting():
    x, y = problem(n=120, d=100, noise=3.0)
    _, chosen, scores = fit_ridge_tuned(x, y, n_validation=30)
    assert chosen > 1e-8 and len(scores) == 9
    x, y = problem(n=2000, d=5, noise=0.01)
    _, chosen, _ = fit_ridge_tuned(x, y, n_validation=400)
    assert chosen <= 1e-4


def test_knn_recovers_a_smooth_function():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2000, 2, generator=g)
    y = torch.sin(3 * x).double()
    probe, k, scores = fit_knn(x, y, n_validation=400, neighbours=(1, 5, 20))
    assert k in (1, 5, 20) and len(scores) == 3
    test = torch.rand(200, 2, generator=g)
    assert (probe.predict(test) - torch.sin(3 * test).double()).pow(2).mean() < 1e-3


def test_bad_shapes():
    with pytest.raises(ValueError, match="same n"):
        fit_ridge(torch.ones(5, 2), torch.ones(4, 1))
    with pytest.raises(ValueError, match="ridge"):
        fit_ridge(torch.randn(5, 2), torch.ones(5, 1), -1.0)

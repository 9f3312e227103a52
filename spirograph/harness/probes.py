"""Probes fitted on frozen features: closed-form ridge, the paper's L-BFGS, and kNN regression.

The linear probe minimises the paper's objective (PROTOCOL.md §5)

    J(W, c) = mean over items and targets of (x·W + c − y)²  +  λ·‖W‖²_F      (bias c not penalised)

whose minimiser solves (X̃ᵀX̃ + n·k·λ·I) W = X̃ᵀỸ with centred X̃, Ỹ (n items, k targets) and
c = ȳ − x̄·W. Solving it in float64 with a Cholesky factorisation gives the optimum that 500 steps
of full-batch L-BFGS approach, in a fraction of the time (benchmarks/test_bench_harness.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._validate import bad_value
from .suites import PAPER_RIDGE, RIDGE_GRID


@dataclass(frozen=True)
class LinearProbe:
    """An affine map from features (n, D) to targets (n, k); parameters in float64."""

    weight: torch.Tensor  # (D, k)
    bias: torch.Tensor  # (k,)

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """Predictions (n, k) in float64 for features (n, D)."""
        return features.double() @ self.weight + self.bias


def ridge_objective(features: torch.Tensor, targets: torch.Tensor, probe: LinearProbe, ridge: float) -> float:
    """The paper's objective J(W, c) (module docstring) of ``probe`` on (n, D) features, (n, k) targets."""
    residual = probe.predict(features) - targets.double()
    return float(residual.pow(2).mean() + ridge * probe.weight.pow(2).sum())


def _check(features: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if features.ndim != 2 or targets.ndim != 2 or features.shape[0] != targets.shape[0]:
        raise bad_value("features/targets shapes", (tuple(features.shape), tuple(targets.shape)), "(n, D) and (n, k) with the same n")
    if features.shape[0] < 2:
        raise bad_value("features.shape[0]", features.shape[0], "at least 2 items")
    return features.double(), targets.double()


def fit_ridge(features: torch.Tensor, targets: torch.Tensor, ridge: float = PAPER_RIDGE) -> LinearProbe:
    """Closed-form minimiser of the paper's objective with weight ``ridge`` (float64 Cholesky).

    Uses the (D, D) normal equations when D <= n and the (n, n) dual form otherwise.

    Args:
        features: (n, D).
        targets: (n, k).
        ridge: λ >= 0 of the objective; 0 falls back to the minimum-norm least-squares solution.

    Returns:
        The fitted ``LinearProbe``.
    """
    x, y = _check(features, targets)
    if not ridge >= 0:
        raise bad_value("ridge", ridge, "a number >= 0")
    x_mean, y_mean = x.mean(dim=0), y.mean(dim=0)
    xc, yc = x - x_mean, y - y_mean
    n, dim = xc.shape
    alpha = n * y.shape[1] * ridge
    primal = dim <= n
    gram = xc.T @ xc if primal else xc @ xc.T
    rhs = xc.T @ yc if primal else yc
    solution = _solve_shifted(gram, rhs, alpha)
    weight = solution if primal else xc.T @ solution
    return LinearProbe(weight, y_mean - x_mean @ weight)


def _solve_shifted(gram: torch.Tensor, rhs: torch.Tensor, alpha: float) -> torch.Tensor:
    """Solve (gram + alpha·I) w = rhs for a symmetric positive semi-definite ``gram``."""
    shifted = gram.clone()
    shifted.diagonal().add_(alpha)
    factor, info = torch.linalg.cholesky_ex(shifted)
    if int(info) == 0 and alpha > 0:
        return torch.cholesky_solve(rhs, factor)
    # Singular (λ = 0, or rank-deficient features in rounding): the pseudo-inverse gives the
    # minimum-norm solution, the limit of the regularised optimum as λ → 0.
    return torch.linalg.pinv(shifted, hermitian=True) @ rhs


def fit_ridge_tuned(
    features: torch.Tensor, targets: torch.Tensor, n_validation: int, grid: tuple[float, ...] = RIDGE_GRID
) -> tuple[LinearProbe, float, list[float]]:
    """Ridge with λ chosen on the last ``n_validation`` items, then refitted on all items.

    The Gram matrix of the fit part is formed once and factorised once per λ (a Cholesky per λ
    is several times cheaper than one eigendecomposition for a few candidates); the λ with the
    lowest validation MSE wins (the smallest λ on ties).

    Returns:
        ``(probe, chosen λ, validation MSE for each λ of grid)``.
    """
    x, y = _check(features, targets)
    n_fit = x.shape[0] - n_validation
    if n_validation < 1 or n_fit < 2:
        raise bad_value("n_validation", n_validation, f"between 1 and {x.shape[0] - 2}")
    x_fit, y_fit, x_val, y_val = x[:n_fit], y[:n_fit], x[n_fit:], y[n_fit:]
    x_mean, y_mean = x_fit.mean(dim=0), y_fit.mean(dim=0)
    xc, yc = x_fit - x_mean, y_fit - y_mean
    primal = xc.shape[1] <= n_fit
    gram = xc.T @ xc if primal else xc @ xc.T
    rhs = xc.T @ yc if primal else yc
    val_centred = x_val - x_mean
    scores = []
    for ridge in grid:
        solution = _solve_shifted(gram, rhs, n_fit * y.shape[1] * ridge)
        weight = solution if primal else xc.T @ solution
        scores.append(float((val_centred @ weight + y_mean - y_val).pow(2).mean()))
    best = min(range(len(grid)), key=lambda i: (scores[i], i))
    return fit_ridge(x, y, grid[best]), float(grid[best]), scores


def fit_lbfgs(
    features: torch.Tensor, targets: torch.Tensor, ridge: float = PAPER_RIDGE, steps: int = 500, *,
    inner: int = 20, precondition: bool = True,
) -> LinearProbe:
    """The paper's probe: ``steps`` full-batch L-BFGS steps on the objective J (float64).

    A step is one ``torch.optim.LBFGS.step`` call of at most ``inner`` iterations (torch's default
    20), as a training loop calling the optimiser 500 times does; a converged step returns after
    one evaluation.

    With ``precondition`` (default) the optimiser works on standardised features
    z = (x − x̄)/s with weights V = diag(s)·W and the penalty written back in terms of W, an exact
    reparametrisation: the objective is J itself, only far better conditioned, so 500 steps
    reach its optimum. Without it, L-BFGS runs on the raw features as in the original code and may
    stop short of the optimum on ill-conditioned features (benchmarks/README.md).
    Starts from zero weights and bias, with a strong-Wolfe line search.
    """
    x, y = _check(features, targets)
    if precondition:
        mean = x.mean(dim=0)
        scale = x.std(dim=0)
        scale = torch.where(scale > 1e-12, scale, torch.ones_like(scale))
        z = (x - mean) / scale
    else:
        mean = torch.zeros(x.shape[1], dtype=torch.float64)
        scale = torch.ones(x.shape[1], dtype=torch.float64)
        z = x
    inverse_scale = (1.0 / scale).unsqueeze(1)
    weight = torch.zeros(x.shape[1], y.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(y.shape[1], dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS(
        [weight, bias], lr=1.0, max_iter=inner, history_size=100, line_search_fn="strong_wolfe",
        tolerance_grad=1e-10, tolerance_change=1e-12,
    )

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = (z @ weight + bias - y).pow(2).mean() + ridge * (weight * inverse_scale).pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        for _ in range(steps):
            optimiser.step(closure)
    raw_weight = weight.detach() * inverse_scale
    return LinearProbe(raw_weight, bias.detach() - mean @ raw_weight)


@dataclass(frozen=True)
class KNNProbe:
    """k-nearest-neighbour regression on standardised features (Euclidean distance, uniform weights)."""

    features: torch.Tensor  # (n, D) standardised training features, float32
    targets: torch.Tensor  # (n, k) float64
    mean: torch.Tensor  # (D,)
    scale: torch.Tensor  # (D,)
    neighbours: int

    def predict(self, features: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
        """Mean target of the ``neighbours`` nearest training items: (m, k) float64."""
        return _knn_predict(self.features, self.targets, (features.float() - self.mean) / self.scale, self.neighbours, chunk)


def _knn_predict(train: torch.Tensor, targets: torch.Tensor, query: torch.Tensor, neighbours: int, chunk: int) -> torch.Tensor:
    out = []
    for lo in range(0, query.shape[0], chunk):
        distances = torch.cdist(query[lo : lo + chunk], train)
        index = distances.topk(neighbours, dim=1, largest=False, sorted=False).indices
        out.append(targets[index].mean(dim=1))
    return torch.cat(out)


def fit_knn(features: torch.Tensor, targets: torch.Tensor, n_validation: int, neighbours: tuple[int, ...]) -> tuple[KNNProbe, int, list[float]]:
    """kNN regression with k chosen on the last ``n_validation`` items (neighbours from the rest).

    Features are standardised per dimension with the training mean and standard deviation
    (constant dimensions are left unscaled), so no single feature dominates the distance.

    Returns:
        ``(probe over all items, chosen k, validation MSE for each k)``.
    """
    x, y = _check(features, targets)
    x = x.float()
    mean = x.mean(dim=0)
    scale = x.std(dim=0)
    scale = torch.where(scale > 1e-12, scale, torch.ones_like(scale))
    z = (x - mean) / scale
    n_fit = z.shape[0] - n_validation
    if n_validation < 1 or n_fit < max(neighbours):
        raise bad_value("n_validation", n_validation, f"between 1 and {z.shape[0] - max(neighbours)}")
    # One sorted top-k search for the largest k serves every candidate k.
    nearest = torch.cat([
        torch.cdist(z[n_fit + lo : n_fit + lo + 1024], z[:n_fit]).topk(max(neighbours), dim=1, largest=False, sorted=True).indices
        for lo in range(0, n_validation, 1024)
    ])
    scores = []
    for k in neighbours:
        predicted = y[:n_fit][nearest[:, :k]].mean(dim=1)
        scores.append(float((predicted - y[n_fit:]).pow(2).mean()))
    best = min(range(len(neighbours)), key=lambda i: (scores[i], i))
    return KNNProbe(z, y, mean, scale, int(neighbours[best])), int(neighbours[best]), scores

"""The six scoring tasks. Each reads features from a shared ``FeatureSource`` and returns metrics.

Targets are the raw content values (PROTOCOL.md §1: not standardised, so the paper's mean MSE is
dominated by ``m`` and ``b``); R² puts the factors on one scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from .._validate import check_choice, unknown_name
from ..seeding import uniform_at
from . import invariance as inv
from .features import DrawAverager, FeatureSource
from .metrics import Bootstrap, item_mean, regression, shift_curves
from .probes import LinearProbe, fit_knn, fit_lbfgs, fit_ridge, fit_ridge_tuned
from .result import TASK_NAMES
from .sensitivity import (
    NotDifferentiable,
    check_differentiable,
    derivative_norms,
    feature_function,
    jvp_mode,
    sensitivity_metrics,
    total_variance,
)
from .suites import PAPER_RIDGE, RIDGE_GRID, Suite, robustness_families
from .worst_case import Search, neighbourhood, worst_nuisance

SOLVERS = ("closed_form", "lbfgs")


@dataclass
class Context:
    """What every task needs: the features, the suite, the bootstrap, the probe solver.

    ``probes`` collects the probe settings each task used (stored in the result).
    """

    source: FeatureSource
    suite: Suite
    boot: Bootstrap
    tasks: tuple[str, ...]
    solver: str = "closed_form"
    probes: dict[str, Any] = field(default_factory=dict)
    _test_averager: DrawAverager | None = None
    _content_probe: LinearProbe | None = None

    @property
    def content_names(self) -> list[str]:
        return list(self.source.space.content)

    def fit(self, features: torch.Tensor, targets: torch.Tensor) -> LinearProbe:
        """The paper's probe (weight 1e-8) with the chosen solver."""
        if self.solver == "lbfgs":
            return fit_lbfgs(features, targets, PAPER_RIDGE)
        return fit_ridge(features, targets, PAPER_RIDGE)

    def single_draw(self, split: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Features and content of the first ``n`` items of ``split``, one nuisance draw each."""
        return self.source.features(split, n), self.source.content(split, n)

    def test_averager(self) -> DrawAverager:
        """The running average over nuisance draws of the test items, shared by feature averaging
        and invariance (it keeps every draw of the invariance items when invariance is scored)."""
        if self._test_averager is None:
            keep = self.suite.n_invariance_test if "invariance" in self.tasks else 0
            self._test_averager = DrawAverager(self.source, "test", self.suite.n_averaging_test, keep=keep)
        return self._test_averager

    def content_probe(self) -> LinearProbe:
        """The paper's content probe on single-draw training features (the ``linear`` task's), fitted once."""
        if self._content_probe is None:
            self._content_probe = self.fit(*self.single_draw("train", self.suite.n_train))
        return self._content_probe


def check_tasks(tasks: Any) -> tuple[str, ...]:
    """Validate a task selection (``None`` means all), in canonical order.

    Raises:
        ValueError: not a list of names, empty, or an unknown name (with a did-you-mean).
    """
    if tasks is None:
        return TASK_NAMES
    if isinstance(tasks, str):
        tasks = [tasks]
    try:
        chosen = list(tasks)
    except TypeError:
        raise ValueError(f"tasks={tasks!r}: expected a list of task names from {', '.join(TASK_NAMES)}") from None
    if not chosen:
        raise ValueError(f"tasks={tasks!r}: expected at least one of {', '.join(TASK_NAMES)}")
    for name in chosen:
        if name not in TASK_NAMES:
            raise unknown_name("task", name, TASK_NAMES)
    return tuple(t for t in TASK_NAMES if t in chosen)


def check_solver(solver: str) -> str:
    """``closed_form`` (default) or ``lbfgs`` (the paper's 500-step optimiser, for fidelity)."""
    return check_choice("solver", solver, SOLVERS)


def run_linear(ctx: Context) -> dict[str, Any]:
    """Task ``linear``: the paper's probe and a validation-tuned ridge probe, single nuisance draw."""
    suite = ctx.suite
    x_train, y_train = ctx.single_draw("train", suite.n_train)
    x_test, y_test = ctx.single_draw("test", suite.n_test)
    probe = ctx.content_probe()
    tuned, ridge, scores = fit_ridge_tuned(x_train, y_train, suite.n_validation, RIDGE_GRID)
    ctx.probes["linear"] = {"solver": ctx.solver, "ridge": PAPER_RIDGE}
    ctx.probes["linear_tuned"] = {"solver": "closed_form", "ridge": ridge, "grid": list(RIDGE_GRID), "validation_mse": scores,
                                  "n_validation": suite.n_validation}
    return {
        "linear": regression(probe.predict(x_test), y_test, ctx.content_names, ctx.boot),
        "linear_tuned": regression(tuned.predict(x_test), y_test, ctx.content_names, ctx.boot),
    }


def run_feature_averaging(ctx: Context) -> dict[str, Any]:
    """Task ``feature_averaging``: features averaged over M nuisance draws for train and test (PROTOCOL.md §4)."""
    suite = ctx.suite
    train = DrawAverager(ctx.source, "train", suite.n_averaging_train)
    test = ctx.test_averager()
    y_train = ctx.source.content("train", suite.n_averaging_train)
    y_test = ctx.source.content("test", suite.n_averaging_test)
    curve, last = [], None
    # Probes are fitted at each M as the draws stream in: no averaged features are kept.
    for m in suite.averaging_draws:
        probe = ctx.fit(train.advance_to(m), y_train)
        last = regression(probe.predict(test.advance_to(m)), y_test, ctx.content_names, ctx.boot)
        curve.append({"M": m, "mean_mse": last["mean_mse"], "mean_r2": last["mean_r2"]})
    ctx.probes["feature_averaging"] = {"solver": ctx.solver, "ridge": PAPER_RIDGE, "n_train": suite.n_averaging_train,
                                       "n_test": suite.n_averaging_test}
    return {"feature_averaging": {"curve": curve, f"M{suite.max_draws}": last}}


def run_robustness(ctx: Context) -> dict[str, Any]:
    """Task ``robustness``: frozen encoder, probe refitted and tested on each shifted nuisance space."""
    suite = ctx.suite
    n_train, n_test = suite.n_robustness_train, suite.n_robustness_test
    x_train, y_train = ctx.single_draw("train", n_train)
    x_test, y_test = ctx.single_draw("test", n_test)
    reference = _item_errors(ctx.fit(x_train, y_train), x_test, y_test)
    errors: dict[str, list[np.ndarray]] = {}
    levels: dict[str, list[float]] = {}
    families = robustness_families(suite.generator)
    for family, spec in families.items():
        errors[family], levels[family] = [], []
        for level in spec["levels"]:
            if level == 0.0:
                continue  # the unshifted space: the reference itself
            shift = (spec["target"], spec["shift"], float(level))
            xs_train = ctx.source.features("train", n_train, shift=shift, cache=False)
            xs_test = ctx.source.features("test", n_test, shift=shift, cache=False)
            errors[family].append(_item_errors(ctx.fit(xs_train, y_train), xs_test, y_test))
            levels[family].append(float(level))
    curves = shift_curves(errors, reference, ctx.boot)
    out: dict[str, Any] = {"unshifted": curves["reference"], "summary": curves["summary"]}
    for family in families:
        points = [{"level": 0.0, "mean_mse": curves["reference"]}]
        points += [{"level": lv, "mean_mse": m} for lv, m in zip(levels[family], curves[family]["mse"])]
        out[family] = {"curve": sorted(points, key=lambda p: p["level"]), "summary": curves[family]["summary"]}
    ctx.probes["robustness"] = {"solver": ctx.solver, "ridge": PAPER_RIDGE, "n_train": n_train, "n_test": n_test}
    return {"robustness": out}


def _item_errors(probe: LinearProbe, features: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
    """Per-item squared error averaged over targets: (n,) float64."""
    return (probe.predict(features) - targets.double()).pow(2).mean(dim=1).numpy()


def run_invariance(ctx: Context) -> dict[str, Any]:
    """Task ``invariance``: how much of the features is nuisance, in measures no invertible affine map of
    the features can move, beside nuisance decodability; the rest under ``diagnostics`` (PROTOCOL.md §5)."""
    suite = ctx.suite
    averager = ctx.test_averager()
    averager.advance_to(suite.max_draws)
    draws = averager.kept()  # (n_invariance_test, M, D)
    n, m, dim = draws.shape
    x_train, y_train = ctx.single_draw("train", suite.n_train)
    # Least squares on whitened features: predictions that no invertible affine map of h changes.
    share_probe = inv.fit_whitened_probe(x_train, y_train)
    predictions = share_probe.predict(draws.reshape(n * m, dim)).reshape(n, m, -1)
    whitened, rank = inv.whitened_conditional_variance(draws, ctx.boot, 0.0)
    shrunk, shrunk_rank = inv.whitened_conditional_variance(draws, ctx.boot, suite.whitening_shrinkage)
    x_test = ctx.source.features("test", suite.n_test)
    nu_train = ctx.source.nuisance("train", suite.n_train)
    nu_test = ctx.source.nuisance("test", suite.n_test)
    names = list(ctx.source.space.nuisance)
    decoded = regression(ctx.fit(x_train, nu_train).predict(x_test), nu_test, names, ctx.boot)
    prior = ctx.source.space.prior_mean(names).expand(nu_test.shape[0], -1)
    baseline = regression(prior, nu_test, names, ctx.boot)
    ctx.probes["invariance"] = {"solver": ctx.solver, "ridge": PAPER_RIDGE, "items": n, "draws": m,
                                "whitened_rank": rank, "rank_tolerance": inv.rank_tolerance(draws.dtype),
                                "whitening_shrinkage": suite.whitening_shrinkage, "shrunk_rank": shrunk_rank,
                                "paper_proxy_draws": inv.PAPER_PROXY_DRAWS,
                                "share_probe": "least squares on the whitened probe-training features"}
    return {
        "invariance": {
            "whitened_conditional_variance": whitened,
            "probe_nuisance_share": inv.probe_nuisance_share(predictions, ctx.content_names, ctx.boot),
            "nuisance_mse": decoded["mean_mse"],
            "nuisance_r2": decoded["mean_r2"],
            "nuisance_prior_mse": baseline["mean_mse"],
            "nuisance_per_factor": decoded["per_factor"],
            "diagnostics": {
                "relative_conditional_variance": inv.relative_conditional_variance(draws, ctx.boot),
                "shrunk_whitened_conditional_variance": shrunk,
                "normalized_conditional_variance": inv.normalized_conditional_variance(draws, ctx.boot),
                "paper_trace_proxy": inv.paper_trace_proxy(draws, ctx.boot),
            },
        }
    }


def _differentiable(ctx: Context, task: str) -> tuple[Any, str | None]:
    """The feature function of the encoder through the renderer, or the reason it cannot be differentiated."""
    source = ctx.source
    function = feature_function(source.encoder, source.generator())
    content, nuisance = source.content("test", 2), source.nuisance("test", 2)
    try:
        check_differentiable(function, content.to(source.device), nuisance.to(source.device))
    except NotDifferentiable as err:
        ctx.probes[task] = {"skipped": str(err)}
        return None, str(err)
    return function, None


def run_sensitivity(ctx: Context) -> dict[str, Any]:
    """Task ``sensitivity``: exact feature derivatives w.r.t. every factor in whitened units (no invertible affine
    map of h moves them); in raw units under ``diagnostics`` (PROTOCOL.md §5)."""
    suite, source = ctx.suite, ctx.source
    function, reason = _differentiable(ctx, "sensitivity")
    if function is None:
        return {"sensitivity": {"skipped": reason}}
    n, batch = suite.n_sensitivity, suite.batch_size
    content, nuisance = source.content("test", n), source.nuisance("test", n)
    parts = []
    test_features = source.features("test", suite.n_test)
    white = inv.whitening(test_features)
    mode = jvp_mode(function, content[:2].to(source.device), nuisance[:2].to(source.device))
    try:
        for lo in range(0, n, batch):
            parts.append(derivative_norms(function, content[lo : lo + batch].to(source.device),
                                          nuisance[lo : lo + batch].to(source.device), mode, matrix=white.matrix))
    except NotDifferentiable as err:
        ctx.probes["sensitivity"] = {"skipped": str(err)}
        return {"sensitivity": {"skipped": str(err)}}
    norms = torch.cat(parts).cpu().numpy()  # (n, K, 2): raw and whitened
    space = source.space
    names = [*space.content, *space.nuisance]
    prior_std = space.prior_variance(names).sqrt().numpy()
    n_content = len(space.content)
    ctx.probes["sensitivity"] = {"items": n, "method": f"jvp ({mode} mode)", "total_variance_items": suite.n_test,
                                 "whitened_rank": white.rank, "rank_tolerance": inv.rank_tolerance(test_features.dtype)}
    whitened = sensitivity_metrics(norms[..., 1], prior_std, float(max(white.rank, 1)), names, n_content, ctx.boot)
    raw = sensitivity_metrics(norms[..., 0], prior_std, total_variance(test_features), names, n_content, ctx.boot)
    return {"sensitivity": {**whitened, "diagnostics": raw}}


def run_worst_case(ctx: Context) -> dict[str, Any]:
    """Task ``worst_case``: content error under the worst nuisance within ε of each item's own draw, for each
    ε of the suite, and the curve's area (PROTOCOL.md §5)."""
    suite, source = ctx.suite, ctx.source
    function, reason = _differentiable(ctx, "worst_case")
    if function is None:
        return {"worst_case": {"skipped": reason}}
    space = source.space
    n, batch, device = suite.n_worst_case, suite.batch_size, source.device
    probe = ctx.content_probe()
    weight, bias = probe.weight.to(device), probe.bias.to(device)
    content, own = source.content("test", n), source.nuisance("test", n)
    names = list(space.nuisance)
    low = torch.tensor([space[name].low for name in names], dtype=own.dtype)
    high = torch.tensor([space[name].high for name in names], dtype=own.dtype)
    variance = space.prior_variance(ctx.content_names).to(device)
    search = Search(suite.worst_case_draws, suite.worst_case_restarts, suite.worst_case_steps, suite.worst_case_step_size)
    epsilons = suite.worst_case_epsilons
    worst = own.clone()  # the worst point so far: the previous ε's, inside every larger neighbourhood
    prior_variance = variance.cpu().numpy()
    squared = _content_errors(ctx, function, content, own, weight, bias)  # ε = 0: the own draw
    errors, raw = [(squared / prior_variance).mean(axis=1)], []
    for e, epsilon in enumerate(epsilons):
        box_low, box_high = neighbourhood(own, low, high, epsilon)
        # Draw j of item i depends only on (suite seed, ε's index, j, i): the same points at any batch size.
        draws = torch.stack([
            torch.from_numpy(uniform_at(suite.seed, f"test/worst_case/{e}/{j}", names, np.arange(n, dtype=np.uint64)).T)
            for j in range(search.draws)
        ]).to(own.dtype) if search.draws else own.new_zeros(0, n, len(names))
        candidates = torch.cat([own[None], worst[None], box_low + draws * (box_high - box_low)])  # (2 + k, n, n_n)
        step = search.step_size * epsilon * (high - low)
        for lo in range(0, n, batch):
            c = content[lo : lo + batch].to(device)

            def loss(nuisance: torch.Tensor, c: torch.Tensor = c) -> torch.Tensor:
                return ((function(c, nuisance).double() @ weight + bias - c.double()).pow(2) / variance).mean(dim=1)

            part, _ = worst_nuisance(loss, candidates[:, lo : lo + batch].to(device), box_low[lo : lo + batch].to(device),
                                     box_high[lo : lo + batch].to(device), step.to(device), search)
            worst[lo : lo + batch] = part.cpu()
        squared = _content_errors(ctx, function, content, worst, weight, bias)
        errors.append((squared / prior_variance).mean(axis=1))
        raw.append(squared.mean(axis=1))
    # Trapezoids over [0, ε_max], divided by ε_max: the curve's mean height, a per-item linear combination.
    grid = np.array([0.0, *epsilons])
    widths = np.diff(grid)
    coefficients = np.zeros(len(grid))
    coefficients[:-1] += widths / 2
    coefficients[1:] += widths / 2
    per_item = np.stack(errors, axis=1)  # (n, 1 + len(ε))
    area = per_item @ (coefficients / grid[-1])
    ctx.probes["worst_case"] = {"items": n, "epsilons": list(epsilons), "draws": search.draws, "restarts": search.restarts,
                                "steps": search.steps, "step_size": search.step_size,
                                "probe": "the linear task's content probe",
                                "objective": "mean over targets of squared error / prior variance",
                                "neighbourhood": "own draw ± ε·prior range per nuisance factor, clipped to the prior box"}
    return {
        "worst_case": {
            "area": item_mean(area, ctx.boot),
            "average_normalized_mse": item_mean(errors[0], ctx.boot),
            "curve": [
                {"epsilon": float(epsilon), "normalized_mse": item_mean(errors[i + 1], ctx.boot),
                 "mean_mse": item_mean(raw[i], ctx.boot)}
                for i, epsilon in enumerate(epsilons)
            ],
        }
    }


def _predict(function: Any, content: torch.Tensor, nuisance: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
             batch: int, device: Any) -> torch.Tensor:
    """The frozen probe's (n, k) float64 predictions for these factors, on the CPU."""
    parts = []
    with torch.no_grad():
        for lo in range(0, content.shape[0], batch):
            features = function(content[lo : lo + batch].to(device), nuisance[lo : lo + batch].to(device))
            parts.append((features.double() @ weight + bias).cpu())
    return torch.cat(parts)


def _content_errors(ctx: Context, function: Any, content: torch.Tensor, nuisance: torch.Tensor, weight: torch.Tensor,
                    bias: torch.Tensor) -> np.ndarray:
    """(n, k) squared content errors of the frozen probe at these nuisances."""
    predictions = _predict(function, content, nuisance, weight, bias, ctx.suite.batch_size, ctx.source.device)
    return (predictions - content.double()).pow(2).numpy()


def run_label_efficiency(ctx: Context) -> dict[str, Any]:
    """Task ``label_efficiency``: the linear task with a fraction of the probe-training labels."""
    suite = ctx.suite
    x_train, y_train = ctx.single_draw("train", suite.n_train)
    x_test, y_test = ctx.single_draw("test", suite.n_test)
    curve = []
    for fraction in suite.label_fractions:
        n = int(round(fraction * suite.n_train))
        scores = regression(ctx.fit(x_train[:n], y_train[:n]).predict(x_test), y_test, ctx.content_names, ctx.boot)
        curve.append({"fraction": float(fraction), "n_train": n, "mean_mse": scores["mean_mse"], "mean_r2": scores["mean_r2"]})
    ctx.probes["label_efficiency"] = {"solver": ctx.solver, "ridge": PAPER_RIDGE, "subset": "the first items of the probe-training set"}
    return {"label_efficiency": {"curve": curve}}


def run_nonlinear(ctx: Context) -> dict[str, Any]:
    """Task ``nonlinear``: kNN regression on standardised features, k chosen on validation items."""
    suite = ctx.suite
    x_train, y_train = ctx.single_draw("train", suite.n_train)
    x_test, y_test = ctx.single_draw("test", suite.n_test)
    probe, k, scores = fit_knn(x_train, y_train, suite.n_validation, suite.knn_neighbours)
    ctx.probes["nonlinear"] = {"kind": "knn", "neighbours": k, "candidates": list(suite.knn_neighbours), "validation_mse": scores,
                               "n_validation": suite.n_validation}
    return {"nonlinear": regression(probe.predict(x_test), y_test, ctx.content_names, ctx.boot)}


RUNNERS: dict[str, Callable[[Context], dict[str, Any]]] = {
    "linear": run_linear,
    "feature_averaging": run_feature_averaging,
    "robustness": run_robustness,
    "invariance": run_invariance,
    "sensitivity": run_sensitivity,
    "worst_case": run_worst_case,
    "label_efficiency": run_label_efficiency,
    "nonlinear": run_nonlinear,
}

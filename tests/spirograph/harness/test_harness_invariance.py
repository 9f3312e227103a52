"""Invariance, sensitivity and worst-case metrics measure what their names say, and nothing trivial moves them."""

from __future__ import annotations

import pytest
import torch
from harness_helpers import SmallNet, tiny_suite
from torch import nn

import spirograph
from spirograph import Spirograph
from spirograph.harness import invariance as inv
from spirograph.harness.encoders import FactorEncoder
from spirograph.harness.metrics import Bootstrap
from spirograph.harness.sensitivity import derivative_norms, feature_function, jvp_mode

INVARIANCE_TASKS = ["invariance", "sensitivity"]
LINEAR_MAP_PROOF = [
    "invariance.whitened_conditional_variance",
    "invariance.probe_nuisance_share.mean",
    *[f"invariance.probe_nuisance_share.per_factor.{name}" for name in ("m", "b", "sigma", "fg_r")],
    *[f"sensitivity.{name}" for name in spirograph.FACTOR_NAMES],
    "sensitivity.nuisance_to_content",
]
"""The headline invariance metrics: unchanged by every invertible affine map of the features."""
LINEAR_MAP_TOLERANCE = 1e-6
"""Relative tolerance of the linear-map tests: float64 features, so only rounding in the whitening separates them."""
FEATURES = 64


def _maps() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """(A, c) of h → h·A + c for each change that a linear probe cannot see."""
    g = torch.Generator().manual_seed(11)
    eye = torch.eye(FEATURES, dtype=torch.float64)
    rotation, _ = torch.linalg.qr(torch.randn(FEATURES, FEATURES, generator=g, dtype=torch.float64))
    # A random invertible matrix with condition number 100: random rotations around log-spaced singular values.
    left, _ = torch.linalg.qr(torch.randn(FEATURES, FEATURES, generator=g, dtype=torch.float64))
    singular = torch.logspace(0, -2, FEATURES, dtype=torch.float64)
    ill = left @ torch.diag(singular) @ rotation.T
    offset = 1000.0 * torch.linspace(1.0, 2.0, FEATURES, dtype=torch.float64)
    scales = torch.logspace(-2, 3, FEATURES, dtype=torch.float64)[torch.randperm(FEATURES, generator=g)]
    return {
        "identity": (eye, torch.zeros(FEATURES, dtype=torch.float64)),
        "offset": (eye, offset),
        "rescale": (torch.diag(scales), torch.zeros(FEATURES, dtype=torch.float64)),
        "rotation": (rotation, torch.zeros(FEATURES, dtype=torch.float64)),
        "ill_conditioned": (ill, offset),
    }


class Affine(nn.Module):
    """A float64 random ConvNet, then h → h·A + c."""

    def __init__(self, matrix: torch.Tensor, offset: torch.Tensor) -> None:
        super().__init__()
        self.net = SmallNet(seed=3).double()
        self.register_buffer("matrix", matrix)
        self.register_buffer("offset", offset)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images.double()) @ self.matrix + self.offset


class Damped(FactorEncoder):
    """The same ConvNet on images whose nuisance is pulled halfway to its prior mean: half the nuisance's effect."""

    def __init__(self) -> None:
        self.net = SmallNet(seed=3).double().eval()
        self.renderer = Spirograph(dtype=torch.float64)
        self.centre = self.renderer.space.prior_mean(self.renderer.space.nuisance).double()

    def encode_factors(self, content: torch.Tensor, nuisance: torch.Tensor) -> torch.Tensor:
        damped = self.centre + 0.5 * (nuisance.double() - self.centre)
        return self.net(self.renderer.render(content.double(), damped, chunk_size=None, validate=False))


@pytest.fixture(scope="module")
def mapped_results():
    suite = tiny_suite()
    out = {label: spirograph.score(Affine(matrix, offset), suite=suite, tasks=INVARIANCE_TASKS, progress=False)
           for label, (matrix, offset) in _maps().items()}
    out["damped"] = spirograph.score(Damped(), suite=suite, tasks=INVARIANCE_TASKS, progress=False)
    return out


@pytest.mark.parametrize("label", ["offset", "rescale", "rotation", "ill_conditioned"])
@pytest.mark.parametrize("path", LINEAR_MAP_PROOF)
def test_no_invertible_affine_map_moves_the_headline_metrics(mapped_results, path, label):
    base = mapped_results["identity"]
    assert mapped_results[label].metric(path) == pytest.approx(base.metric(path), rel=LINEAR_MAP_TOLERANCE, abs=1e-12)
    # The whitening keeps the same directions (the rank cut is not reached by these maps).
    for task in INVARIANCE_TASKS:
        assert mapped_results[label].to_dict()["probes"][task]["whitened_rank"] == base.to_dict()["probes"][task]["whitened_rank"]


@pytest.mark.parametrize("path", ["invariance.whitened_conditional_variance", "invariance.probe_nuisance_share.mean",
                                  "sensitivity.nuisance_to_content"])
def test_halving_the_nuisance_moves_the_headline_metrics(mapped_results, path):
    damped, base = mapped_results["damped"].metric(path), mapped_results["identity"].metric(path)
    # The whitened share counts directions: one the nuisance alone moves stays all nuisance at any
    # amplitude, so halving the nuisance's effect moves it less (0.951 to 0.891) than the others.
    assert damped < (0.95 if path == "invariance.whitened_conditional_variance" else 0.8) * base


@pytest.mark.parametrize("path", ["invariance.diagnostics.relative_conditional_variance",
                                  "invariance.diagnostics.shrunk_whitened_conditional_variance", "sensitivity.diagnostics.nuisance_to_content"])
def test_the_diagnostics_are_moved_by_a_linear_map_a_probe_cannot_see(mapped_results, path):
    base = mapped_results["identity"].metric(path)
    moved = [mapped_results[label].metric(path) for label in ("rescale", "ill_conditioned")]
    assert max(abs(m - base) for m in moved) > 0.01 * base


def test_the_normalised_conditional_variance_is_gamed_by_an_offset(mapped_results):
    base = mapped_results["identity"].metric("invariance.diagnostics.normalized_conditional_variance")
    assert mapped_results["offset"].metric("invariance.diagnostics.normalized_conditional_variance") < 1e-3 * base


def test_relative_and_shrunk_diagnostics_ignore_offsets(mapped_results):
    for path in ("invariance.diagnostics.relative_conditional_variance", "invariance.diagnostics.shrunk_whitened_conditional_variance",
                 "sensitivity.diagnostics.nuisance_to_content"):
        assert mapped_results["offset"].metric(path) == pytest.approx(mapped_results["identity"].metric(path), rel=1e-6)


def test_relative_conditional_variance_is_zero_without_nuisance_and_one_with_nuisance_only():
    boot = Bootstrap(200, 0.95, 0)
    generator = torch.Generator().manual_seed(0)
    content = torch.randn(40, 1, 5, generator=generator, dtype=torch.float64)
    assert inv.relative_conditional_variance(content.expand(40, 6, 5), boot)["value"] == pytest.approx(0.0, abs=1e-12)
    noise = torch.randn(40, 6, 5, generator=generator, dtype=torch.float64)
    assert inv.relative_conditional_variance(noise, boot)["value"] == pytest.approx(1.0, abs=0.1)
    mixed = inv.relative_conditional_variance(content + 0.5 * noise, boot)
    assert 0.1 < mixed["value"] < 0.35  # 0.25 / 1.25 in expectation
    assert mixed["ci"][0] <= mixed["value"] <= mixed["ci"][1]


def test_whitened_conditional_variance_ignores_offsets_rescalings_and_permutations():
    boot = Bootstrap(200, 0.95, 0)
    generator = torch.Generator().manual_seed(1)
    content = torch.randn(50, 1, 6, generator=generator, dtype=torch.float64)
    draws = content + 0.3 * torch.randn(50, 8, 6, generator=generator, dtype=torch.float64)
    base, rank = inv.whitened_conditional_variance(draws, boot, 0.1)
    assert rank == 6
    scale = torch.tensor([1.0, 1e3, 1e-2, 5.0, 0.5, 2.0], dtype=torch.float64)
    moved = (draws * scale + 100.0)[..., torch.tensor([3, 0, 5, 1, 4, 2])]
    assert inv.whitened_conditional_variance(moved, boot, 0.1)[0]["value"] == pytest.approx(base["value"], rel=1e-9)
    # Without shrinkage any invertible linear map leaves it unchanged.
    mix = torch.randn(6, 6, generator=generator, dtype=torch.float64) + 3 * torch.eye(6, dtype=torch.float64)
    plain = inv.whitened_conditional_variance(draws, boot, 0.0)[0]["value"]
    assert inv.whitened_conditional_variance(draws @ mix, boot, 0.0)[0]["value"] == pytest.approx(plain, rel=1e-8)


def test_whitened_conditional_variance_handles_rank_deficient_and_constant_features():
    boot = Bootstrap(200, 0.95, 0)
    generator = torch.Generator().manual_seed(2)
    draws = torch.randn(30, 5, 3, generator=generator, dtype=torch.float64)
    padded = torch.cat([draws, draws[..., :1] * 2, torch.zeros(30, 5, 2, dtype=torch.float64)], dim=2)  # rank 3 of 6
    value, rank = inv.whitened_conditional_variance(padded, boot, 0.0)
    assert rank == 3 and value["value"] == pytest.approx(inv.whitened_conditional_variance(draws, boot, 0.0)[0]["value"], rel=1e-8)
    constant, rank = inv.whitened_conditional_variance(torch.ones(30, 5, 4, dtype=torch.float64), boot, 0.1)
    assert rank == 0 and constant["value"] == 0.0


def test_paper_proxy_estimates_the_total_variance_of_normalised_features():
    boot = Bootstrap(200, 0.95, 0)
    generator = torch.Generator().manual_seed(3)
    content = torch.randn(400, 1, 8, generator=generator, dtype=torch.float64) + 2.0
    draws = content + 0.05 * torch.randn(400, 10, 8, generator=generator, dtype=torch.float64)
    unit = draws / draws.norm(dim=2, keepdim=True)
    total = 1.0 - unit.reshape(-1, 8).mean(0).pow(2).sum()
    assert inv.paper_trace_proxy(draws, boot)["value"] == pytest.approx(float(total), rel=0.05)
    # ... and not the conditional variance, which is far smaller here.
    assert inv.normalized_conditional_variance(draws, boot)["value"] < 0.1 * float(total)
    with pytest.raises(ValueError, match="at least 10"):
        inv.paper_trace_proxy(draws[:, :5], boot)


def test_probe_nuisance_share_separates_content_from_nuisance():
    boot = Bootstrap(200, 0.95, 0)
    generator = torch.Generator().manual_seed(4)
    content = torch.randn(60, 1, 1, generator=generator, dtype=torch.float64).expand(60, 5, 1)
    noise = torch.randn(60, 5, 1, generator=generator, dtype=torch.float64)
    share = inv.probe_nuisance_share(torch.cat([content, noise], dim=2), ["clean", "noisy"], boot)
    assert share["per_factor"]["clean"]["value"] == pytest.approx(0.0, abs=1e-12)
    assert share["per_factor"]["noisy"]["value"] == pytest.approx(1.0, abs=0.15)
    assert share["mean"]["value"] == pytest.approx((share["per_factor"]["noisy"]["value"]) / 2)


def test_sensitivity_matches_central_finite_differences_in_float64():
    gen = Spirograph(dtype=torch.float64)
    content, nuisance = gen.sample(4, seed=5, stream="test")
    net = SmallNet(seed=1).double().eval()
    function = feature_function(net, gen)
    mode = jvp_mode(function, content, nuisance)
    exact = derivative_norms(function, content, nuisance, mode)  # (4, 10)
    # The other product gives the same derivatives where both run (here: on the encoder alone).
    images = gen.render(content, nuisance)
    tangent = torch.randn(images.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    forward = torch.func.jvp(net, (images,), (tangent,))[1]
    with torch.enable_grad():
        backward = torch.autograd.functional.jvp(net, (images,), (tangent,))[1]
    torch.testing.assert_close(forward, backward, rtol=1e-9, atol=1e-12)
    eps = 1e-6
    for k in range(10):
        def moved(sign: float, k: int = k) -> torch.Tensor:  # bound now: called in this iteration
            c, u = content.clone(), nuisance.clone()
            (c[:, k] if k < c.shape[1] else u[:, k - c.shape[1]]).add_(sign * eps)
            with torch.no_grad():
                return function(c, u)

        finite = ((moved(1.0) - moved(-1.0)) / (2 * eps)).norm(dim=1)
        torch.testing.assert_close(exact[:, k], finite, rtol=1e-4, atol=1e-9)


class Constant(nn.Module):
    """Features that ignore the image but keep an autograd graph (a differentiable constant)."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.flatten(1)[:, :3] * 0.0 + torch.tensor([1.0, 2.0, 3.0])


class Detached(nn.Module):
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.detach().flatten(1)[:, :8].clone()


def _curve(result, key="normalized_mse"):
    return [point[key]["value"] for point in result.to_dict()["metrics"]["worst_case"]["curve"]]


def test_worst_case_of_a_constant_encoder_equals_its_average_case():
    result = spirograph.score(Constant(), suite=tiny_suite(), tasks=["worst_case"], progress=False)
    average = result.metric("worst_case.average_normalized_mse")
    assert _curve(result) == [average] * len(result.to_dict()["suite"]["worst_case_epsilons"])
    assert result.metric("worst_case.area") == pytest.approx(average, rel=1e-12)


def test_worst_case_curve_of_pixels_rises_with_epsilon_and_repeats():
    suite = tiny_suite()
    first = spirograph.score(spirograph.harness.encoders.Pixels(), suite=suite, tasks=["worst_case"], progress=False)
    second = spirograph.score(spirograph.harness.encoders.Pixels(), suite=suite, tasks=["worst_case"], progress=False)
    assert first.to_dict()["metrics"] == second.to_dict()["metrics"]
    curve = _curve(first)
    # Each neighbourhood holds the smaller ones and their worst point: the curve never decreases.
    assert all(b >= a for a, b in zip(curve, curve[1:]))
    assert curve[0] > first.metric("worst_case.average_normalized_mse")
    assert curve[-1] > 1.5 * curve[0]
    assert curve[0] < first.metric("worst_case.area") < curve[-1]
    probes = first.to_dict()["probes"]["worst_case"]
    assert (probes["epsilons"], probes["draws"], probes["restarts"], probes["steps"], probes["step_size"]) == (
        list(suite.worst_case_epsilons), suite.worst_case_draws, suite.worst_case_restarts, suite.worst_case_steps,
        suite.worst_case_step_size)


def test_worst_case_keeps_the_best_candidate_and_climbs_from_it():
    from spirograph.harness.worst_case import Search, neighbourhood, worst_nuisance

    low, high = torch.zeros(2), torch.ones(2)
    target = torch.tensor([[0.9, 0.1], [0.2, 0.2]])

    def loss(u: torch.Tensor) -> torch.Tensor:  # a bump: gradient ascent from a bad start never finds the peak
        return torch.exp(-((u - target) ** 2).sum(dim=1) * 50)

    candidates = torch.stack([torch.tensor([[0.0, 1.0], [1.0, 1.0]]), target.clone()])
    best, value = worst_nuisance(loss, candidates, low, high, torch.full((2,), 0.1), Search(0, 1, 5, 0.1))
    torch.testing.assert_close(best, target)
    torch.testing.assert_close(value, torch.ones(2))
    # From near the peak, the ascent climbs to it within the box.
    near = (target + torch.tensor([[-0.08, 0.08], [0.08, -0.08]]))[None]
    best, value = worst_nuisance(loss, near, low, high, torch.full((2,), 0.02), Search(0, 1, 8, 0.25))
    assert bool((value > loss(near[0])).all())
    box_low, box_high = neighbourhood(torch.tensor([[0.95, 0.5]]), low, high, 0.1)
    torch.testing.assert_close(box_low, torch.tensor([[0.85, 0.4]]))
    torch.testing.assert_close(box_high, torch.tensor([[1.0, 0.6]]))


@pytest.mark.parametrize("encoder", [Detached(), lambda images: torch.from_numpy(images.flatten(1)[:, :4].numpy().copy())])
def test_non_differentiable_encoders_get_the_gradient_tasks_skipped(encoder):
    result = spirograph.score(encoder, suite=tiny_suite(), tasks=["linear", "sensitivity", "worst_case"], progress=False)
    metrics = result.to_dict()["metrics"]
    for task in ("sensitivity", "worst_case"):
        assert set(metrics[task]) == {"skipped"}
        assert "no autograd graph" in metrics[task]["skipped"] or "raised RuntimeError with gradients enabled" in metrics[task]["skipped"]
    assert result.metric("linear.mean_r2") < 1.0


def test_oracle_is_insensitive_to_the_nuisance():
    oracle = spirograph.harness.reference_encoder("oracle")
    result = spirograph.score(oracle, suite=tiny_suite(), tasks=["sensitivity", "worst_case"], progress=False)
    assert result.metric("sensitivity.nuisance_to_content") == 0.0
    assert result.metric("sensitivity.m") > 0
    assert max(_curve(result)) == pytest.approx(result.metric("worst_case.average_normalized_mse"), abs=1e-20)


@pytest.mark.parametrize(
    "setting, value, message",
    [
        ("worst_case_restarts", 0, "worst_case_restarts=0: expected an integer >= 1"),
        ("worst_case_steps", -1, "worst_case_steps=-1: expected an integer >= 0"),
        ("worst_case_step_size", 0.0, "worst_case_step_size=0.0: expected a float in \\(0, 1\\]"),
        ("worst_case_step_size", -0.1, "worst_case_step_size=-0.1"),
        ("worst_case_draws", -1, "worst_case_draws=-1: expected an integer >= 0"),
        ("worst_case_step_size", 0.1, "steps × worst_case_step_size=0.1 >= 2"),
        ("worst_case_epsilons", (0.1, 1.5), "worst_case_epsilons=\\(0.1, 1.5\\): expected increasing floats in \\(0, 1\\]$"),
        ("worst_case_epsilons", (0.5, 0.1, 1.0), "worst_case_epsilons"),
        ("whitening_shrinkage", 1.0, "whitening_shrinkage=1.0: expected a float in \\[0, 1\\)"),
        ("n_sensitivity", 5, "n_sensitivity=5: expected an integer >= 10"),
        ("n_worst_case", 10**6, "n_worst_case=1000000: expected at most the single-draw size"),
        ("averaging_draws", (1, 2, 3), "a largest M of at least 10"),
    ],
)
def test_bad_suite_settings_get_one_clear_error(setting, value, message):
    with pytest.raises(ValueError, match=message):
        tiny_suite(**{setting: value})

"""Invariance, sensitivity and worst-case metrics measure what their names say, and nothing trivial moves them."""

from __future__ import annotations

import pytest
import torch
from harness_helpers import SmallNet, tiny_suite
from torch import nn

import spirograph
from spirograph import Spirograph
from spirograph.harness import invariance as inv
from spirograph.harness.metrics import Bootstrap
from spirograph.harness.sensitivity import derivative_norms, feature_function, jvp_mode

INVARIANCE_TASKS = ["invariance", "sensitivity"]
OFFSET_PROOF = [
    "invariance.relative_conditional_variance",
    "invariance.whitened_conditional_variance",
    "invariance.probe_nuisance_share.mean",
    *[f"invariance.probe_nuisance_share.per_factor.{name}" for name in ("m", "b", "sigma", "fg_r")],
    *[f"sensitivity.{name}" for name in spirograph.FACTOR_NAMES],
    "sensitivity.nuisance_to_content",
]


class Affine(nn.Module):
    """A float64 random ConvNet, then h → scale·h + offset (a constant vector)."""

    def __init__(self, scale: float = 1.0, offset: float = 0.0) -> None:
        super().__init__()
        self.net = SmallNet(seed=3).double()
        self.scale = scale
        self.register_buffer("offset", offset * torch.linspace(1.0, 2.0, 64, dtype=torch.float64))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images.double()) * self.scale + self.offset


@pytest.fixture(scope="module")
def affine_results():
    suite = tiny_suite()
    return {
        label: spirograph.score(Affine(scale, offset), suite=suite, tasks=INVARIANCE_TASKS, progress=False)
        for label, scale, offset in (("f", 1.0, 0.0), ("offset", 1.0, 1000.0), ("scaled", 7.0, 0.0))
    }


@pytest.mark.parametrize("path", OFFSET_PROOF)
def test_offset_and_scale_do_not_move_the_invariance_metrics(affine_results, path):
    base = affine_results["f"].metric(path)
    for label in ("offset", "scaled"):
        assert affine_results[label].metric(path) == pytest.approx(base, rel=1e-6, abs=1e-12), label


def test_the_normalised_conditional_variance_is_gamed_by_an_offset(affine_results):
    base = affine_results["f"].metric("invariance.normalized_conditional_variance")
    assert affine_results["offset"].metric("invariance.normalized_conditional_variance") < 1e-3 * base
    assert affine_results["scaled"].metric("invariance.normalized_conditional_variance") == pytest.approx(base, rel=1e-9)


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


def test_worst_case_of_a_constant_encoder_equals_its_average_case():
    result = spirograph.score(Constant(), suite=tiny_suite(), tasks=["worst_case"], progress=False)
    assert result.metric("worst_case.mean_mse") == result.metric("worst_case.average_mse")
    assert result.metric("worst_case.ratio_to_average") == 1.0


def test_worst_case_of_pixels_is_worse_than_average_and_repeatable():
    suite = tiny_suite()
    first = spirograph.score(spirograph.harness.encoders.Pixels(), suite=suite, tasks=["worst_case"], progress=False)
    second = spirograph.score(spirograph.harness.encoders.Pixels(), suite=suite, tasks=["worst_case"], progress=False)
    assert first.to_dict()["metrics"] == second.to_dict()["metrics"]
    assert first.metric("worst_case.normalized_mse") > first.metric("worst_case.average_normalized_mse")
    assert first.metric("worst_case.ratio_to_average") > 1.0
    assert first.metric("worst_case.mean_mse") > first.metric("worst_case.average_mse")


def test_worst_case_never_goes_below_the_items_own_draw():
    from spirograph.harness.worst_case import Search, worst_nuisance

    low, high = torch.zeros(2), torch.ones(2)
    target = torch.tensor([[0.9, 0.1], [0.2, 0.2]])

    def loss(u: torch.Tensor) -> torch.Tensor:  # a bump: gradient ascent from a bad start never finds the peak
        return torch.exp(-((u - target) ** 2).sum(dim=1) * 50)

    starts = torch.stack([target.clone(), torch.tensor([[0.0, 1.0], [1.0, 1.0]])])
    best, value = worst_nuisance(loss, starts, low, high, Search(2, 5, 0.1))
    torch.testing.assert_close(best, target)
    torch.testing.assert_close(value, torch.ones(2))


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
    assert result.metric("worst_case.ratio_to_average") == pytest.approx(1.0)


@pytest.mark.parametrize(
    "setting, value, message",
    [
        ("worst_case_restarts", 0, "worst_case_restarts=0: expected an integer >= 1"),
        ("worst_case_steps", -1, "worst_case_steps=-1: expected an integer >= 0"),
        ("worst_case_step_size", 0.0, "worst_case_step_size=0.0: expected a float in \\(0, 1\\]"),
        ("worst_case_step_size", -0.1, "worst_case_step_size=-0.1"),
        ("whitening_shrinkage", 1.0, "whitening_shrinkage=1.0: expected a float in \\[0, 1\\)"),
        ("n_sensitivity", 5, "n_sensitivity=5: expected an integer >= 10"),
        ("n_worst_case", 10**6, "n_worst_case=1000000: expected at most the single-draw size"),
        ("averaging_draws", (1, 2, 3), "a largest M of at least 10"),
    ],
)
def test_bad_suite_settings_get_one_clear_error(setting, value, message):
    with pytest.raises(ValueError, match=message):
        tiny_suite(**{setting: value})

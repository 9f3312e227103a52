"""End-to-end scoring: the oracle ceiling, the constant floor, pixels between, determinism."""

from __future__ import annotations

import json

import pytest
import torch
from harness_helpers import SmallNet, tiny_suite

import spirograph
from spirograph.harness import ScoreResult, score
from spirograph.harness.encoders import Oracle, Pixels
from spirograph.harness.result import TASK_NAMES


def constant(images: torch.Tensor) -> torch.Tensor:
    return torch.ones(images.shape[0], 3)


@pytest.fixture(scope="module")
def oracle_result() -> ScoreResult:
    return score(Oracle(), suite=tiny_suite(), progress=False, disclosures={"uses_nuisance_labels": False})


def test_oracle_is_the_ceiling(oracle_result):
    assert oracle_result.metric("linear.mean_r2") >= 0.999
    for name in ("m", "b", "sigma", "fg_r"):
        assert oracle_result.metric(f"linear.per_factor.{name}.r2") >= 0.999
    assert oracle_result.metric("linear.mean_mse") < 1e-6
    assert oracle_result.metric("feature_averaging.M10.mean_r2") >= 0.999
    # Content-only features do not move with the nuisance.
    for path in ("whitened_conditional_variance", "probe_nuisance_share.mean", "diagnostics.relative_conditional_variance",
                 "diagnostics.normalized_conditional_variance"):
        assert oracle_result.metric(f"invariance.{path}") < 1e-9
    assert oracle_result.metric("sensitivity.nuisance_to_content") == 0.0
    assert abs(oracle_result.metric("robustness.summary")) < 1e-6
    prior = oracle_result.metric("invariance.nuisance_prior_mse")
    assert prior == pytest.approx(29 / 360, rel=0.1)  # a sample estimate of the expected 0.0806
    assert oracle_result.metric("invariance.nuisance_mse") == pytest.approx(prior, rel=0.1)
    assert abs(oracle_result.metric("invariance.nuisance_r2")) < 0.1


def test_result_records_the_run(oracle_result):
    data = oracle_result.to_dict()
    assert data["tasks"] == list(TASK_NAMES)
    assert data["suite"]["name"] == "tiny-test" and data["suite"]["seed"] == 7
    assert data["encoder"] == {"name": "Oracle", "class": "spirograph.harness.encoders.Oracle", "feature_dim": 4, "parameters": None}
    assert data["disclosures"] == {"uses_nuisance_labels": False}
    assert data["render"]["normalize"] == "row"
    assert data["package_version"] == spirograph.__version__
    assert set(data["timings"]["tasks"]) == set(TASK_NAMES)
    curve = data["metrics"]["feature_averaging"]["curve"]
    assert [p["M"] for p in curve] == [1, 2, 10]
    levels = [p["level"] for p in data["metrics"]["robustness"]["h_mean"]["curve"]]
    assert levels == [-0.5, -0.3, -0.1, 0.0, 0.1, 0.3, 0.5]
    assert [p["n_train"] for p in data["metrics"]["label_efficiency"]["curve"]] == [40, 400]
    low, high = oracle_result.interval("linear.mean_mse")
    assert low <= oracle_result.metric("linear.mean_mse") <= high


def test_constant_encoder_scores_zero():
    result = score(constant, suite=tiny_suite(), tasks=["linear", "nonlinear"], progress=False)
    assert result.name == "constant"
    assert abs(result.metric("linear.mean_r2")) < 0.02
    assert abs(result.metric("linear_tuned.mean_r2")) < 0.02
    assert result.metric("nonlinear.mean_r2") < 0.1


def test_pixels_land_between_constant_and_oracle(oracle_result):
    # 16×16 images: 768 pixel features < 2,000 probe-training items, so the paper's nearly
    # unregularised probe is well posed (and the test stays cheap).
    suite = tiny_suite(n_train=2000, n_test=400, resolution=16)
    pixels = score(Pixels(), suite=suite, tasks=["linear"], progress=False)
    floor = score(constant, suite=suite, tasks=["linear"], progress=False)
    for metric in ("linear.mean_r2", "linear_tuned.mean_r2"):
        assert floor.metric(metric) + 0.1 < pixels.metric(metric) < oracle_result.metric(metric) - 0.1


def test_same_encoder_twice_gives_identical_metrics():
    suite = tiny_suite()
    first = score(SmallNet(), suite=suite, progress=False).to_dict()
    second = score(SmallNet(), suite=suite, progress=False).to_dict()
    assert json.dumps(first["metrics"]) == json.dumps(second["metrics"])
    assert first["probes"] == second["probes"]
    assert 0.0 < first["metrics"]["linear"]["mean_r2"]["value"] < 1.0


def test_module_is_evaluated_in_eval_mode_and_restored():
    net = SmallNet()
    net.train()
    result = score(net, suite=tiny_suite(), tasks=["linear"], progress=False, name="small")
    assert net.training
    assert result.to_dict()["encoder"]["parameters"] == sum(p.numel() for p in net.parameters())
    assert result.to_dict()["encoder"]["feature_dim"] == 64
    assert result.name == "small"


def channel_means(images: torch.Tensor) -> torch.Tensor:
    return images.mean(dim=(2, 3))


def test_lbfgs_solver_matches_closed_form():
    # Three well-conditioned features: L-BFGS converges in a few steps, so the test stays cheap.
    suite = tiny_suite()
    closed = score(channel_means, suite=suite, tasks=["linear"], progress=False)
    lbfgs = score(channel_means, suite=suite, tasks=["linear"], progress=False, solver="lbfgs")
    assert lbfgs.to_dict()["probes"]["linear"]["solver"] == "lbfgs"
    assert lbfgs.metric("linear.mean_mse") == pytest.approx(closed.metric("linear.mean_mse"), rel=1e-6)
    assert lbfgs.metric("linear_tuned.mean_mse") == closed.metric("linear_tuned.mean_mse")


def test_top_level_export():
    assert spirograph.score is score


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"suite": "standrd"}, "unknown suite 'standrd'; did you mean 'standard'?"),
        ({"tasks": ["linear", "robustnes"]}, "unknown task 'robustnes'; did you mean 'robustness'?"),
        ({"tasks": []}, "at least one of"),
        ({"solver": "adam"}, "solver='adam'"),
        ({"device": "no-such-device"}, "an available torch device"),
        ({"name": " "}, "name=' '"),
        ({"disclosures": {"training": [1]}}, "disclosures\\['training'\\]"),
        ({"disclosures": "simclr"}, "disclosures='simclr'"),
        ({"command": 3}, "command=3"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        score(constant, progress=False, **{"suite": tiny_suite(), **kwargs})


def test_score_prints_an_estimate_of_the_suite_time_after_its_check(capsys):
    from harness_helpers import SmallNet

    from spirograph.harness.cost import GRADIENT_PASS, format_estimate, suite_passes

    suite = tiny_suite()
    score(SmallNet(0), suite=suite, tasks=["linear"], progress=True)
    err = capsys.readouterr().err
    assert "score SmallNet: tiny-test v1 will take about " in err
    assert f"({suite.n_train + suite.n_test:,} image passes at " in err
    assert err.index("will take about") < err.index("score SmallNet: linear")
    per_epsilon = suite.worst_case_draws + 3 + suite.worst_case_restarts * (suite.worst_case_steps * GRADIENT_PASS + 1)
    assert suite_passes(suite, ["worst_case"]) == suite.n_train + suite.n_test + suite.n_worst_case * (
        1 + len(suite.worst_case_epsilons) * per_epsilon)
    assert suite_passes(suite, ["sensitivity"]) == suite.n_sensitivity * 10 * GRADIENT_PASS
    assert [format_estimate(s) for s in (40, 720, 5400)] == ["about 40 s", "about 12 min", "about 1.5 h"]

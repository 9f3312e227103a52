"""Derived figures are recomputed from their parts: a result that contradicts itself is refused."""

from __future__ import annotations

import copy
import json

import pytest

from spirograph.cli import main
from spirograph.harness.consistency import derived_figure_problems
from spirograph.harness.leaderboard import load_results, shipped_entries
from spirograph.harness.result import ResultError, validate_result


@pytest.fixture(scope="module")
def pixels() -> dict:
    return next(r for r in load_results(shipped_entries()) if r.name == "pixels").to_dict()


def _metric(value, ci=None):
    return {"value": value, "ci": list(ci) if ci else [value, value]}


def _scale_first_level(d):
    point = d["metrics"]["robustness"]["h_mean"]["curve"][0]
    point["mean_mse"] = _metric(point["mean_mse"]["value"] * 3)


# Each edit changes one figure that is derived from others (each stays inside its own interval
# and its bounds, so only the recomputation can catch it).
EDITS = [
    (lambda d: d["metrics"]["linear"].update(mean_r2=_metric(0.999, [0.998, 1.0])), r"result.metrics.linear.mean_r2: expected 0\.\d+ \(the mean of its per-factor values\), got 0\.999"),
    (lambda d: d["metrics"]["linear_tuned"].update(mean_mse=_metric(1e-5)), r"result.metrics.linear_tuned.mean_mse: expected"),
    (lambda d: d["metrics"]["nonlinear"]["per_factor"]["m"].update(r2=_metric(0.99)), r"result.metrics.nonlinear.mean_r2: expected"),
    (lambda d: d["metrics"]["feature_averaging"]["M30"].update(mean_mse=_metric(1e-6)), r"feature_averaging.M30.mean_mse: expected .*\(the curve's point at M = 30\)"),
    (lambda d: d["metrics"]["robustness"].update(summary=_metric(-0.5)), r"result.metrics.robustness.summary: expected .*\(the mean of the families' summaries\)"),
    (lambda d: d["metrics"]["robustness"]["h_mean"].update(summary=_metric(0.0)), r"robustness.h_mean.summary: expected .*shifted levels"),
    (_scale_first_level, r"robustness.h_mean.summary: expected"),
    (lambda d: d["metrics"]["robustness"]["h_width"]["curve"][3].update(mean_mse=_metric(0.5)), r"robustness.h_width.curve\[3\].mean_mse: expected .*level 0 is the unshifted"),
    (lambda d: d["metrics"]["invariance"].update(nuisance_r2=_metric(0.9)), r"invariance.nuisance_r2: expected"),
    (lambda d: d["metrics"]["invariance"]["probe_nuisance_share"].update(mean=_metric(0.0)), r"probe_nuisance_share.mean: expected"),
    (lambda d: d["metrics"]["sensitivity"].update(nuisance_to_content=_metric(0.01)), r"sensitivity.nuisance_to_content: expected .*nuisance factors"),
    (lambda d: d["metrics"]["sensitivity"]["diagnostics"].update(nuisance_to_content=_metric(0.01)),
     r"sensitivity.diagnostics.nuisance_to_content: expected .*nuisance factors"),
    (lambda d: d["metrics"]["worst_case"].update(area=_metric(0.01)), r"worst_case.area: expected .*trapezoid"),
    (lambda d: d["metrics"]["worst_case"]["curve"][2].update(normalized_mse=_metric(5.0)), r"worst_case.area: expected"),
]


def test_shipped_entries_agree_with_themselves():
    for result in load_results(shipped_entries()):
        data = result.to_dict()
        assert derived_figure_problems(data["metrics"], data["space"]["content"], data["space"]["nuisance"]) == []


def test_level_zero_is_where_the_unshifted_point_sits(pixels):
    levels = [p["level"] for p in pixels["metrics"]["robustness"]["h_width"]["curve"]]
    assert levels[3] == 0.0  # the EDITS above move exactly that point


@pytest.mark.parametrize("edit, message", EDITS, ids=[f"edit{i}" for i in range(len(EDITS))])
def test_a_contradicting_figure_is_refused(pixels, edit, message):
    data = copy.deepcopy(pixels)
    edit(data)
    with pytest.raises(ResultError, match=message) as caught:
        validate_result(data)
    assert "\n" not in str(caught.value)


def test_rounding_is_not_a_contradiction(pixels):
    data = copy.deepcopy(pixels)
    linear = data["metrics"]["linear"]
    linear["mean_r2"]["value"] *= 1 + 1e-12  # float64 sums in another order differ by far less than 1e-9
    validate_result(data)


def test_the_tampered_copy_is_not_ranked(pixels, tmp_path, capsys):
    """The reported case: a copy of pixels.json claiming mean R² 0.999 [0.998, 1] would rank second."""
    data = copy.deepcopy(pixels)
    data["name"] = "pixels-edited"
    data["metrics"]["linear"]["mean_r2"] = _metric(0.999, [0.998, 1.0])
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data))
    assert main(["leaderboard", str(path), "--references"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and "the mean of its per-factor values" in err


def test_the_area_under_the_worst_case_curve_is_recomputed():
    curve = [{"epsilon": e, "normalized_mse": _metric(v)} for e, v in ((0.1, 0.3), (0.2, 0.5), (0.4, 0.9))]
    area = (0.1 * (0.1 + 0.3) / 2 + 0.1 * (0.3 + 0.5) / 2 + 0.2 * (0.5 + 0.9) / 2) / 0.4
    node = {"worst_case": {"area": _metric(area), "average_normalized_mse": _metric(0.1), "curve": curve}}
    assert derived_figure_problems(node) == []
    node["worst_case"]["area"] = _metric(0.9)
    (problem,) = derived_figure_problems(node)
    assert problem.startswith(f"result.metrics.worst_case.area: expected {area:.6g} (the trapezoid area")

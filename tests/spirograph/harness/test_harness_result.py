"""Result object, JSON schema validator and safe saving."""

from __future__ import annotations

import copy
import json
import os

import pytest
from harness_helpers import tiny_suite

from spirograph.harness import ResultError, ScoreResult, score, validate_result
from spirograph.harness.encoders import Oracle


@pytest.fixture(scope="module")
def valid() -> dict:
    return score(Oracle(), suite=tiny_suite(), progress=False, command="test").to_dict()


def test_round_trip(valid, tmp_path):
    result = ScoreResult(valid)
    path = result.save(tmp_path / "r.json")
    loaded = ScoreResult.load(path)
    assert loaded.to_dict() == valid
    assert json.loads(path.read_text())["command"] == "test"
    assert os.listdir(tmp_path) == ["r.json"]  # no temporary file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # like a plain open(), not mkstemp's 0600


def test_metric_access(valid):
    result = ScoreResult(valid)
    assert result.metric("linear.mean_r2") == valid["metrics"]["linear"]["mean_r2"]["value"]
    assert result.metric("metrics.linear.mean_r2") == result.metric("linear.mean_r2")
    assert result.metric("feature_averaging.curve.2.mean_mse") == valid["metrics"]["feature_averaging"]["curve"][2]["mean_mse"]["value"]
    assert result.interval("invariance.nuisance_mse") == tuple(valid["metrics"]["invariance"]["nuisance_mse"]["ci"])
    assert "robustness.h_mean.summary" in result.metric_paths()
    with pytest.raises(ValueError, match="unknown metric 'linear.mean_r3'; did you mean 'linear.mean_r2'?"):
        result.metric("linear.mean_r3")
    with pytest.raises(ValueError, match="unknown metric 'linear'"):
        result.metric("linear")  # a group, not a metric
    assert "linear.mean_r2=" in repr(result)


def test_save_refuses_existing_files(valid, tmp_path):
    result = ScoreResult(valid)
    target = tmp_path / "r.json"
    target.write_text("user data")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        result.save(target)
    assert target.read_text() == "user data"
    result.save(target, overwrite=True)
    assert ScoreResult.load(target).to_dict() == valid
    with pytest.raises(FileNotFoundError, match="does not exist"):
        result.save(tmp_path / "missing" / "r.json")
    assert sorted(os.listdir(tmp_path)) == ["r.json"]


def _broken(valid, edit):
    data = copy.deepcopy(valid)
    edit(data)
    return data


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.pop("metrics"), "result.metrics: expected a value"),
        (lambda d: d.update(schema_version=99), r"schema_version: expected one of \[1, 2, 3\]"),
        (lambda d: d.update(name=""), "result.name: expected a non-blank, one-line name"),
        (lambda d: d["metrics"]["linear"].update(mean_r2=0.9), "linear.mean_r2: expected an object"),
        (lambda d: d["metrics"]["linear"]["mean_mse"].update(ci=[2.0, 1.0]), "linear.mean_mse.ci"),
        (lambda d: d["metrics"]["linear"]["mean_mse"].update(value=float("nan")), "linear.mean_mse.value: expected a finite number"),
        (lambda d: d["metrics"]["linear"]["per_factor"].pop("sigma"), "per_factor: expected one entry per factor"),
        (lambda d: d.update(tasks=["linear", "linaer"]), "result.tasks"),
        (lambda d: d["metrics"].pop("nonlinear"), "result.metrics: expected exactly the keys"),
        (lambda d: d["metrics"]["feature_averaging"]["curve"].reverse(), "strictly increasing M"),
        (lambda d: d["metrics"]["feature_averaging"].pop("M10"), "feature_averaging.M10"),
        (lambda d: d["metrics"]["robustness"].pop("h_width"), "robustness.h_width"),
        (lambda d: d["metrics"]["invariance"].pop("whitened_conditional_variance"), "invariance.whitened_conditional_variance"),
        (lambda d: d["metrics"]["invariance"]["diagnostics"].pop("paper_trace_proxy"), "invariance.diagnostics.paper_trace_proxy"),
        (lambda d: d["metrics"]["sensitivity"]["diagnostics"].pop("m"), "sensitivity.diagnostics: expected exactly the keys"),
        (lambda d: d["metrics"]["invariance"]["probe_nuisance_share"]["per_factor"].pop("m"), "probe_nuisance_share.per_factor"),
        (lambda d: d["metrics"]["sensitivity"].pop("h"), "result.metrics.sensitivity: expected exactly the keys"),
        (lambda d: d["metrics"].update(sensitivity={"skipped": ""}), "sensitivity: expected {\"skipped\""),
        (lambda d: d["metrics"]["worst_case"].pop("area"), "worst_case.area"),
        (lambda d: d["metrics"]["worst_case"]["curve"].reverse(), "strictly increasing epsilon"),
        (lambda d: d.update(schema_version=1), "expected distinct task names"),
        (lambda d: d["encoder"].update(feature_dim=0), "feature_dim"),
        (lambda d: d["disclosures"].update(training=[1, 2]), "disclosures.training"),
        (lambda d: d["timings"]["tasks"].update(linear=-1), "timings.tasks.linear"),
    ],
)
def test_validator_rejects(valid, edit, message):
    data = _broken(valid, edit)
    with pytest.raises(ResultError, match=message):
        validate_result(data)
    with pytest.raises(ResultError):
        ScoreResult(data)


def test_load_rejects_bad_files(valid, tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ResultError, match="bad.json: not a JSON file"):
        ScoreResult.load(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ResultError, match="list.json: result: expected an object"):
        ScoreResult.load(tmp_path / "list.json")
    data = _broken(valid, lambda d: d["metrics"]["linear"].pop("mean_mse"))
    (tmp_path / "partial.json").write_text(json.dumps(data))
    with pytest.raises(ResultError, match="partial.json: result.metrics.linear.mean_mse"):
        ScoreResult.load(tmp_path / "partial.json")

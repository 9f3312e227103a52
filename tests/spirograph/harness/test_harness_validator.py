"""The strict result validator: bounds, intervals, counts, names, unknown fields, and safe reading of files."""

from __future__ import annotations

import copy
import json

import pytest
from harness_helpers import SmallNet, tiny_suite

from spirograph.cli import main
from spirograph.harness import ResultError, ScoreResult, score, validate_result
from spirograph.harness.leaderboard import load_results, shipped_entries
from spirograph.harness.result import MAX_RESULT_BYTES


@pytest.fixture(scope="module")
def valid() -> dict:
    return score(SmallNet(), suite=tiny_suite(), progress=False, command="test").to_dict()


def _edited(valid, edit):
    data = copy.deepcopy(valid)
    edit(data)
    return data


def _metric(value, low, high):
    return {"value": value, "ci": [low, high]}


def _set(path, value):
    def edit(data):
        node = data
        *parents, last = path
        for part in parents:
            node = node[part]
        node[last] = value

    return edit


BAD = [
    # Bounds for every kind of metric (the value, and the ends of its interval).
    (_set(("metrics", "linear", "mean_r2"), _metric(1e300, 1e299, 1e301)), r"linear.mean_r2.value: expected R² <= 1"),
    (_set(("metrics", "linear", "per_factor", "m", "r2"), _metric(0.5, 0.4, 1.5)), r"per_factor.m.r2.ci: expected R² <= 1"),
    (_set(("metrics", "linear", "mean_mse"), _metric(-0.1, -0.2, 0.0)), r"linear.mean_mse.value: expected an MSE >= 0"),
    (_set(("metrics", "worst_case", "area"), _metric(-1.0, -1.0, -1.0)), r"worst_case.area.value: expected an MSE >= 0"),
    (_set(("metrics", "invariance", "diagnostics", "relative_conditional_variance"), _metric(-0.5, -0.6, -0.4)),
     r"relative_conditional_variance.value: expected >= 0"),
    (_set(("metrics", "invariance", "whitened_conditional_variance"), _metric(0.1, -0.1, 0.2)), r"whitened_conditional_variance.ci: expected >= 0"),
    (_set(("metrics", "sensitivity", "h"), _metric(-2.0, -3.0, -1.0)), r"sensitivity.h.value: expected >= 0"),
    (_set(("metrics", "robustness", "summary"), _metric(-3.0, -4.0, -2.0)), r"robustness.summary.value: expected a relative change >= -1"),
    (_set(("metrics", "invariance", "nuisance_r2"), _metric(2.0, 1.5, 2.5)), r"invariance.nuisance_r2.value: expected R² <= 1"),
    # A value outside its own interval.
    (_set(("metrics", "linear", "mean_r2"), _metric(0.9, 0.1, 0.2)), r"linear.mean_r2.value: expected a value inside its own interval"),
    # Counts and parameters.
    (_set(("encoder", "parameters"), -5), r"result.encoder.parameters: expected an integer >= 0 or null, got -5"),
    (_set(("suite", "n_test"), -1), r"result.suite.n_test: expected an integer >= 1"),
    (_set(("timings", "images"), -3), r"result.timings.images: expected an integer >= 0"),
    (_set(("seeds", "items"), -1), r"result.seeds.items: expected an integer >= 0"),
    (_set(("probes", "linear_tuned", "n_validation"), -2), r"probes.linear_tuned.n_validation: expected an integer >= 0"),
    (lambda d: d["metrics"]["label_efficiency"]["curve"][0].update(n_train=0), r"curve\[0\].n_train: expected an integer >= 1"),
    # Names.
    (_set(("name",), "   "), r"result.name: expected a non-blank, one-line name"),
    (_set(("name",), "two\nlines"), r"result.name: expected a non-blank, one-line name"),
    (_set(("name",), "x" * 201), r"result.name: expected a non-blank, one-line name of at most 200"),
    # Unknown fields, at every level.
    (_set(("extra",), 1), r"result: expected only the fields .*; unknown: extra"),
    (_set(("suite", "sneaky"), 1), r"result.suite: expected only the fields .*; unknown: sneaky"),
    (_set(("encoder", "note"), "x"), r"result.encoder: expected only the fields .*; unknown: note"),
    (_set(("metrics", "linear", "bonus"), _metric(1, 1, 1)), r"result.metrics.linear: expected only the fields .*; unknown: bonus"),
    (_set(("metrics", "linear", "mean_r2", "stderr"), 0.1), r"linear.mean_r2: expected a metric .* and no other fields"),
    (lambda d: d["metrics"]["feature_averaging"]["curve"][0].update(extra=1), r"feature_averaging.curve\[0\]: expected only the fields"),
    (_set(("probes", "linear", "secret"), 1), r"result.probes.linear: expected only the fields .*; unknown: secret"),
    (_set(("probes", "nope"), {}), r"result.probes: expected one object per task that was run"),
    (_set(("timings", "tasks", "nope"), 1.0), r"result.timings.tasks: expected one entry per task that was run"),
    (_set(("environment", "hostname"), "h"), r"result.environment: expected only the fields"),
    (_set(("environment", "compiled"), "yes"), r"result.environment.compiled: expected"),
    (_set(("space", "extra"), []), r"result.space: expected only the fields"),
    (_set(("render", "normalize"), "none"), r"result.render.normalize: expected 'row' or 'image'"),
    (_set(("disclosures", "x\ny"), 1), r"result.disclosures: expected keys that are non-blank one-line strings"),
    (_set(("disclosures", "training"), "x" * 10_001), r"result.disclosures.training: expected a string \(at most 10000"),
]


@pytest.mark.parametrize("edit, message", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_nonsense_is_refused(valid, edit, message):
    data = _edited(valid, edit)
    with pytest.raises(ResultError, match=message) as caught:
        validate_result(data)
    assert "\n" not in str(caught.value)


def test_real_results_pass(valid):
    validate_result(valid)
    for result in load_results(shipped_entries()):  # schema 1, read for display
        validate_result(result.to_dict())
    skipped = _edited(valid, lambda d: d["metrics"].update(sensitivity={"skipped": "not differentiable"}))
    skipped["probes"]["sensitivity"] = {"skipped": "not differentiable"}
    validate_result(skipped)
    validate_result(_edited(valid, lambda d: d["environment"].update(compiled=True)))  # SPIROGRAPH_COMPILE=1


def test_the_switch_is_recorded_only_when_on(valid, monkeypatch):
    assert "compiled" not in valid["environment"]
    monkeypatch.setenv("SPIROGRAPH_COMPILE", "1")  # Spirograph has no compiled kernels; the setting is still recorded
    result = score(SmallNet(), suite=tiny_suite(), tasks=["linear"], progress=False, command="test").to_dict()
    assert result["environment"]["compiled"] is True


def _load_error(path) -> str:
    with pytest.raises(ResultError) as caught:
        ScoreResult.load(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    return message


def test_a_large_file_is_refused_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "huge.json"
    with open(path, "wb") as handle:  # sparse: no time or disk spent
        handle.truncate(200 * 1024 * 1024)

    def never(*args, **kwargs):
        raise AssertionError("the file was read")

    monkeypatch.setattr("json.loads", never)
    assert f"more than a result file may hold ({MAX_RESULT_BYTES:,} bytes)" in _load_error(path)


def test_deep_nesting_gives_one_line(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    assert "nested too deeply" in _load_error(path)
    path.write_text('{"a":' * 100_000 + "1" + "}" * 100_000)
    assert "nested too deeply" in _load_error(path)


def test_non_utf8_and_non_strict_json_name_the_file(valid, tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes('{"name": "caf\u00e9"}'.encode("latin-1"))
    assert "not UTF-8 text (byte 0xe9 at offset 13)" in _load_error(path)
    text = json.dumps(valid)
    path = tmp_path / "nan.json"
    path.write_text(text.replace(json.dumps(valid["metrics"]["linear"]["mean_mse"]["value"]), "NaN", 1))
    assert "NaN is not a JSON number" in _load_error(path)
    path = tmp_path / "dup.json"
    path.write_text('{"name": "a", "name": "b"}')
    assert "duplicate key 'name'" in _load_error(path)
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    assert "not a JSON file" in _load_error(path)


def test_leaderboard_refuses_nonsense_in_one_line(valid, tmp_path, capsys):
    for index, (edit, _) in enumerate(BAD[:12]):
        path = tmp_path / f"bad{index}.json"
        path.write_text(json.dumps(_edited(valid, edit)))
        assert main(["leaderboard", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(path) in err

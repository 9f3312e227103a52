"""Re-scoring finished runs: the disclosures of a run come from its recorded configuration."""

import json

import pytest

import spirograph
from spirograph_baselines import rescore
from spirograph_baselines.methods import get_method


def _record(method="invclr", **method_config):
    config = get_method(method).Config().to_dict()
    config.update(method_config)
    return {"method": method, "preset": "cpu-quick", "seed": 3, "world_size": 1, "train": {"epochs": 16}, "method_config": config}


def test_disclosures_follow_the_record_and_the_method():
    flat = rescore.run_disclosures(_record(clamp=float("inf"), penalty_target="standardized"))
    assert flat["method"] == "invclr" and flat["uses_nuisance_labels"] is True
    assert flat["config.penalty_target"] == "standardized"
    assert flat["config.clamp"] == "inf"  # JSON has no inf: disclosed as text
    assert flat["training.seed"] == 3 and flat["test_time_passes"] == 1
    assert rescore.run_disclosures(_record("simclr"))["uses_nuisance_labels"] is False
    assert rescore.run_name(_record()) == "invclr-cpu-quick-seed3"
    json.dumps(flat, allow_nan=False)


def test_score_refuses_non_finite_disclosures_before_any_work():
    with pytest.raises(ValueError, match=r"disclosures\['clamp'\]=inf: expected a string, number, boolean or None"):
        spirograph.score(lambda images: images.flatten(1), disclosures={"clamp": float("inf")})


def test_rescore_needs_a_finished_run(tmp_path, capsys):
    assert rescore.main([str(tmp_path)]) == 2
    assert "run_dir=" in capsys.readouterr().err


@pytest.mark.parametrize("generator", ["spirograph", "sprites"])
def test_a_run_is_rescored_on_its_own_generators_suite(tmp_path, generator):
    """A run trained on sprites is scored on sprites' suite of that name, a 0.2 run (no generator recorded) on Spirograph's."""
    from spirograph.harness.suites import Suite, register_suite
    from spirograph_baselines import train

    run = tmp_path / "run"
    assert train.main(["--method", "simclr", "--preset", "cpu-quick", "--out", str(run), "--seed", "0", "--suite", "none",
                       "--no-progress", "--set", 'encoder_kwargs={"widths": [8], "norm": "none"}', "--set", "n_contents=32",
                       "--set", "batch_size=16", "--set", "epochs=1", "--set", "warmup_epochs=0"]) == 0
    record = json.loads((run / "config.json").read_text())
    if generator == "sprites":
        record["train"]["generator"] = "sprites"
    else:
        record["train"].pop("generator", None)
    (run / "config.json").write_text(json.dumps(record))
    register_suite(Suite(name="rescore-test", version=1, seed=0, n_train=40, n_test=20, n_averaging_train=20, n_averaging_test=20,
                         n_robustness_train=20, n_robustness_test=20, n_invariance_test=10, n_sensitivity=10, n_worst_case=10,
                         averaging_draws=(1, 10), label_fractions=(0.5, 1.0), knn_neighbours=(1,), bootstrap_resamples=100,
                         generator=generator), overwrite=True)
    result = rescore.rescore(run, suite="rescore-test", progress=False).to_dict()
    assert result["generator"] == generator and result["suite"]["name"] == "rescore-test"
    assert json.loads((run / "result.json").read_text())["generator"] == generator

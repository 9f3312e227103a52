"""The run summariser (mean ± s.e. table) and the validation score used to choose presets."""

import json
import shutil
from pathlib import Path

import pytest
import torch

import spirograph
from spirograph import Spirograph
from spirograph.harness.probes import fit_ridge
from spirograph_baselines import summarize, validation
from spirograph_baselines.validation import FIT_STREAM, VAL_STREAM, encode_averaged, validation_scores


@pytest.fixture(scope="module")
def entry(tmp_path_factory):
    """A schema-3 result of every task (the oracle on a tiny suite: seconds), as a run's result.json."""
    from spirograph.harness.suites import Suite

    suite = Suite(name="summarize-test", version=1, seed=3, n_train=300, n_test=100, n_averaging_train=60, n_averaging_test=40,
                  n_robustness_train=60, n_robustness_test=40, n_invariance_test=20, n_sensitivity=10, n_worst_case=10,
                  averaging_draws=(1, 10, 30), label_fractions=(0.1, 1.0), knn_neighbours=(1, 3), bootstrap_resamples=100,
                  worst_case_draws=2, worst_case_restarts=1, worst_case_steps=2, worst_case_step_size=1.0)
    path = tmp_path_factory.mktemp("entry") / "result.json"
    spirograph.score(spirograph.harness.reference_encoder("oracle"), suite=suite, progress=False,
                     disclosures={"method": "simclr", "training.preset": "cpu-quick", "config.temperature": 0.5}).save(path)
    return path


def _run(tmp_path, name, method, entry):
    run = tmp_path / name
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"method": method}))
    shutil.copy(entry, run / "result.json")
    return run


def test_table_groups_runs_by_method(tmp_path, entry):
    runs = [_run(tmp_path, "a", "simclr", entry), _run(tmp_path, "b", "simclr", entry), _run(tmp_path, "c", "invclr", entry)]
    text = summarize.table(runs)
    assert "| simclr | 2 |" in text and "| invclr | 1 |" in text
    mse = json.loads(entry.read_text())["metrics"]["linear"]["mean_mse"]["value"]
    assert f"{mse:.4g} ± 0" in text  # identical runs: zero standard error
    diagnostics = text.index("Diagnostics")
    assert text.index("whitened cond. var.") < diagnostics < text.index("relative cond. var.")


def test_result_files_are_read_with_their_disclosed_method(entry):
    text = summarize.table([entry, entry])
    assert "| simclr | 2 |" in text  # method and preset read from the disclosures; preset settings unchanged


def test_older_schemas_are_refused(capsys):
    old = Path(__file__).parent / "data" / "schema2-random-convnet.json"  # release 0.2's shipped entry
    assert summarize.main([str(old)]) == 2
    assert "a result of schema 3 or later" in capsys.readouterr().err


def test_mean_and_standard_error():
    mean, se = summarize.mean_se([1.0, 2.0, 3.0])
    assert mean == 2.0 and se == pytest.approx(1.0 / 3**0.5)


def test_missing_result_is_one_clear_error(tmp_path, capsys):
    run = tmp_path / "r"
    run.mkdir()
    assert summarize.main([str(run)]) == 2
    assert "missing config.json" in capsys.readouterr().err


def test_validation_probe_is_the_harness_probe():
    # The validation MSE is the harness's fit_ridge (λ = 1e-8 scaled by n·k), not a weaker ridge of its own.
    gen = Spirograph(resolution=8, n_points=20)
    encoder = lambda images: images.flatten(1)[:, ::4]  # 48 pixel features
    scores = validation_scores(encoder, gen, seed=3, n_fit=300, n_val=100, draws=(1, 2))
    fit_c = gen.sample_content(300, seed=3, stream=FIT_STREAM)
    val_c = gen.sample_content(100, seed=3, stream=VAL_STREAM)
    h_fit = encode_averaged(encoder, gen, fit_c, draws=2, seed=3, stream=FIT_STREAM + "/views")
    h_val = encode_averaged(encoder, gen, val_c, draws=2, seed=3, stream=VAL_STREAM + "/views")
    for m in (1, 2):
        pred = fit_ridge(h_fit[:, :m].mean(1), fit_c, 1e-8).predict(h_val[:, :m].mean(1))
        assert scores["mse"][f"M={m}"] == pytest.approx(float((pred - val_c.double()).pow(2).mean()), rel=1e-12)
    assert scores["ridge"] == 1e-8
    assert not hasattr(validation, "ridge_fit_predict")  # one ridge: the harness's


def test_validation_scores_of_an_invariant_and_a_pixel_encoder():
    gen = Spirograph(resolution=8, n_points=20)  # 192 pixel features, fewer than the 1,000 fitting items
    pixels = validation_scores(lambda images: images.flatten(1), gen, n_fit=1000, n_val=200, draws=(1, 3))
    assert set(pixels["mse"]) == {"M=1", "M=3"} and pixels["conditional_variance"] > 0
    constant = validation_scores(lambda images: torch.ones(images.shape[0], 4), gen, n_fit=1000, n_val=200, draws=(1, 2))
    assert constant["conditional_variance"] == 0
    assert constant["mse"]["M=1"] > pixels["mse"]["M=1"]

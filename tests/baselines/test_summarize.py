"""The run summariser (mean ± s.e. table) and the validation score used to choose presets."""

import json
import shutil
from pathlib import Path

import pytest
import torch

import spirograph
from spirograph import Spirograph
from spirograph_baselines import summarize
from spirograph_baselines.validation import ridge_fit_predict, validation_scores

ENTRY = Path(spirograph.__file__).parent / "harness" / "entries" / "random-convnet.json"


def _run(tmp_path, name, method):
    run = tmp_path / name
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"method": method}))
    shutil.copy(ENTRY, run / "result.json")
    return run


def test_table_groups_runs_by_method(tmp_path):
    runs = [_run(tmp_path, "a", "simclr"), _run(tmp_path, "b", "simclr"), _run(tmp_path, "c", "invclr")]
    text = summarize.table(runs)
    assert "| simclr | 2 |" in text and "| invclr | 1 |" in text
    mse = json.loads(ENTRY.read_text())["metrics"]["linear"]["mean_mse"]["value"]
    assert f"{mse:.4g} ± 0" in text  # identical runs: zero standard error


def test_mean_and_standard_error():
    mean, se = summarize.mean_se([1.0, 2.0, 3.0])
    assert mean == 2.0 and se == pytest.approx(1.0 / 3**0.5)


def test_missing_result_is_one_clear_error(tmp_path, capsys):
    run = tmp_path / "r"
    run.mkdir()
    assert summarize.main([str(run)]) == 2
    assert "missing config.json" in capsys.readouterr().err


def test_ridge_recovers_a_linear_map():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 5, generator=g, dtype=torch.float64)
    w = torch.randn(5, 2, generator=g, dtype=torch.float64)
    y = x @ w + 0.5
    assert torch.allclose(ridge_fit_predict(x, y, x), y, atol=1e-6)


def test_validation_scores_of_an_invariant_and_a_pixel_encoder():
    gen = Spirograph(resolution=8, n_points=20)  # 192 pixel features, fewer than the 1,000 fitting items
    pixels = validation_scores(lambda images: images.flatten(1), gen, n_fit=1000, n_val=200, draws=(1, 3))
    assert set(pixels["mse"]) == {"M=1", "M=3"} and pixels["conditional_variance"] > 0
    constant = validation_scores(lambda images: torch.ones(images.shape[0], 4), gen, n_fit=1000, n_val=200, draws=(1, 2))
    assert constant["conditional_variance"] == 0
    assert constant["mse"]["M=1"] > pixels["mse"]["M=1"]

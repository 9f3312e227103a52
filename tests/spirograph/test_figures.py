"""Every figure a command writes, rendered and read back: the labels it must show, drawn as typed.

Each test runs the command (or the function the command calls, for ``spirograph-train``'s
``curves.png``), takes the figure it saved, and reads what the figure draws as text (SVG with text
kept as text, ``figure_texts``), so a label that lost its minus sign, a name typeset as mathtext or
a legend over the curves fails here.
"""

from __future__ import annotations

import copy
import json
import math

import pytest

from spirograph.cli import main
from spirograph.harness.leaderboard import load_results, shipped_entries
from spirograph.viz import CURVES_FILE, write_run_curves

MATH_NAMES = (r"$\frac{1}{0}$", r"$\undefinedcommand{x}$")


def _entries(tmp_path) -> list[str]:
    """Two copies of the pixels entry named like mathtext (valid result files: printable one-line names)."""
    pixels = next(r for r in load_results(shipped_entries()) if r.name == "pixels").to_dict()
    paths = []
    for index, name in enumerate(MATH_NAMES):
        data = copy.deepcopy(pixels)
        data["name"] = name
        path = tmp_path / f"math{index}.json"
        path.write_text(json.dumps(data))
        paths.append(str(path))
    return paths


def test_leaderboard_plot_and_page_figure(tmp_path, capsys, saved_figures, figure_texts, legend_overlaps):
    paths = _entries(tmp_path)
    plot, page = tmp_path / "board.png", tmp_path / "board.html"
    assert main(["leaderboard", *paths, "--references", "--plot", str(plot), "--html", str(page), "--out", str(tmp_path / "b.md")]) == 0
    assert capsys.readouterr().err == ""
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and len(saved_figures) == 2  # the file and the page's embedded PNG
    for figure in list(saved_figures):
        texts = figure_texts(figure)
        joined = " ".join(texts)
        # Names as typed, not typeset: the legend holds them verbatim.
        for name in MATH_NAMES:
            assert name in texts
        for label in ("oracle (MSE ≈ 0: off the log scale)", "pixels", "random-convnet"):
            assert label in texts
        for title in ("feature averaging: nuisance draws M", "background mean shift Δμ", "background width change Δv",
                      "h mean shift Δμ", "h width change Δv", "label efficiency: probe-training labels"):
            assert title in texts
        assert {"mean MSE", "mean R²", "M", "level", "n_train"} <= set(texts)
        assert "Suite quick (version 4) · generator spirograph (version 1). Lines: each entry's curve;" in joined
        # pixels' label-efficiency R² below −1 is written with its minus sign (U+2212), and tick labels too.
        assert "\u22123.76" in texts and "\u22121.0" in texts
        assert "M = 1 point is the diamond" in joined
        assert legend_overlaps(figure) == []


def test_leaderboard_figure_error_is_one_line(tmp_path, capsys, monkeypatch):
    from matplotlib.figure import Figure

    def broken(self, *args, **kwargs):
        raise ValueError("\n$\\bad$\n^\nParseFatalException: Unknown symbol")

    monkeypatch.setattr(Figure, "savefig", broken)
    plot = tmp_path / "p.png"
    assert main(["leaderboard", "--references", "--plot", str(plot)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the leaderboard figure could not be drawn: $\\bad$" in err and not plot.exists()


def _run(folder, terms):
    folder.mkdir(parents=True)
    lines = []
    for step in range(10, 210, 10):
        loss = 4 * math.exp(-step / 80) + 1
        record = {"step": step, "epoch": 0, "loss": loss, "lr": 0.1, "pairs_per_s": 500.0 + step}
        record.update({name: value(loss, step) for name, value in terms.items()})
        lines.append(json.dumps(record))
    (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    return folder


SIMCLR = {"nt_xent": lambda loss, step: loss}
INVCLR = {"nt_xent": lambda loss, step: 0.9 * loss, "penalty": lambda loss, step: 1 / step, "lam": lambda loss, step: 0.01}
CLEVER = {"nt_xent": lambda loss, step: 0.8 * loss, "orth": lambda loss, step: 0.3, "preg": lambda loss, step: 0.02}


def test_plot_run_three_runs(tmp_path, capsys, saved_figures, figure_texts, legend_overlaps):
    runs = [_run(tmp_path / name, terms) for name, terms in (("simclr-s0", SIMCLR), ("invclr-s0", INVCLR), ("clever-s0", CLEVER))]
    out = tmp_path / "curves.png"
    assert main(["plot-run", *map(str, runs), "--out", str(out), "--title", "$x$ three runs"]) == 0
    (figure,) = saved_figures
    texts = figure_texts(figure)
    assert {"simclr-s0", "invclr-s0", "clever-s0", "run", "term", "$x$ three runs"} <= set(texts)
    assert {"loss (mean over each logging window)", "other logged terms (loss parts, weights)", "learning rate",
            "throughput (pairs/s)"} <= set(texts)
    # SimCLR's nt_xent is its loss: the other runs' parts are listed, each once.
    assert [t for t in texts if t in ("lam", "nt_xent", "orth", "penalty", "preg")] == ["lam", "nt_xent", "orth", "penalty", "preg"]
    assert legend_overlaps(figure) == []


def test_curves_png_of_a_simclr_run_has_no_repeated_loss(tmp_path, saved_figures, figure_texts, legend_overlaps):
    """``spirograph-train`` draws ``curves.png`` with ``write_run_curves`` at the end of every run."""
    run = _run(tmp_path / "simclr-s0", SIMCLR)
    assert write_run_curves(run) == run / CURVES_FILE
    (figure,) = saved_figures
    texts = figure_texts(figure)
    assert "training run simclr-s0" in texts and "loss (mean over each logging window)" in texts
    assert "other logged terms (loss parts, weights)" not in texts and "nt_xent" not in texts
    assert len(figure.axes) == 3 and legend_overlaps(figure) == []
    run = _run(tmp_path / "invclr-s0", INVCLR)
    write_run_curves(run)
    texts = figure_texts(saved_figures[-1])
    assert {"other logged terms (loss parts, weights)", "nt_xent", "penalty", "lam"} <= set(texts)


@pytest.fixture
def split_file(tmp_path):
    out = tmp_path / "$d$.h5"
    assert main(["generate", str(out), "--train", "12", "--test", "9", "--seed", "2", "--quiet"]) == 0
    return out


def test_show_grid(split_file, tmp_path, capsys, saved_figures, figure_texts):
    grid = tmp_path / "grid.png"
    assert main(["show", str(split_file), "--out", str(grid), "--n", "9", "--split", "test"]) == 0
    (figure,) = saved_figures
    assert figure_texts(figure) == [f"{split_file} [test] items 0..8"]  # the file name drawn as typed


def test_leaderboard_figure_draws_the_worst_case_curve(figure_texts, legend_overlaps):
    from spirograph.harness import ScoreResult
    from spirograph.harness.plots import leaderboard_figure

    data = copy.deepcopy(next(r for r in load_results(shipped_entries()) if r.name == "pixels").to_dict())
    data["metrics"]["worst_case"] = {
        "area": {"value": 2.0, "ci": [1.5, 2.5]}, "average_normalized_mse": {"value": 1.0, "ci": [0.8, 1.2]},
        "curve": [{"epsilon": e, "normalized_mse": {"value": 1 + 4 * e, "ci": [0.8 + 3 * e, 1.2 + 5 * e]},
                   "mean_mse": {"value": 0.1 + e, "ci": [0.05 + e, 0.2 + e]}} for e in (0.125, 0.25, 0.5, 1.0)],
    }
    figure = leaderboard_figure([ScoreResult(data, validate=False)])
    texts = figure_texts(figure)
    assert {"worst case: neighbourhood size ε", "(150 test contents)", "ε (fraction of each nuisance factor's range)",
            "normalized MSE (÷ prior variance)"} <= set(texts)
    assert len([ax for ax in figure.axes if ax.axison]) == 7 and legend_overlaps(figure) == []

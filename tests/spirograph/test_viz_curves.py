"""Training curves: reading metrics.jsonl, one figure for several runs, ``spirograph plot-run``."""

from __future__ import annotations

import json

import pytest

from spirograph.cli import main
from spirograph.harness.plots import entry_colour
from spirograph.viz import CURVES_FILE, read_metrics, training_curves, write_run_curves


def _run_dir(folder, losses, extra=None):
    folder.mkdir(parents=True)
    lines = []
    for step, loss in enumerate(losses, start=1):
        record = {"step": step * 10, "epoch": 0, "loss": loss, "lr": 0.1 / step, "pairs_per_s": 100.0 + step, **(extra or {})}
        lines.append(json.dumps(record))
    (folder / "metrics.jsonl").write_text("\n".join(reversed(lines)) + "\n")
    return folder


def test_read_metrics_sorts_and_checks(tmp_path):
    run = _run_dir(tmp_path / "a", [3.0, 2.0, 1.0])
    records = read_metrics(run)
    assert [r["step"] for r in records] == [10, 20, 30]
    assert read_metrics(run / "metrics.jsonl") == records
    (tmp_path / "bad.jsonl").write_text('{"step": 1}\nnot json\n')
    with pytest.raises(ValueError, match=r"bad.jsonl.*line 2 is not JSON"):
        read_metrics(tmp_path / "bad.jsonl")
    (tmp_path / "nostep.jsonl").write_text('{"loss": 1}\n')
    with pytest.raises(ValueError, match="integer 'step'.*line 1"):
        read_metrics(tmp_path / "nostep.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(ValueError, match="empty"):
        read_metrics(tmp_path / "empty.jsonl")
    with pytest.raises(FileNotFoundError):
        read_metrics(tmp_path / "missing")


def test_several_runs_on_one_figure_one_colour_each(tmp_path):
    a = _run_dir(tmp_path / "simclr-s0", [4.0, 3.5, float("nan"), 3.0])
    b = _run_dir(tmp_path / "invclr-s0", [4.1, 3.6, 3.2, 3.1], {"nt_xent": 3.0, "penalty": 0.5})
    fig = training_curves([a, b], title="two runs")
    loss, terms, lr, speed = fig.axes
    assert [line.get_label() for line in loss.get_lines()] == ["simclr-s0", "invclr-s0"]
    assert [line.get_color() for line in loss.get_lines()] == [entry_colour("simclr-s0"), entry_colour("invclr-s0")]
    assert len(loss.get_lines()[0].get_xdata()) == 3  # the non-finite value is left out
    assert {line.get_label() for line in terms.get_lines()} == {"invclr-s0: nt_xent", "invclr-s0: penalty"}
    assert len(lr.get_lines()) == 2 and len(speed.get_lines()) == 2


def test_write_run_curves_replaces_and_bad_input(tmp_path):
    run = _run_dir(tmp_path / "r", [1.0, 0.5])
    path = write_run_curves(run)
    assert path == run / CURVES_FILE and path.read_bytes()[:4] == b"\x89PNG"
    write_run_curves(run)  # replaced, not refused: the end of a resumed run draws it again
    with pytest.raises(ValueError, match="at least one run"):
        training_curves([])
    with pytest.raises(ValueError, match="runs"):
        training_curves(42)


def test_plot_run_command(tmp_path, capsys):
    a = _run_dir(tmp_path / "a", [2.0, 1.0])
    b = _run_dir(tmp_path / "b", [2.5, 1.5])
    out = tmp_path / "both.png"
    assert main(["plot-run", str(a), str(b), "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG" and "2 runs" in capsys.readouterr().out
    assert main(["plot-run", str(a), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exists; pass --overwrite" in err
    assert main(["plot-run", str(tmp_path / "none"), "--out", str(tmp_path / "x.png")]) == 2
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "x.png").exists()

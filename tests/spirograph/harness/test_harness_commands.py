"""``spirograph score`` and ``spirograph leaderboard``: results, one-line errors, nothing written on failure."""

from __future__ import annotations

import json
import os
import textwrap

import pytest
import torch

from spirograph.cli import main
from spirograph.harness import ScoreResult
from spirograph.harness.leaderboard import shipped_entries


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "cli_encoders_for_tests.py").write_text(textwrap.dedent("""
        import torch
        from torch import nn

        def build():
            torch.manual_seed(0)
            return nn.Sequential(nn.AvgPool2d(8), nn.Flatten())

        def linear():
            return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 4))

        def nan_encoder():
            return lambda images: torch.full((images.shape[0], 3), float("nan"))
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return "cli_encoders_for_tests"


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_score_reference_writes_a_valid_result(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "score", "--reference", "oracle", "--tasks", "linear,invariance", "--out", "o.json",
                         "--disclose", "note=ceiling", "--quiet")
    assert code == 0, err
    result = ScoreResult.load(tmp_path / "o.json")
    data = result.to_dict()
    assert data["tasks"] == ["linear", "invariance"]
    assert data["command"] == "spirograph score --reference oracle --suite quick --tasks linear,invariance --disclose note=ceiling --out o.json"
    assert data["disclosures"]["note"] == "ceiling" and data["disclosures"]["uses_nuisance_labels"] is False
    assert result.metric("linear.mean_r2") >= 0.999


def test_score_user_encoder_with_weights(capsys, user_module, tmp_path):
    from cli_encoders_for_tests import linear

    torch.save(linear().state_dict(), tmp_path / "w.pt")
    code, out, err = run(capsys, "score", "--encoder", f"{user_module}:linear", "--weights", "w.pt", "--tasks", "linear",
                         "--disclose", "uses_nuisance_labels=false", "--disclose", "test_time_passes=1", "--out", "r.json")
    assert code == 0, err
    assert "wrote r.json" in out
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["encoder"]["parameters"] == 3 * 32 * 32 * 4 + 4
    assert data["disclosures"] == {"uses_nuisance_labels": False, "test_time_passes": 1}
    assert data["name"] == "linear"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--reference", "oracle", "--suite", "quik"], "unknown suite 'quik'; did you mean 'quick'?"),
        (["--reference", "oracle", "--tasks", "linera"], "unknown task 'linera'; did you mean 'linear'?"),
        (["--reference", "orcle"], "unknown reference encoder 'orcle'; did you mean 'oracle'?"),
        (["--encoder", "{m}:nan_encoder"], "non-finite features"),
        (["--encoder", "{m}:build", "--weights", "missing.pt"], "does not exist"),
        (["--encoder", "{m}:linear", "--weights", "garbage.pt"], "does not load with torch.load"),
        (["--encoder", "{m}:nope"], "unknown callable in module"),
        (["--encoder", "{m}"], "MODULE:CALLABLE"),
        (["--reference", "oracle", "--disclose", "novalue"], "KEY=VALUE"),
        (["--reference", "pixels", "--weights", "w.pt"], "no weights with --reference"),
    ],
)
def test_score_errors_write_nothing(capsys, user_module, tmp_path, argv, message):
    (tmp_path / "garbage.pt").write_bytes(b"\x00junk")
    before = sorted(os.listdir(tmp_path))
    argv = [a.format(m=user_module) for a in argv]
    code, out, err = run(capsys, "score", *argv, "--out", "r.json", "--quiet")
    assert code == 2
    assert message in err and err.startswith("spirograph score: error:") and err.count("\n") == 1
    assert sorted(os.listdir(tmp_path)) == before


def test_score_refuses_existing_output(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.json").write_text("keep me")
    code, _, err = run(capsys, "score", "--reference", "oracle", "--tasks", "linear", "--out", "r.json", "--quiet")
    assert code == 2 and "exists; pass overwrite (--overwrite)" in err
    assert (tmp_path / "r.json").read_text() == "keep me"
    code, _, err = run(capsys, "score", "--reference", "oracle", "--tasks", "linear", "--out", "r.json", "--quiet", "--overwrite")
    assert code == 0, err
    ScoreResult.load(tmp_path / "r.json")


def test_leaderboard_command(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "leaderboard", "--references")
    assert code == 0, err
    assert out.startswith("# Spirograph leaderboard") and "| 1 | oracle |" in out
    code, _, err = run(capsys, "leaderboard", *map(str, shipped_entries()), "--out", "board.md", "--plot", "board.png")
    assert code == 0, err
    assert (tmp_path / "board.md").read_text().startswith("# Spirograph leaderboard")
    assert (tmp_path / "board.png").stat().st_size > 1000
    code, _, err = run(capsys, "leaderboard", "--references", "--out", "board.md")
    assert code == 2 and "exists" in err


def test_leaderboard_rejects_invalid_files(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.json").write_text(json.dumps({"schema_version": 1, "name": "x"}))
    code, _, err = run(capsys, "leaderboard", "bad.json", "--out", "board.md")
    assert code == 2 and "bad.json" in err
    assert not (tmp_path / "board.md").exists()
    code, _, err = run(capsys, "leaderboard")
    assert code == 2 and "at least one result file" in err
    code, _, err = run(capsys, "leaderboard", "--references", "--plot", "x.gif")
    assert code == 2 and ".png" in err

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
    assert data["name"] == "cli_encoders_for_tests.linear"  # module and callable: entries of two modules differ


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--reference", "oracle", "--suite", "quik"], "unknown suite 'quik'; did you mean 'quick'?"),
        (["--reference", "oracle", "--tasks", "linera"], "unknown task 'linera'; did you mean 'linear'?"),
        (["--reference", "orcle"], "unknown reference encoder 'orcle'; did you mean 'oracle'?"),
        (["--encoder", "{m}:nan_encoder"], "non-finite features"),
        (["--encoder", "{m}:build", "--weights", "missing.pt"], "does not exist"),
        (["--encoder", "{m}:linear", "--weights", "garbage.pt"], "does not load with torch.load"),
        (["--encoder", "{m}:nope"], "has no callable 'nope'; callables defined in it: build, linear, nan_encoder"),
        (["--encoder", "{m}:buld"], "has no callable 'buld'; did you mean 'build'? callables defined in it: build, linear"),
        (["--encoder", "{m}:torch"], "callables defined in it: build"),
        (["--encoder", "missing_file.py:build"], "an existing Python file (no file 'missing_file.py')"),
        (["--encoder", "{m}.py:nope"], "has no callable 'nope'; callables defined in it: build, linear, nan_encoder"),
        (["--encoder", "broken.py:build"], "loading"),
        (["--encoder", "{m}"], "MODULE:CALLABLE"),
        (["--reference", "oracle", "--disclose", "novalue"], "KEY=VALUE"),
        (["--reference", "pixels", "--weights", "w.pt"], "no weights with --reference"),
    ],
)
def test_score_errors_write_nothing(capsys, user_module, tmp_path, argv, message):
    (tmp_path / "garbage.pt").write_bytes(b"\x00junk")
    (tmp_path / "broken.py").write_text("raise RuntimeError('no\\nsecond line')\n")
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
    assert code == 2 and "exists; pass --overwrite" in err
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


def _unwritable_directory(tmp_path):
    """A directory where no file can be created: mode 0o555, or (as root, who ignores modes) /sys."""
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    try:
        os.close(os.open("/sys/.spirograph-probe", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError:
        return "/sys"
    pytest.skip("no directory refuses new files here (running as root with a writable /sys)")


def test_score_into_an_unwritable_directory_fails_before_scoring(capsys, tmp_path, monkeypatch):
    folder = _unwritable_directory(tmp_path)

    def never(*args, **kwargs):
        raise AssertionError("scoring started before the output was checked")

    monkeypatch.setattr(__import__("sys").modules["spirograph.harness.score"], "score", never)
    for out in (f"{folder}/r.json", str(tmp_path / "missing" / "r.json")):
        code, _, err = run(capsys, "score", "--reference", "oracle", "--tasks", "linear", "--out", out, "--quiet")
        assert code == 2 and err.count("\n") == 1 and out in err
        assert "not writable" in err or "does not exist" in err


def test_score_user_encoder_from_a_file(capsys, tmp_path, monkeypatch):
    (tmp_path / "myenc.py").write_text("from torch import nn\n\ndef build():\n    return nn.Sequential(nn.AvgPool2d(8), nn.Flatten())\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", [p for p in __import__("sys").path if p not in ("", ".", str(tmp_path))])
    code, _, err = run(capsys, "score", "--encoder", "myenc:build", "--tasks", "linear", "--out", "r.json", "--quiet")
    assert code == 2 and "pass --encoder myenc.py:build" in err and err.count("\n") == 1
    code, out, err = run(capsys, "score", "--encoder", "./myenc.py:build", "--tasks", "linear", "--out", "r.json")
    assert code == 0, err
    # The entry is named after the file and the callable, and the command says how to choose another name.
    assert ScoreResult.load(tmp_path / "r.json").name == "myenc.build"
    assert "entry name 'myenc.build' comes from --encoder; set another with --name NAME" in out
    # No disclosures given: one line says which are missing and what the leaderboard will show.
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert notes == ["note: r.json discloses no uses_nuisance_labels and no test_time_passes: the leaderboard will show — "
                     "there (score again with --disclose uses_nuisance_labels=... --disclose test_time_passes=...)"]


def test_score_refuses_a_bad_name_before_any_work(capsys, tmp_path, monkeypatch):
    import sys

    from spirograph.harness import score

    score_module = sys.modules["spirograph.harness.score"]  # the package exports the function under the module's name

    def never(*args, **kwargs):
        raise AssertionError("scoring started")

    monkeypatch.setattr(score_module, "_run", never)
    monkeypatch.setattr("spirograph.harness.encoders.reference_encoder", never)
    for name in ("a\nb", " ", "x" * 201, "rtl\u202eevil", "tab\tname"):
        with pytest.raises(ValueError, match=r"name=.*: expected a non-blank, one-line name of at most 200 printable characters"):
            score(lambda images: images.flatten(1), name=name, suite="demo")
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "score", "--reference", "oracle", "--name", "a\nb", "--out", "r.json")
    assert code == 2 and err.count("\n") == 1 and "--name='a\\nb': expected a non-blank, one-line name" in err
    assert not (tmp_path / "r.json").exists()

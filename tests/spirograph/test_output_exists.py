"""One wording, from every command, for an output that exists (spirograph._io's), and nothing replaced."""

from __future__ import annotations

import shutil

import pytest

from spirograph.cli import main
from spirograph.harness.leaderboard import shipped_entries


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["generate", "d.h5", "--train", "16", "--test", "8", "--seed", "0"]) == 0
    shutil.copy(shipped_entries()[0], tmp_path / "o.json")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.jsonl").write_text('{"step": 1, "loss": 1.0}\n')
    return tmp_path


@pytest.mark.parametrize(
    "argv, output",
    [
        (["generate", "d.h5", "--train", "16", "--test", "8", "--seed", "0"], "d.h5"),
        (["show", "d.h5", "--out", "x.png"], "x.png"),
        (["score", "--reference", "oracle", "--tasks", "linear", "--out", "x.json", "--quiet"], "x.json"),
        (["leaderboard", "o.json", "--out", "x.md"], "x.md"),
        (["leaderboard", "o.json", "--html", "x.html"], "x.html"),
        (["leaderboard", "o.json", "--plot", "x.png"], "x.png"),
        (["plot-run", "run", "--out", "x.png"], "x.png"),
    ],
)
def test_existing_output_same_message(folder, capsys, argv, output):
    target = folder / output
    if not target.exists():
        target.write_bytes(b"keep")
    before = target.read_bytes()
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == f"spirograph {argv[0]}: error: output '{output}' exists; pass overwrite (--overwrite) to replace it\n"
    assert target.read_bytes() == before

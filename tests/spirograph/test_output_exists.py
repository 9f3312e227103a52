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
    assert err == f"spirograph {argv[0]}: error: output '{output}' exists; pass --overwrite to replace it\n"
    assert target.read_bytes() == before


@pytest.mark.parametrize(
    "argv, victim, message",
    [
        (["score", "--encoder", "enc.py:build", "--weights", "w.pt", "--out", "w.pt"], "w.pt", "it is the --weights file 'w.pt'"),
        (["score", "--encoder", "enc.py:build", "--out", "enc.py"], "enc.py", "it is the --encoder file 'enc.py'"),
        (["show", "d.h5", "--out", "d.h5"], "d.h5", "it is the split file 'd.h5'"),
        (["plot-run", "run", "--out", "run/metrics.jsonl"], "run/metrics.jsonl", "it is the input 'run''s log"),
        (["leaderboard", "o.json", "--out", "o.json"], "o.json", "it is the input result file 1 'o.json'"),
    ],
)
@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]], ids=["", "overwrite"])
def test_no_command_writes_over_its_own_input(folder, capsys, argv, victim, message, overwrite):
    import torch

    (folder / "enc.py").write_text("import torch\ndef build():\n    return torch.nn.Flatten()\n")
    torch.save({}, folder / "w.pt")
    (folder / "alias.h5").hardlink_to(folder / "d.h5")
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    capsys.readouterr()
    assert main(argv + overwrite) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "expected a file that is not one of the command's inputs" in err and message in err, err
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before
    assert (folder / victim).exists()


def test_an_input_under_another_name_is_still_refused(folder, capsys):
    (folder / "alias.h5").hardlink_to(folder / "d.h5")
    assert main(["show", "d.h5", "--out", "alias.h5", "--overwrite"]) == 2
    assert "it is the split file 'd.h5'" in capsys.readouterr().err

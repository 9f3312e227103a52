"""``spirograph generate | verify | info | show``: exit codes, one-line errors, kill and resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import h5py
import pytest

import spirograph.cli as cli
from spirograph.splits import partial_path

ALL_COMMAND_MODULES = cli.COMMAND_MODULES
GEN = ["--train", "48", "--test", "16", "--seed", "2", "--shifts", "h_mean:0.3", "--chunk-size", "8", "--quiet"]

# Runs the command line in a child process; every rendered chunk prints a line and pauses a
# little, and the third waits long enough for any signal, so the parent interrupts it at a known
# point of progress however loaded the machine is.
CHILD = textwrap.dedent(
    """
    import signal, sys, time
    # A background parent (nohup, CI runners) may start us with SIGINT ignored; a user's Ctrl-C is not.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import spirograph.cli as cli
    import spirograph.splits.writer as writer
    cli.COMMAND_MODULES = ("spirograph.splits.commands",)
    render = writer.render_items
    done = [0]
    def traced(*args, **kwargs):
        out = render(*args, **kwargs)
        done[0] += 1
        print("chunk", flush=True)
        time.sleep(30 if done[0] == 3 else 0.05)
        return out
    writer.render_items = traced
    sys.exit(cli.main(sys.argv[1:]))
    """
)


@pytest.fixture(autouse=True)
def only_h5_commands(monkeypatch):
    # These tests exercise this module's commands; other command modules are tested elsewhere.
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("spirograph.splits.commands",))


@pytest.mark.parametrize("command", ["generate", "verify", "info", "show"])
def test_commands_answer_help_in_the_full_cli(monkeypatch, capsys, command):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ALL_COMMAND_MODULES)
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0 and command in capsys.readouterr().out


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def datasets(path) -> dict:
    with h5py.File(path, "r") as f:
        return {f"{s}/{k}": f[s][k][()].tobytes() for s in ("train", "test", "shift/h_mean+0.3") for k in ("images", "content", "nuisance")}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "ref.h5"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli, "COMMAND_MODULES", ("spirograph.splits.commands",))
        assert cli.main(["generate", str(path), *GEN]) == 0
    return path


def test_generate_info_verify_show(tmp_path, capsys):
    out = tmp_path / "d.h5"
    code, stdout, _ = run(capsys, "generate", out, *GEN)
    assert code == 0 and out.exists() and "wrote" in stdout
    code, stdout, _ = run(capsys, "info", out)
    assert code == 0 and "shift/h_mean+0.3" in stdout and "seed 2" in stdout
    code, stdout, _ = run(capsys, "verify", out, "--sample", "4")
    assert code == 0 and "OK" in stdout
    grid = tmp_path / "grid.png"
    code, _, _ = run(capsys, "show", out, "--out", grid, "--n", "9", "--split", "test")
    assert code == 0 and grid.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, err = run(capsys, "show", out, "--out", grid)
    assert code == 2 and "exists; pass --overwrite" in err and len(err.strip().splitlines()) == 1
    assert run(capsys, "show", out, "--out", grid, "--overwrite")[0] == 0


def test_generate_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "d.h5"
    out.write_bytes(b"precious")
    code, _, err = run(capsys, "generate", out, *GEN)
    assert code == 2 and "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert out.read_bytes() == b"precious" and os.listdir(tmp_path) == ["d.h5"]
    assert run(capsys, "generate", out, *GEN, "--overwrite")[0] == 0


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--train", "0"], "error: --train=0: expected an integer >= 1"),
        (["--test", "-5"], "error: --test=-5: expected an integer >= 1"),
        (["--chunk-size", "0"], "error: --chunk-size=0: expected an integer >= 1"),
        (["--dtype", "int8"], "error: --dtype='int8': expected one of"),
        (["--shifts", "bg_men"], "unknown shift 'bg_men'; did you mean 'bg_mean'?"),
        (["--shifts", "background"], "unknown shift 'background'; did you mean 'bg_mean' or 'bg_width'?"),
        (["--shifts", "h"], "unknown shift 'h'; did you mean 'h_mean' or 'h_width'?"),
        (["--compression", "zstd"], "error: --compression='zstd': expected one of"),
        (["--range", "h=3,1"], "low < high"),
        (["--range", "h=oops"], "NAME=LOW,HIGH"),
        (["--pin", "sigma=0"], "sigma > 0"),
        (["--content", "m,zz"], "unknown factor 'zz'"),
        (["--workers", "0"], "error: --workers=0: expected an integer >= 1"),
        (
            ["--shifts", "bg_width:-0.4"],
            "error: shift bg_width-0.4 (background width change Δv -0.4) gives bg_r the range [0.4, 0.2]; "
            "expected a level whose shifted ranges keep low < high",
        ),
    ],
)
def test_generate_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, extra, message):
    code, _, err = run(capsys, "generate", tmp_path / "x.h5", *GEN, *extra)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert os.listdir(tmp_path) == []


def test_generate_into_a_missing_directory(tmp_path, capsys):
    code, _, err = run(capsys, "generate", tmp_path / "no" / "x.h5", *GEN)
    assert code == 2 and "does not exist" in err and len(err.strip().splitlines()) == 1
    assert os.listdir(tmp_path) == []


def test_verify_flipped_byte_exits_nonzero(tmp_path, capsys, reference):
    broken = tmp_path / "broken.h5"
    data = bytearray(reference.read_bytes())
    with h5py.File(reference, "r") as f:
        offset = f["train"]["content"].id.get_offset() + 5
    data[offset] ^= 0x10
    broken.write_bytes(bytes(data))
    code, _, err = run(capsys, "verify", broken)
    assert code == 1 and "FAILED: train: items 0..7 do not match the digest recorded" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", [["verify"], ["info"], ["show", "--out", "g.png"]])
def test_bad_files_are_one_line_errors(tmp_path, capsys, monkeypatch, reference, command):
    text = tmp_path / "text.h5"
    text.write_text("hello")
    truncated = tmp_path / "trunc.h5"
    truncated.write_bytes(reference.read_bytes()[:4000])
    monkeypatch.chdir(tmp_path)
    for path, message in ((text, "not an HDF5 file"), (truncated, "truncated"), (tmp_path / "none.h5", "no such file")):
        code, _, err = run(capsys, command[0], path, *command[1:])
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert sorted(os.listdir(tmp_path)) == ["text.h5", "trunc.h5"]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_killed_run_leaves_no_file_and_resumes_identically(tmp_path, capsys, reference, sig):
    out = tmp_path / "killed.h5"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, "generate", str(out), *GEN],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(3):
            assert child.stdout.readline().strip() == "chunk"
        child.send_signal(sig)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert not out.exists() and partial_path(out).exists()
    if sig == signal.SIGINT:
        assert child.returncode == 130 and "--resume" in err and len(err.strip().splitlines()) == 1
    else:
        assert child.returncode == -signal.SIGKILL
    code, _, err = run(capsys, "generate", out, *GEN)
    assert code == 2 and "--resume" in err  # the partial file is not silently discarded
    assert run(capsys, "generate", out, *GEN, "--resume")[0] == 0
    assert not partial_path(out).exists()
    assert datasets(out) == datasets(reference)
    assert run(capsys, "verify", out)[0] == 0

"""Interrupts of ``spirograph generate``, with and without workers, at every moment of a run.

Each case runs the command in a child process in its own process group, holds it at one moment
(the child prints a line there and waits), and sends the signal a terminal's Ctrl-C sends (SIGINT
to the whole group), a SIGTERM or a SIGKILL. The hold makes the moment certain however loaded the
machine is: nothing here depends on how long anything takes. Every interrupt must stop the run
with exit status 130 and one line, keep the partial file, and resume to the same datasets.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import h5py
import pytest

import spirograph.cli as cli
from spirograph.splits import partial_path, verify

GEN = ["--train", "24", "--test", "8", "--seed", "4", "--chunk-size", "4", "--quiet"]

# argv: MOMENT then the command line. The hooks print the moment's name once and hold there until
# a signal arrives (a deadline only keeps a broken test from hanging forever).
CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    # A background parent (nohup, CI runners) may start us with SIGINT ignored; a user's Ctrl-C is not.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import spirograph.cli as cli
    import spirograph._io as io
    import spirograph.splits.digests as digests
    import spirograph.splits.workers as workers
    import spirograph.splits.writer as writer
    cli.COMMAND_MODULES = ("spirograph.splits.commands",)
    moment = sys.argv.pop(1)
    calls = {}

    def hold(name, times=1):
        calls[name] = calls.get(name, 0) + 1
        if calls[name] != times:
            return
        print(name, flush=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(0.01)

    def wrap(owner, attribute, name, before=True, times=1):
        original = getattr(owner, attribute)
        def hooked(*args, **kwargs):
            if before and moment == name:
                hold(name, times)
            out = original(*args, **kwargs)
            if not before and moment == name:
                hold(name, times)
            return out
        setattr(owner, attribute, hooked)

    class Finalized:
        def __del__(self):  # an interrupt raised here is "ignored" by Python: it must not be lost
            hold("finalizer", 1)

    wrap(workers.subprocess, "Popen", "starting", before=False, times=2)  # both workers are starting up
    wrap(workers, "_receive", "waiting", times=3)
    wrap(digests, "append", "writing", times=3)  # images, content, nuisance written; digest not yet
    wrap(digests, "read_chunk", "checking", times=2)
    original_write = writer._write_chunk
    def write_chunk(*args, **kwargs):
        original_write(*args, **kwargs)
        if moment == "finalizer" and calls.get("chunks", 0) == 2:
            Finalized()  # dropped at once: __del__ runs inside the chunk loop
        calls["chunks"] = calls.get("chunks", 0) + 1
        if moment == "chunk":
            hold("chunk", 3)
    writer._write_chunk = write_chunk
    link = os.link
    def linked(source, target):
        link(source, target)
        if moment == "published":
            print("published", flush=True)
            os.kill(os.getpid(), signal.SIGINT)  # arrives between the link and the unlink
        if moment == "killed-after-link":
            os.kill(os.getpid(), signal.SIGKILL)
    io.os.link = linked
    sys.exit(cli.main(sys.argv[1:]))
    """
)


@pytest.fixture(autouse=True)
def only_split_commands(monkeypatch):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("spirograph.splits.commands",))


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def datasets(path) -> dict:
    with h5py.File(path, "r") as f:
        return {f"{s}/{k}": f[s][k][()].tobytes() for s in ("train", "test") for k in ("images", "content", "nuisance")}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    path = tmp_path_factory.mktemp("signals") / "ref.h5"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli, "COMMAND_MODULES", ("spirograph.splits.commands",))
        assert cli.main(["generate", str(path), *GEN]) == 0
    return path


def interrupted(moment: str, out, *extra, sig=signal.SIGINT, group=True):
    """Run ``generate`` held at ``moment``, send ``sig`` (to the process group: what Ctrl-C does); return (code, stderr)."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, moment, "generate", str(out), *GEN, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        line = child.stdout.readline().strip()
        assert line == moment, (line, child.stderr.read() if child.poll() is not None else "")
        if moment != "published":  # that child signals itself
            (os.killpg if group else os.kill)(child.pid, sig)
        _, err = child.communicate(timeout=120)  # also waits for workers: they hold the same stderr
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return child.returncode, err


@pytest.mark.parametrize(
    "moment, workers, sig",
    [
        ("starting", 2, signal.SIGINT),  # worker processes are starting up
        ("waiting", 2, signal.SIGINT),  # waiting for a worker's chunk
        ("waiting", 2, signal.SIGTERM),
        ("writing", 1, signal.SIGINT),  # a chunk half written: its rows stored, its digest not yet
        ("finalizer", 2, signal.SIGINT),  # Python swallows an interrupt raised in a finalizer
    ],
)
def test_an_interrupt_stops_the_run_with_one_line_and_resumes(tmp_path, capsys, reference, moment, workers, sig):
    out = tmp_path / "i.h5"
    code, err = interrupted(moment, out, "--workers", str(workers), sig=sig, group=sig == signal.SIGINT)
    assert code == 130, err
    assert err == f"spirograph generate: error: interrupted; completed chunks are kept in '{partial_path(out)}': rerun with --resume to continue\n"
    assert sorted(os.listdir(tmp_path)) == ["i.h5.partial"]
    assert run(capsys, "generate", out, *GEN, "--resume")[0] == 0
    assert datasets(out) == datasets(reference) and verify(out).ok
    assert sorted(os.listdir(tmp_path)) == ["i.h5"]


def test_an_interrupt_while_resuming_is_not_lost(tmp_path, capsys, reference):
    out = tmp_path / "r.h5"
    code, _ = interrupted("chunk", out)
    assert code == 130
    code, err = interrupted("checking", out, "--resume")
    assert code == 130 and len(err.splitlines()) == 1 and "rerun with --resume" in err, err
    assert sorted(os.listdir(tmp_path)) == ["r.h5.partial"]
    assert run(capsys, "generate", out, *GEN, "--resume")[0] == 0
    assert datasets(out) == datasets(reference)


def test_an_interrupt_while_publishing_finishes_the_file_and_says_so(tmp_path, capsys, reference):
    out = tmp_path / "p.h5"
    code, err = interrupted("published", out)
    assert code == 130
    assert err == f"spirograph generate: error: interrupted after '{out}' was written completely; there is nothing to resume\n"
    assert sorted(os.listdir(tmp_path)) == ["p.h5"] and datasets(out) == datasets(reference) and verify(out).ok


def test_a_run_killed_between_link_and_unlink_leaves_no_second_name(tmp_path, capsys, reference):
    out = tmp_path / "k.h5"
    child = subprocess.run(
        [sys.executable, "-c", CHILD, "killed-after-link", "generate", str(out), *GEN], capture_output=True, text=True, timeout=120
    )
    assert child.returncode == -signal.SIGKILL
    assert os.path.samefile(out, partial_path(out))  # what SIGKILL at that moment leaves
    code, _, err = run(capsys, "generate", out, *GEN, "--resume")
    assert code == 2 and err == f"spirograph generate: error: output '{out}' is complete: there is nothing to resume (pass --overwrite to write it again)\n"
    assert sorted(os.listdir(tmp_path)) == ["k.h5"] and datasets(out) == datasets(reference) and verify(out).ok


def test_workers_of_a_killed_parent_leave_quietly(tmp_path):
    out = tmp_path / "w.h5"
    code, err = interrupted("waiting", out, "--workers", "2", sig=signal.SIGKILL, group=False)
    # communicate() returned: every worker has exited (they held the child's stderr open).
    assert code == -signal.SIGKILL and err == ""
    assert sorted(os.listdir(tmp_path)) == ["w.h5.lock", "w.h5.partial"]


def test_verify_of_a_partial_file_being_written_names_its_writer(tmp_path, capsys):
    out = tmp_path / "v.h5"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, "chunk", "generate", str(out), *GEN], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "chunk"
        for command in ("verify", "info"):
            code, _, err = run(capsys, command, partial_path(out))
            assert code == 2 and err == (
                f"spirograph {command}: error: '{partial_path(out)}' is being written by process {child.pid} (spirograph generate); "
                "wait for it to finish\n"
            )
        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=120) == 130
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    code, _, err = run(capsys, "verify", partial_path(out))  # the writer is gone: an interrupted file
    assert code == 2 and "is incomplete (its writer did not finish; resume it with spirograph generate --resume)" in err

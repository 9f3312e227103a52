"""What a split file survives: a second writer, a byte damaged in a finished chunk, a full disk, a resume of nothing."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

import spirograph.cli as cli
import spirograph.splits.writer as writer
from spirograph.splits import digests, generate, partial_path, verify

GEN = ["--train", "48", "--test", "16", "--seed", "2", "--shifts", "h_mean:0.3", "--chunk-size", "8", "--quiet"]
SPLITS = ("train", "test", "shift/h_mean+0.3")

# A writer that stops after its first chunk until the file named by argv[1] appears.
HELD_WRITER = textwrap.dedent(
    """
    import os, sys, time
    import spirograph.cli as cli
    import spirograph.splits.writer as writer
    release = sys.argv.pop(1)
    write = writer._write_chunk
    def held(*args, **kwargs):
        write(*args, **kwargs)
        print("chunk", flush=True)
        deadline = time.monotonic() + 120
        while not os.path.exists(release) and time.monotonic() < deadline:
            time.sleep(0.02)
    writer._write_chunk = held
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
        return {f"{s}/{k}": f[s][k][()].tobytes() for s in SPLITS for k in ("images", "content", "nuisance")}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    path = tmp_path_factory.mktemp("reference") / "ref.h5"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli, "COMMAND_MODULES", ("spirograph.splits.commands",))
        assert cli.main(["generate", str(path), *GEN]) == 0
    return path


def test_a_second_writer_is_refused_and_the_live_partial_is_kept(tmp_path, capsys, reference):
    out, release = tmp_path / "cc.h5", tmp_path / "release"
    first = subprocess.Popen(
        [sys.executable, "-c", HELD_WRITER, str(release), "generate", str(out), *GEN],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.stdout.readline().strip() == "chunk"  # the first writer is live, mid-file
        before = partial_path(out).stat()
        for extra in (["--resume"], [], ["--overwrite"]):
            code, _, err = run(capsys, "generate", out, *GEN, *extra)
            assert code == 2 and len(err.strip().splitlines()) == 1, err
            assert f"is being written by process {first.pid}" in err
            assert partial_path(out).exists() and partial_path(out).stat().st_ino == before.st_ino  # not deleted, not replaced
        release.touch()
        _, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, err
    assert sorted(os.listdir(tmp_path)) == ["cc.h5", "release"]  # no partial, no lock file left
    assert datasets(out) == datasets(reference) and verify(out).ok


def _interrupted(out, after: int) -> None:
    calls = []

    def stop(split, done, n):
        calls.append(split)
        if len(calls) == after:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(out, seed=2, train=48, test=16, shifts="h_mean:0.3", chunk_size=8, progress=False, on_chunk=stop)


def test_resume_renders_a_damaged_chunk_again(tmp_path, capsys, reference):
    out = tmp_path / "flip.h5"
    _interrupted(out, after=4)  # train items 0..31 are written and recorded
    partial = partial_path(out)
    with h5py.File(partial, "r") as f:
        offset = f["train"]["images"].id.get_offset() + 3 * 32 * 32 * 9 + 100  # inside item 9: chunk 8..15
    data = bytearray(partial.read_bytes())
    data[offset] ^= 0x40
    partial.write_bytes(bytes(data))
    code, _, err = run(capsys, "generate", out, *GEN, "--resume")
    assert code == 0
    assert "note: train: items 8..15 do not match the digest recorded when they were written; rendering them again" in err
    assert datasets(out) == datasets(reference) and verify(out).ok


def test_verify_checks_the_digest_of_every_chunk(tmp_path, reference):
    broken = tmp_path / "broken.h5"
    broken.write_bytes(reference.read_bytes())
    with h5py.File(broken, "r") as f:
        offset = f["shift/h_mean+0.3"]["nuisance"].id.get_offset() + 4 * 6 * 9 + 1  # item 9: chunk 8..15
    data = bytearray(broken.read_bytes())
    data[offset] ^= 0x01
    broken.write_bytes(bytes(data))
    problems = verify(broken, sample=0).problems
    assert problems[0] == "shift/h_mean+0.3: items 8..15 do not match the digest recorded when they were written"


def test_a_full_disk_keeps_the_partial_file_and_resume_finishes(tmp_path, capsys, monkeypatch, reference):
    out = tmp_path / "full.h5"
    write, calls = writer._write_chunk, []

    def disk_full(*args, **kwargs):
        calls.append(1)
        if len(calls) == 7:
            raise OSError(errno.ENOSPC, "No space left on device")
        write(*args, **kwargs)

    monkeypatch.setattr(writer, "_write_chunk", disk_full)
    code, _, err = run(capsys, "generate", out, *GEN)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "No space left on device" in err and "--resume" in err and "kept" in err
    assert sorted(os.listdir(tmp_path)) == ["full.h5.partial"]
    with h5py.File(partial_path(out), "r") as f:
        assert int(f["train"].attrs["n_done"]) == 48 and int(f["test"].attrs["n_done"]) == 0  # six chunks kept
    monkeypatch.setattr(writer, "_write_chunk", write)  # space freed
    assert run(capsys, "generate", out, *GEN, "--resume")[0] == 0
    assert sorted(os.listdir(tmp_path)) == ["full.h5"]
    assert datasets(out) == datasets(reference) and verify(out).ok


def test_resume_without_a_partial_file_is_an_error(tmp_path, capsys):
    code, _, err = run(capsys, "generate", tmp_path / "none.h5", *GEN, "--resume")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "no partial file" in err and "none.h5.partial" in err and "without --resume" in err
    assert os.listdir(tmp_path) == []
    with pytest.raises(FileNotFoundError, match="no partial file"):
        generate(tmp_path / "none.h5", seed=0, train=4, test=4, resume=True, progress=False)
    assert os.listdir(tmp_path) == []


def test_a_partial_file_of_another_format_version_is_not_resumed(tmp_path):
    out = tmp_path / "old.h5"
    _interrupted(out, after=2)
    with h5py.File(partial_path(out), "r+") as f:
        f.attrs["format_version"] = 1  # as the 0.1 writer left it: no chunk digests to check
    with pytest.raises(ValueError, match="format version 1"):
        generate(out, seed=2, train=48, test=16, shifts="h_mean:0.3", chunk_size=8, progress=False, resume=True)
    assert partial_path(out).exists()
    generate(out, seed=2, train=48, test=16, shifts="h_mean:0.3", chunk_size=8, progress=False, resume=True, overwrite=True)
    assert verify(out).ok and sorted(os.listdir(tmp_path)) == ["old.h5"]


def _raw_digests(path, split) -> list[bytes]:
    """The digests as stored, byte for byte (numpy's ``S`` values would drop trailing zeros)."""
    with h5py.File(path, "r") as f:
        table = f[split]["chunk_digests"]
        return [r["sha256"].tobytes() for r in table[()]]


def test_a_digest_that_ends_in_a_zero_byte_verifies_and_resumes(tmp_path):
    # Seed 17: the digest of test items 0..3 ends in 0x00 (numpy's S32 read it back 31 bytes long).
    kwargs = dict(seed=17, train=8, test=8, chunk_size=4, progress=False)
    out = tmp_path / "zero.h5"
    generate(out, **kwargs)
    stored = _raw_digests(out, "test")
    assert len(stored[0]) == 32 and stored[0][-1] == 0
    assert verify(out).ok, verify(out).problems
    seen, notes = [], []

    def interrupt(split, done, n):
        seen.append(split)
        if len(seen) == 4:  # test items 0..7 are written: the zero-ending chunk is checked on resume
            raise KeyboardInterrupt

    again = tmp_path / "again.h5"
    with pytest.raises(KeyboardInterrupt):
        generate(again, on_chunk=interrupt, **kwargs)
    generate(again, resume=True, report=notes.append, **kwargs)
    assert notes == []  # the good chunk is not rendered again
    assert verify(again).ok and datasets_of(again) == datasets_of(out)


def test_a_format_2_file_with_a_zero_ending_digest_verifies(tmp_path):
    out = tmp_path / "v2.h5"
    generate(out, seed=17, train=8, test=8, chunk_size=4, progress=False)
    with h5py.File(out, "r+") as f:  # the table as format 2 stored it: S32 digests
        f.attrs["format_version"] = 2
        for split in ("train", "test"):
            table = f[split]["chunk_digests"][()]
            del f[split]["chunk_digests"]
            old = np.array([(r["start"], r["stop"], r["sha256"].tobytes()) for r in table], dtype=digests.RECORD_V2)
            f[split].create_dataset("chunk_digests", data=old, maxshape=(None,))
    with h5py.File(out, "r") as f:
        assert len(bytes(f["test"]["chunk_digests"][0]["sha256"])) == 31  # what numpy gives back
    report = verify(out)
    assert report.ok, report.problems
    with h5py.File(out, "r+") as f:  # and a damaged chunk of a format-2 file is still caught
        f["test"]["content"][1, 0] += 1
    assert verify(out, sample=0).problems[0] == "test: items 0..3 do not match the digest recorded when they were written"


def datasets_of(path) -> dict:
    with h5py.File(path, "r") as f:
        return {f"{s}/{k}": f[s][k][()].tobytes() for s in ("train", "test") for k in ("images", "content", "nuisance")}


def test_a_lock_file_symlink_is_refused_and_its_target_kept(tmp_path, capsys):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "o.h5.lock").symlink_to(victim)
    code, _, err = run(capsys, "generate", tmp_path / "o.h5", *GEN)
    assert code == 2 and err == (
        f"spirograph generate: error: lock file '{tmp_path / 'o.h5.lock'}' is not a regular file (a symbolic link, folder or "
        "device); refusing to use it: remove it if no writer is running\n"
    )
    assert victim.read_text() == "precious" and sorted(os.listdir(tmp_path)) == ["o.h5.lock", "victim"]


def test_a_full_disk_as_hdf5_reports_it_is_one_short_line(tmp_path, capsys, monkeypatch):
    write, calls = writer._write_chunk, []

    def disk_full(*args, **kwargs):  # the text h5py gives for ENOSPC: two lines, a time, a buffer address
        calls.append(1)
        if len(calls) == 3:
            raise OSError(
                "Can't synchronously write data (file write failed: time = Sun Dec  6 02:37:39 2026\n, filename = "
                "'o.h5.partial', file descriptor = 4, errno = 28, error message = 'No space left on device', buf = "
                "0x7fcb3c93fc80, total write size = 5112720, bytes this sub-write = 5112720, offset = 1044480)"
            )
        write(*args, **kwargs)

    monkeypatch.setattr(writer, "_write_chunk", disk_full)
    code, _, err = run(capsys, "generate", tmp_path / "o.h5", *GEN)
    assert code == 2 and err == (
        f"spirograph generate: error: writing '{tmp_path / 'o.h5.partial'}' failed (No space left on device); the partial file "
        "is kept with every finished chunk: fix the cause (free some space) and rerun with --resume\n"
    )

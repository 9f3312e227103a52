"""The one atomic writer: bad destinations, overwrite rules, no partial file, permissions, the lock."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from spirograph._io import OutputLockedError, UnsafeLockError, check_output_path, exclusive_lock, lock_path, write_atomic


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("data", [b"\x00bytes\xff", "text é", lambda p: p.write_bytes(b"by callable")])
def test_writes_each_kind_of_data_with_open_permissions(tmp_path, data):
    path = write_atomic(tmp_path / "out.bin", data)
    expected = data if isinstance(data, bytes) else data.encode() if isinstance(data, str) else b"by callable"
    assert path.read_bytes() == expected
    assert os.listdir(tmp_path) == ["out.bin"]
    assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()  # like a plain open(), not mkstemp's 0600


def test_mode_follows_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        path = write_atomic(tmp_path / "private.txt", "x")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o600


def test_overwrite_semantics(tmp_path):
    path = tmp_path / "keep.txt"
    path.write_text("user data")
    with pytest.raises(FileExistsError, match=r"^output '.*keep.txt' exists; pass overwrite=True to replace it$"):
        write_atomic(path, "new")
    assert path.read_text() == "user data"
    write_atomic(path, "new", overwrite=True)
    assert path.read_text() == "new" and os.listdir(tmp_path) == ["keep.txt"]


def test_a_file_that_appears_during_the_write_is_not_replaced(tmp_path):
    path = tmp_path / "race.txt"

    def write(temporary):
        temporary.write_text("mine")
        path.write_text("theirs")  # another process wins the race

    with pytest.raises(FileExistsError, match="exists"):
        write_atomic(path, write)
    assert path.read_text() == "theirs" and os.listdir(tmp_path) == ["race.txt"]


@pytest.mark.parametrize("error", [RuntimeError("disk on fire"), KeyboardInterrupt(), OSError(28, "No space left on device")])
def test_no_partial_file_on_any_error(tmp_path, error):
    def write(temporary):
        temporary.write_bytes(b"half")
        raise error

    with pytest.raises(type(error)):
        write_atomic(tmp_path / "x.bin", write)
    assert os.listdir(tmp_path) == []


def test_bad_destinations_have_one_wording(tmp_path, monkeypatch):
    (tmp_path / "adir").mkdir()
    cases = [
        (tmp_path / "missing" / "x.txt", FileNotFoundError, r"^directory '.*missing' of output '.*x.txt' does not exist$"),
        (tmp_path / "adir", IsADirectoryError, r"^output '.*adir' is a directory; expected a file path$"),
        ("", ValueError, r"^path='': expected a file path$"),
    ]
    for path, kind, match in cases:
        with pytest.raises(kind, match=match):
            check_output_path(path, overwrite=False)
        with pytest.raises(kind, match=match):
            write_atomic(path, "x", overwrite=True)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.geteuid() == 0:  # root may write anywhere: make the directory look read-only
        monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(PermissionError, match=r"^directory '.*locked' of output '.*x.txt' is not writable$"):
        write_atomic(locked / "x.txt", "x")
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["adir", "locked"] and os.listdir(locked) == []
    with pytest.raises(ValueError, match="data='int'"):
        write_atomic(tmp_path / "y", 3)


def test_dangling_symlink_counts_as_existing(tmp_path):
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileExistsError):
        check_output_path(link, overwrite=False)


def test_lock_refuses_a_second_process_and_names_it(tmp_path):
    target = tmp_path / "out.h5"
    with exclusive_lock(target) as lock:
        assert lock == lock_path(target) and lock.read_text().strip() == str(os.getpid())
        code = textwrap.dedent(
            f"""
            from spirograph._io import exclusive_lock, OutputLockedError
            try:
                with exclusive_lock({str(target)!r}):
                    print("acquired")
            except OutputLockedError as err:
                print(err)
            """
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert f"is being written by process {os.getpid()}" in out and "acquired" not in out
    assert not lock_path(target).exists()
    with exclusive_lock(target):  # free again once released
        pass


def test_a_lock_file_left_by_a_killed_process_does_not_block(tmp_path):
    target = tmp_path / "out.h5"
    lock_path(target).write_text("999999\n")  # its holder is gone: the kernel lock went with it
    with exclusive_lock(target) as lock:
        assert lock.read_text().strip() == str(os.getpid())
    assert os.listdir(tmp_path) == []


def test_lock_error_is_an_oserror(tmp_path):
    assert issubclass(OutputLockedError, OSError)  # the CLI reports OSError as one line, exit 2
    assert issubclass(UnsafeLockError, OSError)


def test_lock_error_message_has_no_errno_prefix(tmp_path):
    target = tmp_path / "out.h5"
    with exclusive_lock(target):
        code = f"from spirograph._io import exclusive_lock\nwith exclusive_lock({str(target)!r}): pass"
        err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stderr.strip().splitlines()[-1]
    assert err.startswith("spirograph._io.OutputLockedError: output ") and "[Errno" not in err


def _lock_victim(tmp_path, kind):
    """Put something that is not this process's lock file at the lock's name; return (victim or None, check)."""
    lock = lock_path(tmp_path / "out.h5")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    if kind == "symlink":
        lock.symlink_to(victim)
    elif kind == "dangling symlink":
        lock.symlink_to(tmp_path / "nowhere")
    elif kind == "folder":
        lock.mkdir()
    elif kind == "fifo":
        os.mkfifo(lock)
    return victim


@pytest.mark.parametrize("kind", ["symlink", "dangling symlink", "folder", "fifo"])
def test_a_lock_file_that_is_not_a_regular_file_is_refused_and_nothing_written(tmp_path, kind):
    victim = _lock_victim(tmp_path, kind)
    with pytest.raises(UnsafeLockError, match=r"^lock file '.*out.h5.lock' is not a regular file .*; refusing to use it"):
        with exclusive_lock(tmp_path / "out.h5"):
            pytest.fail("locked through a " + kind)
    assert victim.read_text() == "precious" and not (tmp_path / "nowhere").exists()
    assert lock_path(tmp_path / "out.h5").is_symlink() or lock_path(tmp_path / "out.h5").exists()  # left as found


def test_a_lock_file_this_process_did_not_create_is_never_truncated(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    os.link(victim, lock_path(tmp_path / "out.h5"))  # a second name of someone's file at the lock's name
    with exclusive_lock(tmp_path / "out.h5") as lock:
        assert lock.read_text().strip() == str(os.getpid()) and not os.path.samefile(lock, victim)
    assert victim.read_text() == "precious" and sorted(os.listdir(tmp_path)) == ["victim.txt"]


def test_every_writer_gives_open_permissions(tmp_path):
    """samples.png, config.json, checkpoint.pt, ... were 0600 when each writer used mkstemp."""
    import torch

    from spirograph.viz import sample_grid
    from spirograph_baselines.checkpoint import atomic_write_text

    sample_grid(torch.rand(4, 3, 8, 8), path=tmp_path / "samples.png")
    atomic_write_text(tmp_path / "config.json", "{}\n")
    write_atomic(tmp_path / "checkpoint.pt", lambda temporary: torch.save({"step": 1}, temporary))
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.pt", "config.json", "samples.png"]
    for name in os.listdir(tmp_path):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~_umask(), name

"""The one way this project writes an output file: checked early, written beside, fsynced, renamed.

``check_output_path`` refuses a bad destination before any work starts, with the same one-line
message wherever it is called; ``write_atomic`` writes through a temporary file in the target's
directory, so a reader sees either the old file, nothing, or the complete new file, and no partial
file is left on any error. ``exclusive_lock`` keeps a second process from writing the same output.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path
from typing import Callable, Iterator, Mapping, Union

from . import _signals
from ._validate import bad_value, option

try:  # POSIX advisory locks; on platforms without fcntl ``exclusive_lock`` cannot lock
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

Data = Union[bytes, str, Callable[[Path], None]]
LOCK_SUFFIX = ".lock"


class OutputLockedError(BlockingIOError):
    """Another live process holds the write lock of this output."""


def exists_message(path: Path) -> str:
    """The one wording of "this output exists" (naming the flag at the command line, the keyword in Python)."""
    return f"output {str(path)!r} exists; pass {option('overwrite')} to replace it"


def check_output_path(path: str | os.PathLike, *, overwrite: bool) -> Path:
    """Check that a file can be written at ``path``; return it as a ``Path``.

    Raises:
        ValueError: ``path`` is not a non-empty path.
        IsADirectoryError: ``path`` is a directory.
        FileExistsError: ``path`` exists and ``overwrite`` is false.
        FileNotFoundError: its directory does not exist.
        PermissionError: its directory is not writable.
    """
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)) or not str(path):
        raise bad_value("path", path, "a file path")
    path = Path(path)
    parent = path.parent
    if path.is_dir():
        raise IsADirectoryError(f"output {str(path)!r} is a directory; expected a file path")
    if not parent.is_dir():
        raise FileNotFoundError(f"directory {str(parent)!r} of output {str(path)!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"directory {str(parent)!r} of output {str(path)!r} is not writable")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise FileExistsError(exists_message(path))
    return path


def disk_full(err: BaseException) -> bool:
    """Whether an error says the disk (or the user's quota) is full, also as HDF5 words it."""
    if not isinstance(err, OSError):
        return False
    return err.errno in (errno.ENOSPC, errno.EDQUOT) or f"errno = {errno.ENOSPC}," in str(err)


def _identity(path: str | os.PathLike):
    # The same inode catches hard links and symbolic links; a path not yet there by its real path.
    try:
        status = os.stat(path)
        return status.st_dev, status.st_ino
    except OSError:
        return os.path.realpath(path)


def refuse_inputs(outputs: Mapping[str, str | os.PathLike | None], inputs: Mapping[str, str | os.PathLike | None]) -> None:
    """Refuse an output that is one of the command's inputs (with or without ``--overwrite``), or two outputs that are one file.

    Args:
        outputs: flag -> output path (None: not asked for), e.g. ``{"--out": "r.json"}``.
        inputs: what names each input -> its path (None: not given), e.g. ``{"--weights": "w.pt"}``.

    Raises:
        ValueError: ``--out 'w.pt': expected a file that is not one of the command's inputs (it is the --weights file 'w.pt')``.
    """
    given = {_identity(path): (what, path) for what, path in inputs.items() if path is not None}
    seen: dict = {}
    for flag, output in outputs.items():
        if output is None:
            continue
        real = _identity(output)
        if real in given:
            what, path = given[real]
            raise bad_value(flag, os.fspath(output), f"a file that is not one of the command's inputs (it is the {what} {os.fspath(path)!r})")
        if real in seen:
            raise bad_value(flag, os.fspath(output), f"a different file from {seen[real]} (each output is written once)")
        seen[real] = flag


def fsync_directory(directory: Path) -> None:
    """Make a rename or link inside ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Flush ``path``'s data to the disk."""
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def publish(temporary: Path, path: Path, *, overwrite: bool) -> None:
    """Move a finished, fsynced ``temporary`` file onto ``path``, then fsync the directory.

    Without ``overwrite`` the move is a hard link, which fails if ``path`` appeared meanwhile, so an
    existing file is never replaced; ``temporary`` is removed either way once ``path`` holds it. Inside
    ``spirograph._signals.interrupts()`` an interrupt waits until the move is done.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false (``temporary`` is kept).
    """
    with _signals.deferred():  # never stop between link and unlink: OUT would keep a second name
        if overwrite:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)
            except FileExistsError:
                raise FileExistsError(exists_message(path)) from None
            except OSError as err:
                if err.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                    raise
                # File systems without hard links: check-then-rename is the best available.
                if path.exists():
                    raise FileExistsError(exists_message(path)) from None
                os.replace(temporary, path)
            else:
                os.unlink(temporary)
    fsync_directory(path.parent)


def temporary_path(path: Path) -> Path:
    """A fresh hidden name beside ``path`` for writing it (``.NAME.<random>.tmp``)."""
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")


def write_atomic(path: str | os.PathLike, data: Data, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically; an existing file is replaced only with ``overwrite``.

    Args:
        path: the output file.
        data: the bytes, a str (written as UTF-8), or a callable ``write(temporary_path)`` that
            writes the file itself (``torch.save``, ``Figure.savefig``, ...).
        overwrite: replace an existing file.

    The file gets the permissions a plain ``open()`` gives (0o666 less the umask). No partial or
    temporary file is left when anything fails, ``KeyboardInterrupt`` included.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        ValueError, IsADirectoryError, FileExistsError, FileNotFoundError, PermissionError: as
        ``check_output_path``; OSError from the write itself.
    """
    if not (isinstance(data, (bytes, bytearray, memoryview, str)) or callable(data)):
        raise bad_value("data", type(data).__name__, "bytes, a str or a callable that writes the given path")
    path = check_output_path(path, overwrite=overwrite)
    temporary = temporary_path(path)
    # O_EXCL: never follow or reuse a file someone else put there; 0o666 lets the umask decide.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        if callable(data):
            os.close(fd)
            fd = -1
            data(temporary)
            fsync_file(temporary)
        else:
            payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
            with os.fdopen(fd, "wb") as out:
                fd = -1
                out.write(payload)
                out.flush()
                os.fsync(out.fileno())
        publish(temporary, path, overwrite=overwrite)
    finally:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return path


def lock_path(path: str | os.PathLike) -> Path:
    """The lock file beside an output (``OUT.lock``)."""
    path = Path(path)
    return path.with_name(path.name + LOCK_SUFFIX)


def holder(lock: Path) -> int | None:
    """The pid a lock file records, or None (no file, unreadable, not a pid); never follows a symlink."""
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        text = os.read(fd, 32).decode("ascii", "replace").strip()
    except OSError:
        return None
    finally:
        os.close(fd)
    return int(text) if text.isdigit() else None


def live_holder(path: str | os.PathLike) -> int | None:
    """The pid of a live process that holds the lock of output ``path``, or None.

    Reads the pid the lock file records and asks whether that process exists, without touching the
    lock itself (a probe could make a starting writer think the output taken). A lock file left by a
    killed process whose pid was reused would name the wrong process; that is the only error.
    """
    pid = holder(lock_path(path))
    if pid is None or pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid  # alive, owned by someone else
    except OSError:
        return None
    return pid


class UnsafeLockError(OSError):
    """The lock file's name is taken by something other than a regular file (a symlink, a folder, a pipe)."""


def _open_lock(lock: Path) -> tuple[int, bool]:
    """Open ``lock`` without following a symlink: ``(fd, created)``; refuse anything but a regular file."""
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        return os.open(lock, flags | os.O_CREAT | os.O_EXCL, 0o666), True
    except FileExistsError:
        pass
    unsafe = UnsafeLockError(
        f"lock file {str(lock)!r} is not a regular file (a symbolic link, folder or device); refusing to use it: "
        "remove it if no writer is running"
    )
    try:
        fd = os.open(lock, flags)
    except FileNotFoundError:
        return _open_lock(lock)  # removed meanwhile: create it
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.EMLINK, errno.EISDIR, errno.ENXIO):  # EMLINK: O_NOFOLLOW on BSDs
            raise unsafe from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise unsafe
    return fd, False


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike, *, what: str = "output") -> Iterator[Path]:
    """Hold an exclusive lock on ``path`` for the duration of the block (``OUT.lock`` beside it).

    The lock file records the holder's pid and is removed on exit; the lock itself is the kernel's
    (``flock``), so it ends with the process however the process ends, and a lock file left behind
    by a killed process does not block the next writer. The lock file is never followed as a
    symbolic link and never written unless this process created it: a file left by a killed
    process is removed (its name only) and created afresh.

    Raises:
        OutputLockedError: another live process holds the lock (the message names its pid).
        UnsafeLockError: the lock file's name is a symbolic link, a folder or anything but a regular file.
    """
    lock = lock_path(path)
    if fcntl is None:  # pragma: no cover - no advisory locks on this platform
        yield lock
        return
    while True:
        fd, created = _open_lock(lock)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = holder(lock)
            err = OutputLockedError(
                f"{what} {str(path)!r} is being written by {f'process {pid}' if pid else 'another process'} "
                f"(lock {str(lock)!r}); wait for it to finish or stop it"
            )
            err.errno = errno.EAGAIN
            raise err from None
        except BaseException:
            os.close(fd)
            raise
        # The previous holder may have removed the file between our open and our lock: then we
        # hold a lock on a name nobody else sees. Retry until the locked file is the named one.
        try:
            same = os.path.samestat(os.fstat(fd), os.lstat(lock))
        except FileNotFoundError:
            same = False
        if same and created:
            break
        if same:
            os.unlink(lock)  # a killed holder's file: drop its name (we hold its lock), create our own
        os.close(fd)
    try:
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        yield lock
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)  # while still locked, so nobody can take over a name about to vanish
        os.close(fd)


def check_input_file(path: str | os.PathLike, *, what: str = "input file") -> Path:
    """Check that ``path`` names an existing regular file (after symbolic links); return it as a ``Path``.

    The message says what the path is instead, so ``/dev/zero`` or a folder is not reported as missing.

    Raises:
        ValueError: not a non-empty path.
        FileNotFoundError: nothing there (or a dangling symbolic link).
        IsADirectoryError: a directory.
        OSError: anything else that is not a regular file (device, FIFO, socket), or unreadable metadata.
    """
    import stat

    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)) or not str(path):
        raise bad_value(what, path, "a file path")
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        dangling = " (a symbolic link to nothing)" if path.is_symlink() else ""
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist{dangling}") from None
    except OSError as err:
        raise OSError(f"{what} {str(path)!r} cannot be read ({err.strerror})") from None
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(f"{what} {str(path)!r} is a directory; expected a file")
    if not stat.S_ISREG(mode):
        kind = ("a character device" if stat.S_ISCHR(mode) else "a block device" if stat.S_ISBLK(mode)
                else "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a special file")
        raise OSError(f"{what} {str(path)!r} is {kind}, not a regular file")
    return path

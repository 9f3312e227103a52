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
from pathlib import Path
from typing import Callable, Iterator, Union

from ._validate import bad_value

try:  # POSIX advisory locks; on platforms without fcntl ``exclusive_lock`` cannot lock
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

Data = Union[bytes, str, Callable[[Path], None]]
LOCK_SUFFIX = ".lock"


class OutputLockedError(BlockingIOError):
    """Another live process holds the write lock of this output."""


def _exists_message(path: Path) -> str:
    return f"output {str(path)!r} exists; pass overwrite (--overwrite) to replace it"


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
        raise FileExistsError(_exists_message(path))
    return path


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
    existing file is never replaced; ``temporary`` is removed either way once ``path`` holds it.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false (``temporary`` is kept).
    """
    if overwrite:
        os.replace(temporary, path)
    else:
        try:
            os.link(temporary, path)
        except FileExistsError:
            raise FileExistsError(_exists_message(path)) from None
        except OSError as err:
            if err.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                raise
            # File systems without hard links: check-then-rename is the best available.
            if path.exists():
                raise FileExistsError(_exists_message(path)) from None
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


def _holder(lock: Path) -> str:
    try:
        text = lock.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        text = ""
    return f"process {text}" if text.isdigit() else "another process"


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike, *, what: str = "output") -> Iterator[Path]:
    """Hold an exclusive lock on ``path`` for the duration of the block (``OUT.lock`` beside it).

    The lock file records the holder's pid and is removed on exit; the lock itself is the kernel's
    (``flock``), so it ends with the process however the process ends, and a lock file left behind
    by a killed process does not block the next writer.

    Raises:
        OutputLockedError: another live process holds the lock (the message names its pid).
    """
    lock = lock_path(path)
    if fcntl is None:  # pragma: no cover - no advisory locks on this platform
        yield lock
        return
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputLockedError(
                errno.EAGAIN,
                f"{what} {str(path)!r} is being written by {_holder(lock)} (lock {str(lock)!r}); wait for it to finish or stop it",
            ) from None
        except BaseException:
            os.close(fd)
            raise
        # The previous holder may have removed the file between our open and our lock: then we
        # hold a lock on a name nobody else sees. Retry until the locked file is the named one.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
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

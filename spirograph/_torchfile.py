"""Torch files on disk: zip CRCs checked before loading; saved atomically, the same bytes for the same object.

``torch.load`` reads the zip archive that ``torch.save`` writes without checking the CRC-32 stored
for each member, so a damaged tensor loads silently with wrong values. Every loader of a torch file
in the package (training checkpoints, trained encoders, ``spirograph score --weights``) calls
:func:`check_torch_file` first.
"""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import torch

from ._io import write_atomic
from ._validate import bad_value

_ZIP_MAGIC = b"PK\x03\x04"
# zipfile reports damaged headers with several exception types (bad magic, unsupported method, short reads).
_ZIP_DAMAGE = (zipfile.BadZipFile, NotImplementedError, EOFError, ValueError, OverflowError, struct.error, zlib.error)


def check_torch_file(path: str | os.PathLike, *, argument: str) -> None:
    """Check that every member of the ``torch.save`` zip archive at ``path`` matches its stored CRC-32.

    Files in the legacy (pre-zip) format and archives written with
    ``torch.serialization.set_crc32_options(False)`` carry no checksums; they pass unchecked and
    ``torch.load`` judges them.

    Args:
        path: the file to check.
        argument: the argument name the error message reports (``"checkpoint"``, ``"weights"``).

    Raises:
        ValueError: ``<argument>=<path>: expected an intact torch file; it is corrupted (...)``,
            naming the damaged member or the broken zip structure.
        OSError: the file cannot be read at all.
    """
    with open(path, "rb") as fh:
        if fh.read(len(_ZIP_MAGIC)) != _ZIP_MAGIC:
            return
        fh.seek(0)
        try:
            with zipfile.ZipFile(fh) as archive:
                if not any(member.CRC for member in archive.infolist()):
                    return  # saved without CRCs: nothing to compare against
                damaged = archive.testzip()
        except _ZIP_DAMAGE as err:
            raise _corrupted(argument, path, f"its zip structure is broken: {err}") from None
    if damaged is not None:
        raise _corrupted(argument, path, f"member {damaged!r} does not match its CRC-32; the file was damaged after it was written")


def save_torch(obj: Any, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """``torch.save(obj)`` to ``path`` atomically, as bytes that depend only on ``obj``, with CRCs.

    ``torch.save`` to a path names the zip's top folder after the file, here the atomic writer's
    random temporary name, so the same object would give different bytes; saving into an open file
    always names it ``archive/``. The CRCs :func:`check_torch_file` compares are always written.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        As ``spirograph._io.write_atomic`` (``FileExistsError`` without ``overwrite``, ``OSError``).
    """

    def write(temporary: Path) -> None:
        with open(temporary, "wb") as handle:
            sink = _Sink(handle)
            try:
                torch.save(obj, sink)
            except RuntimeError:
                # torch reports a failed write (a full disk) as "enforce fail ... unexpected pos";
                # the OSError the file raised says what happened.
                if sink.error is not None:
                    raise sink.error from None
                raise

    previous = torch.serialization.get_crc32_options()
    torch.serialization.set_crc32_options(True)
    try:
        return write_atomic(path, write, overwrite=overwrite)
    finally:
        torch.serialization.set_crc32_options(previous)


class _Sink:
    """A binary file as ``torch.save`` writes it, keeping the ``OSError`` a write raised."""

    def __init__(self, handle) -> None:
        self.handle = handle
        self.error: OSError | None = None

    def write(self, data) -> int:
        try:
            return self.handle.write(data)
        except OSError as err:
            self.error = err
            raise

    def flush(self) -> None:
        try:
            self.handle.flush()
        except OSError as err:
            self.error = err
            raise


def _corrupted(argument: str, path: str | os.PathLike, why: str) -> ValueError:
    return bad_value(argument, os.fspath(path), f"an intact torch file; it is corrupted ({why})")

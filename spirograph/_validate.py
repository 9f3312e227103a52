"""Boundary checks shared by the public entry points: one ValueError naming argument, value, rule."""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import math
import os
import re
from typing import Any, Iterable, Iterator, Mapping

_FLAGS: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar("spirograph_command_line_flags", default=None)


@contextlib.contextmanager
def command_line(flags: Mapping[str, str]) -> Iterator[None]:
    """Within the block, messages name command-line flags instead of Python keywords.

    Args:
        flags: keyword argument name -> its flag, e.g. ``{"chunk_size": "--chunk-size"}``; a
            ``bad_value`` for one of these names reads ``--chunk-size=0: expected ...`` and
            ``option("overwrite")`` reads ``--overwrite``.
    """
    token = _FLAGS.set(dict(flags))
    try:
        yield
    finally:
        _FLAGS.reset(token)


def option(name: str) -> str:
    """How a message tells the user to turn on the boolean ``name``: ``--name`` at the command line, else ``name=True``."""
    flags = _FLAGS.get()
    if flags is not None:
        return flags.get(name, "--" + name.replace("_", "-"))
    return f"{name}=True"


def bad_value(argument: str, value: Any, allowed: str) -> ValueError:
    """Build the package's standard error: ``<argument>=<value>: expected <allowed>``.

    At the command line (``command_line``) an argument that is a flag of the command is named by
    its flag: ``--chunk-size=0: expected an integer >= 1``.
    """
    flag = (_FLAGS.get() or {}).get(argument)
    if flag is not None:
        return ValueError(f"{flag}={value!r}: expected {allowed}")
    return ValueError(f"{argument}={value!r}: expected {allowed}")


def os_reason(err: OSError) -> str:
    """What went wrong in an ``OSError``, in words: no ``[Errno N]`` prefix, no HDF5 internals.

    HDF5 reports a failed write as one long text with the time, the file descriptor and a buffer
    address; its ``errno = N`` is what matters.
    """
    if err.strerror:
        return err.strerror
    text = one_line(err)
    found = re.search(r"\berrno = (\d+)", text)
    if found:
        return os.strerror(int(found.group(1)))
    return text or type(err).__name__


def error_line(err: BaseException) -> str:
    """One line for a command-line error: the message, without ``[Errno N]`` and the line breaks."""
    if isinstance(err, OSError) and err.strerror and str(err).startswith("[Errno"):
        names = [n for n in (err.filename, err.filename2) if n is not None]
        text = err.strerror + (": " + " -> ".join(repr(str(n)) for n in names) if names else "")
    else:
        text = str(err) or type(err).__name__
    return one_line(text)


def unknown_name(kind: str, name: str, available: Iterable[str], *, owner: str | None = None) -> ValueError:
    """Registry-style error: ``unknown <kind> 'x'; did you mean 'y'? available[ in <owner>]: ...``.

    ``owner`` names what the names belong to (e.g. ``generator 'spirograph'``), for names whose
    meaning depends on a choice made elsewhere.
    """
    available = sorted(available)
    close = difflib.get_close_matches(str(name), available, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    where = f" in {owner}" if owner else ""
    return ValueError(f"unknown {kind} {name!r}{hint} available{where}: {', '.join(available) or '(none)'}")


MAX_INT = 2**63 - 1
"""The largest integer any argument takes: what an int64 size, item index or seed holds."""


def check_int(argument: str, value: Any, minimum: int, maximum: int = MAX_INT) -> int:
    """Return ``value`` as int if it is an integer (not bool) in ``[minimum, maximum]``.

    The default ``maximum`` turns a huge integer into this error instead of an OverflowError (or
    an endless loop) deep inside torch or numpy.
    """
    in_range = f"an integer in [{minimum}, {'2**63 - 1' if maximum == MAX_INT else maximum}]"
    rule = f"an integer >= {minimum}" if maximum == MAX_INT else in_range
    if isinstance(value, bool) or not isinstance(value, (int,)) and not _is_integral(value):
        raise bad_value(argument, value, rule)
    value = int(value)
    if value > maximum:
        raise bad_value(argument, value, in_range)
    if value < minimum:
        raise bad_value(argument, value, rule)
    return value


def check_positive_float(argument: str, value: Any) -> float:
    """Return ``value`` as float if it is finite and > 0."""
    try:
        as_float = float(value)
    except (TypeError, ValueError):
        raise bad_value(argument, value, "a finite number > 0") from None
    if not math.isfinite(as_float) or as_float <= 0:
        raise bad_value(argument, value, "a finite number > 0")
    return as_float


def check_choice(argument: str, value: Any, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise bad_value(argument, value, "one of " + ", ".join(repr(c) for c in choices))
    return value


def one_line(text: Any) -> str:
    """``text`` (a message or an exception) as one line: every run of whitespace, newlines included, is one space.

    The one helper for errors that must fit one line (HDF5's and torch's messages span several).
    """
    return " ".join(str(text).split())


def first_line(err: BaseException) -> str:
    """The first line of an exception's message: a third-party error that appends a traceback or hints."""
    lines = str(err).strip().splitlines()
    return lines[0] if lines else ""


def memory_bytes(device: Any = "cpu") -> int | None:
    """Total memory of ``device`` in bytes (physical RAM for the CPU), or None where unknown."""
    import os

    import torch

    device = torch.device(device)
    try:
        if device.type == "cpu":
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        if device.type == "cuda":
            return torch.cuda.get_device_properties(device).total_memory
    except (ValueError, OSError, AttributeError, RuntimeError, AssertionError):
        return None
    return None


def check_memory(argument: str, value: Any, n_bytes: int, what: str, device: Any = "cpu") -> None:
    """Refuse a size whose ``what`` needs more than ``device``'s whole memory (``n_bytes``).

    Such a request would otherwise end in a MemoryError, an out-of-memory error from the device or
    minutes of swapping; sizes that fit but crowd other work are the caller's choice.
    """
    total = memory_bytes(device)
    if total is not None and n_bytes > total:
        raise bad_value(argument, value, f"a size whose {what} fit in memory ({_gib(n_bytes)} needed, "
                        f"{_gib(total)} on {device})")


def _gib(n_bytes: int) -> str:
    return f"{n_bytes / 2**30:.3g} GiB"


def _is_integral(value: Any) -> bool:
    try:
        import numpy as np

        return isinstance(value, np.integer)
    except ImportError:  # pragma: no cover - numpy is a dependency
        return False

"""Interrupts that are never lost: Ctrl-C and SIGTERM as ``KeyboardInterrupt``, raised at once and at safe points.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be when a signal arrives;
inside a finalizer or a weak-reference callback it is printed as "Exception ignored" and lost, and
the run carries on. ``interrupts()`` records every signal before raising, so a swallowed raise is
raised again at the next ``check()``; ``deferred()`` holds an interrupt back over a few statements
that must not be cut in two (a file moved into place) and raises it when they are done.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from typing import Iterator


class _Guard:
    def __init__(self) -> None:
        self.received: int | None = None
        self.deferring = 0

    def handler(self, signum, frame) -> None:
        self.received = signum
        if self.deferring == 0:
            raise KeyboardInterrupt


_guards: list[_Guard] = []


def _takes_over(signum: int) -> bool:
    # Leave alone a signal the caller chose to handle or to ignore (a shell starts background jobs
    # with SIGINT ignored); take over Python's default Ctrl-C and the default SIGTERM (terminate).
    current = signal.getsignal(signum)
    return current is signal.default_int_handler or current == signal.SIG_DFL


@contextlib.contextmanager
def interrupts() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise ``KeyboardInterrupt`` and are remembered for ``check()``.

    Only the main thread receives signals; elsewhere the block changes nothing. Blocks nest: an
    inner one shares the outer one's guard. The previous handlers come back when the block ends.
    """
    if threading.current_thread() is not threading.main_thread() or _guards:
        yield  # elsewhere nothing to do; within an outer block, the outer guard serves
        return
    guard = _Guard()
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        if _takes_over(signum):
            previous[signum] = signal.signal(signum, guard.handler)
    unraisable = sys.unraisablehook

    def quiet(info) -> None:
        # An interrupt raised inside a finalizer is lost there; ``check()`` raises it again, so
        # "Exception ignored in ..." would only be noise. Anything else is reported as before.
        if not (issubclass(info.exc_type, KeyboardInterrupt) and guard.received is not None):
            unraisable(info)

    sys.unraisablehook = quiet
    _guards.append(guard)
    try:
        yield
    finally:
        _guards.remove(guard)
        sys.unraisablehook = unraisable
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def received() -> int | None:
    """The signal the innermost ``interrupts()`` block received, or None."""
    return _guards[-1].received if _guards else None


def check() -> None:
    """Raise ``KeyboardInterrupt`` if a signal arrived in the current ``interrupts()`` block (even one already raised and swallowed)."""
    if _guards and _guards[-1].received is not None:
        raise KeyboardInterrupt


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold back an interrupt until the block ends, then raise it (outside ``interrupts()``: no effect)."""
    if not _guards or threading.current_thread() is not threading.main_thread():
        yield
        return
    guard = _guards[-1]
    guard.deferring += 1
    try:
        yield
    finally:
        guard.deferring -= 1
    if guard.deferring == 0 and guard.received is not None:
        raise KeyboardInterrupt

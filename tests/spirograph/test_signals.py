"""``spirograph._signals``: interrupts raised at once, never lost, held back over a critical step."""

from __future__ import annotations

import errno
import os
import signal

import pytest

from spirograph import _signals
from spirograph._validate import error_line, os_reason


@pytest.fixture(autouse=True)
def default_handlers():
    # pytest may run us with SIGINT's handler already Python's default; make sure of it.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler), signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    signal.signal(signal.SIGINT, previous[0])
    signal.signal(signal.SIGTERM, previous[1])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_raises_at_once_and_the_handlers_come_back(sig):
    with pytest.raises(KeyboardInterrupt):
        with _signals.interrupts():
            os.kill(os.getpid(), sig)
            pytest.fail("the interrupt was not raised")  # pragma: no cover
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_an_interrupt_swallowed_in_a_finalizer_is_raised_again_and_not_printed(capsys):
    class Finalized:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)  # KeyboardInterrupt here is "ignored" by Python

    with _signals.interrupts():
        Finalized()
        assert _signals.received() == signal.SIGINT
        with pytest.raises(KeyboardInterrupt):
            _signals.check()
    assert "Exception ignored" not in capsys.readouterr().err


def test_an_interrupt_in_a_deferred_block_waits_for_its_end():
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with _signals.interrupts():
            with _signals.deferred():
                os.kill(os.getpid(), signal.SIGINT)
                steps.append("after the signal")
            steps.append("never")  # pragma: no cover
    assert steps == ["after the signal"]


def test_an_ignored_sigint_stays_ignored():
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # how a shell starts a background job
    with _signals.interrupts():
        os.kill(os.getpid(), signal.SIGINT)
        _signals.check()
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def test_blocks_nest_and_share_one_guard():
    with pytest.raises(KeyboardInterrupt):
        with _signals.interrupts():
            with _signals.interrupts():
                with _signals.deferred():
                    os.kill(os.getpid(), signal.SIGTERM)
                pytest.fail("the outer guard did not raise")  # pragma: no cover


@pytest.mark.parametrize(
    "err, line",
    [
        (OSError(errno.EROFS, "Read-only file system", "/sys/x.h5.lock"), "Read-only file system: '/sys/x.h5.lock'"),
        (BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable"), "Resource temporarily unavailable"),
        (ValueError("two\nlines"), "two lines"),
    ],
)
def test_error_lines_carry_no_errno_prefix(err, line):
    assert error_line(err) == line


def test_an_hdf5_write_error_is_reduced_to_its_errno():
    err = OSError("Can't write data (file write failed: time = Sun Dec  6\n, errno = 28, error message = 'x', buf = 0x7f00)")
    assert os_reason(err) == os.strerror(errno.ENOSPC)


@pytest.mark.parametrize("program, expected", [("/usr/bin/spirograph", "spirograph: interrupted\n"), ("analysis.py", None)])
def test_a_command_interrupted_while_importing_says_so_in_one_line(program, expected):
    import subprocess
    import sys

    code = f"import sys; sys.argv[0] = {program!r}; import spirograph; raise KeyboardInterrupt"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    if expected is None:  # any other program keeps Python's own report
        assert child.returncode != 130 and "Traceback" in child.stderr
    else:
        assert child.returncode == 130 and child.stderr == expected

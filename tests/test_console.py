"""The console entry points (spirograph_console.py): a Ctrl-C while Python is still importing torch is one line and exit 130."""

import signal
import subprocess
import sys

import pytest

CHILD = (
    "import sys, spirograph_console; sys.argv = sys.argv[1:]; "
    "print('importing', flush=True); sys.exit(getattr(spirograph_console, sys.argv.pop(0))())"
)


@pytest.mark.parametrize(
    "entry, argv, expected",
    [
        ("spirograph", ["spirograph", "generate", "{out}/x.h5", "--seed", "0", "--train", "10", "--test", "10"], "spirograph generate"),
        ("spirograph_train", ["spirograph-train", "--method", "simclr", "--out", "{out}/run"], "spirograph-train"),
        ("spirograph_demo", ["spirograph-demo", "--out", "{out}/demo"], "spirograph-demo"),
    ],
)
def test_an_interrupt_during_the_imports_is_one_line_and_writes_nothing(tmp_path, entry, argv, expected):
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, entry, *(a.format(out=tmp_path) for a in argv)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell that started the tests in the background ignores SIGINT, and so would the child.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert child.stdout.readline().strip() == "importing"
        child.send_signal(signal.SIGINT)  # the package (and torch) takes a second or more to import
        _, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert (child.returncode, err) == (130, f"{expected}: interrupted\n")
    assert list(tmp_path.iterdir()) == []

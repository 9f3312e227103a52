"""Start-up of the command-line programs: a Ctrl-C while the package is still importing is one line.

Importing torch takes seconds on a busy machine, before any command's ``main`` can catch an
interrupt; Python would print a long traceback of import machinery. When the running program is
one of this package's commands, an uncaught ``KeyboardInterrupt`` is reported as
``<command>: interrupted`` with exit status 130 instead. Any other program importing the package
keeps its own exception hook.
"""

from __future__ import annotations

import os
import sys

COMMANDS = ("spirograph", "spirograph-train", "spirograph-demo")


def _interrupted(kind, value, traceback) -> None:
    if issubclass(kind, KeyboardInterrupt):
        print(f"{os.path.basename(sys.argv[0])}: interrupted", file=sys.stderr, flush=True)
        os._exit(130)
    sys.__excepthook__(kind, value, traceback)


if sys.argv and os.path.basename(sys.argv[0]) in COMMANDS and sys.excepthook is sys.__excepthook__:
    sys.excepthook = _interrupted

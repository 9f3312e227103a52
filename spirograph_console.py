"""The console commands' entry points, kept outside the ``spirograph`` package on purpose.

Importing ``spirograph`` imports torch, which takes a second or two. A Ctrl-C in that time used
to end with Python's traceback; here it ends as an interrupt later on does: one line on stderr,
exit status 130, and nothing written (no command has begun).
"""

from __future__ import annotations

import importlib
import sys


def _run(program: str, target: str) -> int:
    command = f"{program} {sys.argv[1]}" if program == "spirograph" and len(sys.argv) > 1 and not sys.argv[1].startswith("-") else program
    module, function = target.split(":")
    try:
        main = getattr(importlib.import_module(module), function)
        return main()
    except KeyboardInterrupt:  # before the command's own handler was in place (it reports its own)
        print(f"{command}: interrupted", file=sys.stderr)
        return 130


def spirograph() -> int:
    """``spirograph``: ``spirograph.cli:main``."""
    return _run("spirograph", "spirograph.cli:main")


def spirograph_train() -> int:
    """``spirograph-train``: ``spirograph_baselines.train:main``."""
    return _run("spirograph-train", "spirograph_baselines.train:main")


def spirograph_demo() -> int:
    """``spirograph-demo``: ``spirograph_baselines.demo:main``."""
    return _run("spirograph-demo", "spirograph_baselines.demo:main")

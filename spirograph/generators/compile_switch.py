"""The package's one switch for renderers' compiled kernels: the environment variable ``SPIROGRAPH_COMPILE``.

"1" routes a generator that has fused kernels (sprites: ``generators.sprites.fused``) through them;
"0" or unset keeps the eager renderer. An environment variable rather than an argument, so that it
reaches every process a command starts (``generate --workers``) and every entry point alike; score
results record it (``environment.compiled``) because the two paths agree only to rounding.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

from .._validate import bad_value

ENV = "SPIROGRAPH_COMPILE"


def enabled() -> bool:
    """Whether ``SPIROGRAPH_COMPILE`` asks for compiled kernels ("1") or not ("0" or unset); another value is refused."""
    value = os.environ.get(ENV, "0").strip()
    if value not in ("0", "1"):
        raise bad_value(ENV, value, "0 (eager renderer, the default) or 1 (fused kernels built by torch.compile)")
    return value == "1"


@contextlib.contextmanager
def setting(value: str) -> Iterator[None]:
    """``SPIROGRAPH_COMPILE`` set to ``value`` ("0" or "1") inside the block and restored after (benchmarks that time both)."""
    before = os.environ.get(ENV)
    os.environ[ENV] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ[ENV]
        else:
            os.environ[ENV] = before

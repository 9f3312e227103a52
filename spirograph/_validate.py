"""Boundary checks shared by the public entry points: one ValueError naming argument, value, rule."""

from __future__ import annotations

import difflib
import math
from typing import Any, Iterable


def bad_value(argument: str, value: Any, allowed: str) -> ValueError:
    """Build the package's standard error: ``<argument>=<value>: expected <allowed>``."""
    return ValueError(f"{argument}={value!r}: expected {allowed}")


def unknown_name(kind: str, name: str, available: Iterable[str]) -> ValueError:
    """Registry-style error: ``unknown <kind> 'x'; did you mean 'y'? available: ...``."""
    available = sorted(available)
    close = difflib.get_close_matches(str(name), available, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return ValueError(f"unknown {kind} {name!r}{hint} available: {', '.join(available)}")


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


def _is_integral(value: Any) -> bool:
    try:
        import numpy as np

        return isinstance(value, np.integer)
    except ImportError:  # pragma: no cover - numpy is a dependency
        return False

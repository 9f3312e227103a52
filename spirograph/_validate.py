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


def check_int(argument: str, value: Any, minimum: int) -> int:
    """Return ``value`` as int if it is an integer (not bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int,)) and not _is_integral(value):
        raise bad_value(argument, value, f"an integer >= {minimum}")
    value = int(value)
    if value < minimum:
        raise bad_value(argument, value, f"an integer >= {minimum}")
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

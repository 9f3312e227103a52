"""Loading result files for a leaderboard and grouping them into comparable sets.

Scores are comparable only between entries of the same generator (name and version) scored on the
same suite (name and version): every leaderboard renderer draws one ranked table, one plot grid and
one set of reference entries per ``Group``, and never ranks entries of different groups against
each other. A result without a ``generator`` field (result schemas 1-2) is a Spirograph version 1
result.

A result's ``suite`` block must be the registered definition of that suite name and version
(``suites.get_suite``): a file that claims to be ``quick`` version 2 but scored 1 test item is
refused. A suite whose name is not registered at all (a suite a user defined in Python) is kept,
but as a *custom* group of its own, labelled as such, keyed by its exact settings, and never mixed
with a registered suite.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from .._io import check_input_file
from .result import ResultError, ScoreResult

DEFAULT_GENERATOR: tuple[str, int] = ("spirograph", 1)
"""The generator of a result that does not name one (result schemas 1-2)."""
_IGNORED_SUITE_KEYS = ("description",)  # a listing's wording, not a setting that decides a score


def generator_of(result: ScoreResult) -> tuple[str, int]:
    """``(generator name, generator version)`` of a result; ``DEFAULT_GENERATOR`` when it records none."""
    data = result.to_dict()
    return str(data.get("generator", DEFAULT_GENERATOR[0])), int(data.get("generator_version", DEFAULT_GENERATOR[1]))


def _settings(suite: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in suite.items() if k not in _IGNORED_SUITE_KEYS}


def _digest(suite: dict[str, Any]) -> str:
    text = json.dumps(_settings(suite), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def registered_suite(result: ScoreResult) -> dict[str, Any] | None:
    """The registered definition (``Suite.to_dict()``) of the result's suite name and version, or ``None``.

    ``None`` means the name is not registered for the result's generator (a custom suite).

    Raises:
        ResultError: the name is registered but not that version, or the result's suite block
            differs from the registered definition (the first differing settings are named).
    """
    from .suites import get_suite

    name, version = result.suite
    generator, _ = generator_of(result)
    try:
        get_suite(name, generator=generator)
    except ValueError:
        return None  # not a registered name (or no suites for that generator): a custom suite
    try:
        registered = get_suite(name, version=version, generator=generator).to_dict()
    except ValueError as err:
        raise ResultError(f"result.suite: suite {name!r} has no registered version {version} ({err})") from None
    recorded = _settings(result.to_dict()["suite"])
    expected = _settings(registered)
    if recorded != expected:
        keys = sorted(set(recorded) | set(expected), key=lambda k: (k not in expected, k))
        differ = [k for k in keys if recorded.get(k, "(missing)") != expected.get(k, "(missing)")]
        shown = ", ".join(f"{k}={_short(recorded.get(k, '(missing)'))} (registered: {_short(expected.get(k, '(missing)'))})"
                          for k in differ[:3])
        more = f" and {len(differ) - 3} more" if len(differ) > 3 else ""
        raise ResultError(f"result.suite: expected the registered settings of suite {name!r} version {version}; "
                          f"differs in {shown}{more}")
    return registered


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass
class Group:
    """Entries that are ranked together: one generator (name, version), one suite (name, version).

    Attributes:
        generator: ``(name, version)``.
        suite: ``(name, version)``.
        record: the suite block the members share (the registered definition, or the custom one).
        registered: whether the suite is a registered one (else a custom suite, shown apart).
        members: the results, in input order.
    """

    generator: tuple[str, int]
    suite: tuple[str, int]
    record: dict[str, Any]
    registered: bool
    members: list[ScoreResult] = field(default_factory=list)

    @property
    def label(self) -> str:
        """Plain-text title of the group, e.g. ``suite quick (version 2) · generator spirograph (version 1)``."""
        custom = "custom suite" if not self.registered else "suite"
        settings = f", settings {_digest(self.record)}" if not self.registered else ""
        return (f"{custom} {self.suite[0]} (version {self.suite[1]}{settings}) · "
                f"generator {self.generator[0]} (version {self.generator[1]})")


def group_results(results: Sequence[ScoreResult], *, check_suites: bool = True) -> list[Group]:
    """Results grouped by (generator, suite): registered suites first, then custom ones, each sorted.

    Args:
        results: the entries.
        check_suites: check each suite block against the registry (``registered_suite``); when
            false every group counts as registered (renderers handed result objects built in Python).

    Raises:
        ValueError: no results, or two entries of one group with the same name.
        ResultError: a result whose suite block contradicts the registered suite.
    """
    if not results:
        raise ValueError("results=[]: expected at least one ScoreResult")
    groups: dict[tuple, Group] = {}
    for result in results:
        record = result.to_dict()["suite"]
        registered = registered_suite(result) is not None if check_suites else True
        key = (not registered, generator_of(result), result.suite, "" if registered else _digest(record))
        group = groups.setdefault(key, Group(generator_of(result), result.suite, record, registered))
        group.members.append(result)
    for group in groups.values():
        seen: set[str] = set()
        for result in group.members:
            if result.name in seen:
                raise ValueError(f"two entries named {result.name!r} in {group.label}: give each entry its own name "
                                 "(spirograph score --name NAME)")
            seen.add(result.name)
    return [groups[key] for key in sorted(groups, key=lambda k: (k[0], k[1], k[2], k[3]))]


def load_results(paths: Iterable[str | os.PathLike]) -> list[ScoreResult]:
    """Load and validate result files for a leaderboard, and check each suite block against the registry.

    Raises:
        ValueError: no paths given, the same file given twice, or a file that is not a valid
            result or contradicts its registered suite (the message names it).
        FileNotFoundError, IsADirectoryError, OSError: a path that is missing, a directory, or not
            a regular file (a device, a FIFO).
    """
    paths = list(paths)
    if not paths:
        raise ValueError("results=[]: expected at least one result JSON file")
    seen: dict[tuple[int, int], str] = {}
    results = []
    for path in paths:
        status = os.stat(check_input_file(path, what="result file"))
        identity = (status.st_dev, status.st_ino)
        if identity in seen:
            same = "given twice" if str(path) == seen[identity] else f"the same file as {seen[identity]!r}"
            raise ValueError(f"result file {str(path)!r} is {same}: each entry is ranked once")
        seen[identity] = str(path)
        result = ScoreResult.load(path)
        try:
            registered_suite(result)
        except ResultError as err:
            raise ResultError(f"{path}: {err}") from None
        results.append(result)
    return results


__all__ = ["DEFAULT_GENERATOR", "Group", "generator_of", "group_results", "load_results", "registered_suite"]

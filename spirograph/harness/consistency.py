"""Derived figures of a result, recomputed from the figures they are derived from.

A result file is data from a stranger: a copy of a real file with one summary number edited (a
mean R² of 0.999 over per-factor R² of about 0.36) passes every bound and interval check, and would
be ranked by the edited number. Every figure that the harness derives from other figures of the
same file is therefore recomputed here, and a file where they disagree is refused.

The checks are found by the shape of the metrics tree, wherever it appears (under a task, its
``diagnostics`` or a nested part), so new tasks built from the same parts are checked too:

=====================================  ==========================================================
shape                                  derived figure
=====================================  ==========================================================
``mean_mse``, ``mean_r2``,             each mean is the mean of the per-factor values
``per_factor: {f: {mse, r2}}``
``nuisance_mse``, ``nuisance_r2``,     the same for the nuisance probe of ``invariance``
``nuisance_per_factor``
``mean``, ``per_factor: {f: metric}``  ``mean`` is the mean of the per-factor values
``nuisance_to_content`` beside one     mean over nuisance factors / mean over content factors
metric per factor
``unshifted``, ``summary`` and shift   a family's ``summary`` is the mean over its shifted levels of
families ``{curve, summary}``          (MSE − MSE₀)/MSE₀; its level-0 point is ``unshifted``; the
                                       overall ``summary`` is the mean of the families'
``curve`` of ``{M, ...}`` beside       ``M<largest>``'s means are the curve's last point
``M<largest>``
``ratio_to_average`` beside            their ratio
``normalized_mse``,
``average_normalized_mse``
``area`` beside                        the trapezoid area under the curve of ``normalized_mse``
``average_normalized_mse`` and a       over ε, from (0, ``average_normalized_mse``) to the largest
``curve`` of ``{epsilon,               ε, divided by the largest ε (the curve's mean height)
normalized_mse}``
=====================================  ==========================================================

Only point values are recomputed: an interval comes from a bootstrap that a reader cannot repeat
without the features (the validator checks that each value lies inside its own interval).
"""

from __future__ import annotations

import math
from typing import Any, Iterator, Sequence

RELATIVE_TOLERANCE = 1e-9
"""Agreement required, relative to the largest magnitude involved (float64 sums in another order)."""


def _is_metric(node: Any) -> bool:
    return isinstance(node, dict) and set(node) == {"value", "ci"} and _finite(node["value"])


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _value(node: Any) -> float | None:
    return float(node["value"]) if _is_metric(node) else None


def _agrees(stored: float, derived: float, parts: Sequence[float]) -> bool:
    scale = max([abs(stored), abs(derived), *map(abs, parts)] or [0.0])
    return abs(stored - derived) <= RELATIVE_TOLERANCE * scale + 1e-300


def _walk(node: Any, where: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict) and not _is_metric(node):
        yield where, node
        for key, child in node.items():
            yield from _walk(child, f"{where}.{key}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _walk(child, f"{where}[{index}]")


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def compare(self, where: str, stored: float | None, derived: float | None, parts: Sequence[float], what: str) -> None:
        if stored is None or derived is None or not math.isfinite(derived):
            return
        if not _agrees(stored, derived, parts):
            self.items.append(f"{where}: expected {derived:.6g} ({what}), got {stored:.6g}")


def _mean(values: Sequence[float | None]) -> float | None:
    if not values or any(v is None for v in values):
        return None
    return math.fsum(values) / len(values)  # type: ignore[arg-type]


def _regression(p: _Problems, where: str, node: dict, mse: str, r2: str, per_factor: str) -> None:
    factors = node.get(per_factor)
    if not isinstance(factors, dict) or not factors or not all(isinstance(f, dict) for f in factors.values()):
        return
    for key, part in ((mse, "mse"), (r2, "r2")):
        values = [_value(f.get(part)) for f in factors.values()]
        if None not in values:
            p.compare(f"{where}.{key}", _value(node.get(key)), _mean(values), values, "the mean of its per-factor values")


def _share(p: _Problems, where: str, node: dict) -> None:
    factors = node.get("per_factor")
    if not isinstance(factors, dict) or not factors or not all(_is_metric(f) for f in factors.values()):
        return
    values = [_value(f) for f in factors.values()]
    p.compare(f"{where}.mean", _value(node.get("mean")), _mean(values), values, "the mean of its per-factor values")


def _sensitivity(p: _Problems, where: str, node: dict, content: Sequence[str], nuisance: Sequence[str]) -> None:
    if not content or not nuisance or not all(_is_metric(node.get(f)) for f in (*content, *nuisance)):
        return
    c = _mean([_value(node[f]) for f in content])
    n = _mean([_value(node[f]) for f in nuisance])
    if c is None or n is None or c <= 0:
        return
    p.compare(f"{where}.nuisance_to_content", _value(node.get("nuisance_to_content")), n / c, [n / c],
              "the mean over nuisance factors over the mean over content factors")


def _robustness(p: _Problems, where: str, node: dict) -> None:
    base = _value(node.get("unshifted"))
    families = {k: v for k, v in node.items() if isinstance(v, dict) and isinstance(v.get("curve"), list) and "summary" in v}
    if base is None or not families or base <= 0:
        return
    summaries = []
    for family, entry in families.items():
        here = f"{where}.{family}"
        relative = []
        for index, point in enumerate(entry["curve"]):
            if not isinstance(point, dict) or not _finite(point.get("level")):
                return
            mse = _value(point.get("mean_mse"))
            if mse is None:
                return
            if point["level"] == 0:
                p.compare(f"{here}.curve[{index}].mean_mse", mse, base, [base], "the unshifted MSE: level 0 is the unshifted space")
            else:
                relative.append((mse - base) / base)
        summary = _mean(relative)
        p.compare(f"{here}.summary", _value(entry.get("summary")), summary, relative,
                  "the mean over its shifted levels of (MSE − unshifted MSE) / unshifted MSE")
        summaries.append(_value(entry.get("summary")))
    if None not in summaries:
        p.compare(f"{where}.summary", _value(node.get("summary")), _mean(summaries), summaries, "the mean of the families' summaries")


def _averaging(p: _Problems, where: str, node: dict) -> None:
    curve = node["curve"]
    if not curve or not all(isinstance(q, dict) and isinstance(q.get("M"), int) for q in curve):
        return
    last = max(curve, key=lambda q: q["M"])
    block = node.get(f"M{last['M']}")
    if not isinstance(block, dict):
        return
    for key in ("mean_mse", "mean_r2"):
        stored, point = _value(block.get(key)), _value(last.get(key))
        if point is not None:
            p.compare(f"{where}.M{last['M']}.{key}", stored, point, [point], f"the curve's point at M = {last['M']}")


def _ratio(p: _Problems, where: str, node: dict) -> None:
    top, bottom = _value(node.get("normalized_mse")), _value(node.get("average_normalized_mse"))
    if top is None or bottom is None or bottom <= 0:
        return
    p.compare(f"{where}.ratio_to_average", _value(node.get("ratio_to_average")), top / bottom, [top / bottom],
              "normalized_mse / average_normalized_mse")


def _area(p: _Problems, where: str, node: dict) -> None:
    curve = node.get("curve")
    start = _value(node.get("average_normalized_mse"))
    if start is None or not isinstance(curve, list) or not curve:
        return
    if not all(isinstance(q, dict) and _finite(q.get("epsilon")) and _is_metric(q.get("normalized_mse")) for q in curve):
        return
    xs = [0.0] + [float(q["epsilon"]) for q in curve]
    ys = [start] + [float(q["normalized_mse"]["value"]) for q in curve]
    if xs[-1] <= 0 or any(b <= a for a, b in zip(xs, xs[1:])):
        return
    parts = [(b - a) * (u + v) / 2 / xs[-1] for a, b, u, v in zip(xs, xs[1:], ys, ys[1:])]
    p.compare(f"{where}.area", _value(node.get("area")), math.fsum(parts), ys,
              "the trapezoid area under normalized_mse over ε from 0, over the largest ε")


def derived_figure_problems(metrics: Any, content: Sequence[str] = (), nuisance: Sequence[str] = ()) -> list[str]:
    """Every derived figure of a result's ``metrics`` that disagrees with what it is derived from.

    Args:
        metrics: the ``metrics`` object of a result (structurally valid).
        content, nuisance: the factor names of its ``space`` (for ``nuisance_to_content``).

    Returns:
        One ``path: expected <recomputed> (<how>), got <stored>`` line per disagreement, in tree order.
    """
    p = _Problems()
    for where, node in _walk(metrics, "result.metrics"):
        if {"mean_mse", "mean_r2", "per_factor"} <= set(node):
            _regression(p, where, node, "mean_mse", "mean_r2", "per_factor")
        if {"nuisance_mse", "nuisance_r2", "nuisance_per_factor"} <= set(node):
            _regression(p, where, node, "nuisance_mse", "nuisance_r2", "nuisance_per_factor")
        if {"mean", "per_factor"} <= set(node):
            _share(p, where, node)
        if "nuisance_to_content" in node:
            _sensitivity(p, where, node, list(content), list(nuisance))
        if {"unshifted", "summary"} <= set(node):
            _robustness(p, where, node)
        if isinstance(node.get("curve"), list) and any(key.startswith("M") and key[1:].isdigit() for key in node):
            _averaging(p, where, node)
        if "ratio_to_average" in node:
            _ratio(p, where, node)
        if "area" in node:
            _area(p, where, node)
    return p.items


__all__ = ["RELATIVE_TOLERANCE", "derived_figure_problems"]

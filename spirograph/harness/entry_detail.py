"""The detail view of one leaderboard entry: everything its result file holds, as HTML.

The view is generic: it walks the result's ``metrics`` tree and shows every task the file holds,
whatever the task, so a new metric appears without a change here. Metrics (``{"value", "ci"}``)
become rows of value and 95% interval; a mapping of per-factor metrics becomes a table with one row
per factor; a curve (a list of points) becomes a small inline SVG chart per plotted figure with its
band and a table of its points; a task's ``diagnostics`` are shown under their own heading, marked
as never ranked. Disclosures, the encoder, the command that produced the result, probe settings,
seeds, render options and timings follow.

Every string of the result file is escaped (``escape.html_text``); the charts are plain SVG
elements with presentation attributes, so the page's Content-Security-Policy (no inline ``style``
attributes) holds.
"""

from __future__ import annotations

import json
import math
from typing import Any, Sequence

from .escape import html_text
from .result import ScoreResult

_CHART_WIDTH, _CHART_HEIGHT = 300, 170
_MARGIN_LEFT, _MARGIN_RIGHT, _MARGIN_TOP, _MARGIN_BOTTOM = 52, 10, 10, 34
_MAX_CHARTS = 2  # figures charted per curve (every figure is in its table)


def _is_metric(node: Any) -> bool:
    return isinstance(node, dict) and set(node) == {"value", "ci"}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def fmt(value: Any) -> str:
    """A number for the detail view: four significant digits, a true minus sign; other values as text."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        return str(value).replace("-", "\u2212")
    if _number(value):
        return f"{value:.4g}".replace("-", "\u2212")
    if isinstance(value, list):
        return ", ".join(fmt(v) for v in value)
    return str(value)


def _metric_cells(node: dict) -> str:
    low, high = node["ci"]
    return f'<td class="num">{html_text(fmt(node["value"]))}</td><td class="num ci">[{html_text(fmt(low))}, {html_text(fmt(high))}]</td>'


def _label(key: Any) -> str:
    return html_text(str(key).replace("_", " "), limit=80)


# -- tables -----------------------------------------------------------------------------------------
def _metrics_table(items: Sequence[tuple[str, dict]]) -> list[str]:
    out = ['<table class="figures"><thead><tr><th scope="col">figure</th><th scope="col">value</th>'
           '<th scope="col">95% interval</th></tr></thead><tbody>']
    out += [f'<tr><th scope="row">{_label(key)}</th>{_metric_cells(node)}</tr>' for key, node in items]
    out.append("</tbody></table>")
    return out


def _is_factor_table(node: Any) -> bool:
    """A mapping whose values are all metrics, or all mappings of metrics (per-factor figures)."""
    if not isinstance(node, dict) or not node or _is_metric(node):
        return False
    values = list(node.values())
    return all(_is_metric(v) for v in values) or all(
        isinstance(v, dict) and v and not _is_metric(v) and all(_is_metric(x) for x in v.values()) for v in values)


def _factor_table(node: dict) -> list[str]:
    if all(_is_metric(v) for v in node.values()):
        return _metrics_table(list(node.items()))
    columns: list[str] = []
    for entry in node.values():
        columns += [k for k in entry if k not in columns]
    head = "".join(f'<th scope="col" colspan="2">{_label(c)} [95% interval]</th>' for c in columns)
    out = [f'<table class="figures"><thead><tr><th scope="col">factor</th>{head}</tr></thead><tbody>']
    for name, entry in node.items():
        cells = "".join(_metric_cells(entry[c]) if c in entry else '<td class="num">—</td><td></td>' for c in columns)
        out.append(f'<tr><th scope="row">{html_text(name, limit=80)}</th>{cells}</tr>')
    out.append("</tbody></table>")
    return out


def _is_curve(node: Any) -> bool:
    return isinstance(node, list) and bool(node) and all(isinstance(p, dict) for p in node)


def _curve_table(points: list[dict]) -> list[str]:
    columns: list[str] = []
    for point in points:
        columns += [k for k in point if k not in columns]
    head = "".join(f'<th scope="col">{_label(c)}</th>' for c in columns)
    out = [f'<table class="figures curve"><thead><tr>{head}</tr></thead><tbody>']
    for point in points:
        cells = []
        for c in columns:
            value = point.get(c)
            if _is_metric(value):
                low, high = value["ci"]
                cells.append(f'<td class="num">{html_text(fmt(value["value"]))} '
                             f'<span class="ci">[{html_text(fmt(low))}, {html_text(fmt(high))}]</span></td>')
            else:
                cells.append(f'<td class="num">{html_text(fmt(value), limit=80)}</td>')
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return out


# -- charts -------------------------------------------------------------------------------------------
def _axis_key(points: list[dict]) -> str | None:
    """The curve's x: the first field that is a plain number in every point."""
    for key in points[0]:
        if all(_number(p.get(key)) for p in points):
            return key
    return None


def _ticks(low: float, high: float, log: bool) -> list[float]:
    if log:
        first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
        step = max(1, (last - first) // 4)
        return [10.0**e for e in range(first, last + 1, step) if low <= 10.0**e <= high] or [low, high]
    if high == low:
        return [low]
    raw = (high - low) / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw), default=raw)
    start = math.ceil(low / step) * step
    return [start + i * step for i in range(int((high - start) / step + 1e-9) + 1)]


def chart(points: list[dict], x_key: str, y_key: str, title: str) -> str:
    """An inline SVG line chart of ``y_key`` (a metric: value and interval) against ``x_key`` for a curve's points.

    The y axis is logarithmic when every value and bound is positive and they span more than a
    factor of 20; the x axis is logarithmic when every x is positive and they span a factor of 20
    or more (numbers of draws or labels).
    """
    pts = [p for p in points if _number(p.get(x_key)) and _is_metric(p.get(y_key))]
    xs = [float(p[x_key]) for p in pts]
    ys = [float(p[y_key]["value"]) for p in pts]
    lows = [float(p[y_key]["ci"][0]) for p in pts]
    highs = [float(p[y_key]["ci"][1]) for p in pts]
    y_low, y_high = min(lows + ys), max(highs + ys)
    log_y = y_low > 0 and y_high / y_low > 20
    log_x = min(xs) > 0 and max(xs) / min(xs) >= 20
    tx = (lambda v: math.log10(v)) if log_x else (lambda v: v)
    ty = (lambda v: math.log10(v)) if log_y else (lambda v: v)
    x0, x1 = tx(min(xs)), tx(max(xs))
    y0, y1 = ty(y_low), ty(y_high)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    if y1 == y0:
        y0, y1 = y0 - (abs(y0) or 1) * 0.1, y1 + (abs(y1) or 1) * 0.1
    pad = (y1 - y0) * 0.06
    y0, y1 = y0 - pad, y1 + pad
    inner_w = _CHART_WIDTH - _MARGIN_LEFT - _MARGIN_RIGHT
    inner_h = _CHART_HEIGHT - _MARGIN_TOP - _MARGIN_BOTTOM

    def px(v: float) -> float:
        return _MARGIN_LEFT + (tx(v) - x0) / (x1 - x0) * inner_w

    def py(v: float) -> float:
        return _MARGIN_TOP + (1 - (ty(v) - y0) / (y1 - y0)) * inner_h

    band = " ".join(f"{px(x):.1f},{py(h):.1f}" for x, h in zip(xs, highs))
    band += " " + " ".join(f"{px(x):.1f},{py(v):.1f}" for x, v in reversed(list(zip(xs, lows))))
    line = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, ys))
    bottom = _MARGIN_TOP + inner_h
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {_CHART_WIDTH} {_CHART_HEIGHT}" width="{_CHART_WIDTH}" height="{_CHART_HEIGHT}">',
        f"<title>{html_text(title, limit=200)}</title>",
        f'<rect x="{_MARGIN_LEFT}" y="{_MARGIN_TOP}" width="{inner_w}" height="{inner_h}" fill="#fbfbfc" stroke="#ccc"/>',
    ]
    for tick in _ticks(10**y0 if log_y else y0, 10**y1 if log_y else y1, log_y):
        y = py(tick)
        parts.append(f'<line x1="{_MARGIN_LEFT}" x2="{_MARGIN_LEFT + inner_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e4e8"/>')
        parts.append(f'<text x="{_MARGIN_LEFT - 4}" y="{y + 3.5:.1f}" text-anchor="end" font-size="10" fill="#444">{html_text(fmt(tick))}</text>')
    shown = xs if len(xs) <= 8 else xs[:: math.ceil(len(xs) / 8)]
    for x in shown:
        parts.append(f'<text x="{px(x):.1f}" y="{bottom + 13}" text-anchor="middle" font-size="10" fill="#444">{html_text(fmt(x))}</text>')
    parts += [
        f'<polygon points="{band}" fill="#1f77b4" fill-opacity="0.18" stroke="none"/>',
        f'<polyline points="{line}" fill="none" stroke="#1f77b4" stroke-width="1.6"/>',
        *(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.4" fill="#1f77b4"/>' for x, y in zip(xs, ys)),
        f'<text x="{_MARGIN_LEFT + inner_w / 2:.1f}" y="{_CHART_HEIGHT - 4}" text-anchor="middle" font-size="11" fill="#222">'
        f'{_label(x_key)}{" (log)" if log_x else ""}</text>',
        f'<text x="12" y="{_MARGIN_TOP + inner_h / 2:.1f}" text-anchor="middle" font-size="11" fill="#222" '
        f'transform="rotate(-90 12 {_MARGIN_TOP + inner_h / 2:.1f})">{_label(y_key)}{" (log)" if log_y else ""}</text>',
        "</svg>",
    ]
    return "".join(parts)


def _curve(name: str, path: str, points: list[dict]) -> list[str]:
    x_key = _axis_key(points)
    figures = [k for k in points[0] if _is_metric(points[0].get(k))]
    out = [f'<div class="curve"><p class="curve-name">{_label(name)}</p>']
    if x_key is not None:
        out.append('<div class="charts">' + "".join(chart(points, x_key, y, f"{path}: {y} against {x_key}")
                                                   for y in figures[:_MAX_CHARTS]) + "</div>")
    out += _curve_table(points)
    out.append("</div>")
    return out


# -- the tree -----------------------------------------------------------------------------------------
def _node(node: Any, depth: int, path: str) -> list[str]:
    """A task's (or a part's) figures: metrics first, then per-factor tables, curves and nested parts."""
    if not isinstance(node, dict):
        return [f"<p>{html_text(fmt(node), limit=500)}</p>"]
    out: list[str] = []
    metrics = [(k, v) for k, v in node.items() if _is_metric(v)]
    if metrics:
        out += _metrics_table(metrics)
    for key, child in node.items():
        if _is_metric(child):
            continue
        if key == "diagnostics" and isinstance(child, dict):
            out += ['<div class="diagnostics"><p class="part">diagnostics <span class="muted">(shown for reference, never '
                    "ranked: not invariant to changes of the features that keep their information)</span></p>",
                    *_node(child, depth + 1, f"{path}.{key}"), "</div>"]
        elif _is_curve(child):
            out += _curve(key, f"{path}.{key}", child)
        elif _is_factor_table(child):
            out += [f'<p class="part">{_label(key)}</p>', *_factor_table(child)]
        elif isinstance(child, dict):
            if set(child) == {"skipped"}:
                out.append(f'<p class="part">{_label(key)}: <span class="skipped">skipped: {html_text(child["skipped"], limit=500)}</span></p>')
                continue
            out += [f'<details class="part"{" open" if depth < 1 else ""}><summary>{_label(key)}</summary>',
                    *_node(child, depth + 1, f"{path}.{key}"), "</details>"]
        else:
            out.append(f'<p class="part">{_label(key)}: {html_text(fmt(child), limit=500)}</p>')
    return out


def _settings(data: Any) -> str:
    if not isinstance(data, dict) or not data:
        return '<span class="muted">none</span>'
    return "; ".join(f"{html_text(k, limit=80)} = {html_text(fmt(v), limit=300)}" for k, v in data.items())


def detail_view(result: ScoreResult, *, anchor: str, back: str, rank: int | None, group: str, source: str) -> str:
    """The hidden section that shows ``result`` when the address ends in ``#<anchor>``.

    Args:
        result: the entry.
        anchor: the section's id (made of safe characters by the caller).
        back: the id the close link returns to (the entry's group).
        rank: its 1-based rank in the group (``None``: unranked).
        group: the group's heading, already HTML.
        source: the result file as HTML (a link, or a note that there is none).
    """
    data = result.to_dict()
    encoder = data.get("encoder", {})
    rank_text = f"rank {rank}" if rank is not None else "not ranked (no linear task)"
    out = [
        f'<section class="detail" id="{anchor}" role="dialog" aria-modal="false" aria-labelledby="{anchor}-title">',
        f'<p class="close"><a href="#{back}" aria-label="close">close ✕</a></p>',
        f'<h3 id="{anchor}-title">{html_text(result.name)}</h3>',
        f'<p class="muted">{group} · {rank_text}</p>',
        '<dl class="facts">',
        f"<dt>disclosures</dt><dd>{_settings(data.get('disclosures'))}</dd>",
        f"<dt>encoder</dt><dd>{_settings(encoder)}</dd>",
        f"<dt>command</dt><dd>{_command(data.get('command'))}</dd>",
        f"<dt>result file</dt><dd>{source}</dd>",
        f"<dt>rendering</dt><dd>{_settings(data.get('render'))}</dd>",
        f"<dt>seeds</dt><dd>{_settings(data.get('seeds'))}</dd>",
        f"<dt>scored</dt><dd>package {html_text(data.get('package_version'))}, schema {html_text(data.get('schema_version'))}, "
        f"{html_text(data.get('created'))}, device {html_text(data.get('device'))}; {_settings(data.get('environment'))}</dd>",
        "</dl>",
    ]
    probes, timings = data.get("probes", {}), data.get("timings", {}).get("tasks", {})
    for task, node in data.get("metrics", {}).items():
        out.append(f'<section class="task"><h4>{_label(task)}</h4>')
        if isinstance(node, dict) and set(node) == {"skipped"}:
            out.append(f'<p class="skipped">skipped: {html_text(node["skipped"], limit=1000)}</p>')
        else:
            out += _node(node, 0, str(task))
        extra = []
        if isinstance(probes, dict) and task in probes:
            extra.append(f"probe: {_settings(probes[task])}")
        if isinstance(timings, dict) and _number(timings.get(task)):
            extra.append(f"time: {fmt(timings[task])} s")
        if extra:
            out.append(f'<p class="muted small">{"; ".join(extra)}</p>')
        out.append("</section>")
    out.append("</section>")
    return "\n".join(out)


def _command(command: Any) -> str:
    if not isinstance(command, str) or not command:
        return '<span class="muted">not recorded</span>'
    return f"<code>{html_text(command, limit=2000)}</code>"


__all__ = ["chart", "detail_view", "fmt"]

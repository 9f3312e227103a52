"""Leaderboard figure: the curves of every entry, one block of panels per group (generator and suite).

A group's panels are the curves its results record: feature averaging, one panel per shift family
of its suite record (so a generator with other shift families gets its own grid), label efficiency,
and any further curve a task records (e.g. a worst-case curve); a task's ``diagnostics`` are not
drawn. Each block has a caption naming the group and the items its panels use. Each entry keeps one
colour everywhere: the colour is a hash of its name, so it is the same in every panel, every figure
and every run, whatever the order or the set of entries.

Every string taken from a result file is drawn literally: ``$`` is escaped, so matplotlib never
reads an entry name as mathtext, and TeX rendering is off whatever the user's matplotlibrc says.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from .._validate import bad_value, first_line
from .escape import plain_text
from .groups import Group, group_results
from .leaderboard import group_title
from .result import ScoreResult, check_output_path, write_text_atomic

_FORMATS = ("png", "pdf", "svg")
_NUMERICAL_ZERO = 1e-10
_R2_FLOOR = -1.0  # label-efficiency axis: lower R² values are drawn on the edge with their value
_SHIFT_WORDS = {"mean": "mean shift Δμ", "width": "width change Δv"}  # how a shift kind reads in a panel title
_COLUMNS = 3
_RC = {"text.usetex": False}  # user strings are drawn as typed, whatever the user's matplotlibrc says
REFERENCE_COLOURS: dict[str, str] = {"oracle": "#000000", "pixels": "#7f7f7f", "random-convnet": "#8c564b"}
"""The shipped reference entries: black (ceiling), grey (raw pixels), brown (floor)."""
# matplotlib's tab20 without its greys and browns (kept for the references), strong colours first.
PALETTE: tuple[str, ...] = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#e377c2", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#f7b6d2", "#dbdb8d", "#9edae5",
)
_LINESTYLES = ("-", "--", ":", "-.")


def entry_colour(name: str) -> str:
    """The colour of entry ``name``: fixed for the references, else a SHA-256 of the name into ``PALETTE``.

    It depends on the name only, so an entry looks the same in every panel, figure and run.
    """
    if name in REFERENCE_COLOURS:
        return REFERENCE_COLOURS[name]
    digest = hashlib.sha256(str(name).encode("utf-8")).digest()
    return PALETTE[int.from_bytes(digest[:4], "big") % len(PALETTE)]


def entry_styles(names: Sequence[str]) -> dict[str, tuple[str, str]]:
    """``name -> (colour, line style)``; entries sharing a colour get different line styles (by name)."""
    styles: dict[str, tuple[str, str]] = {}
    seen: dict[str, int] = {}
    for name in sorted(set(names)):
        colour = entry_colour(name)
        styles[name] = (colour, _LINESTYLES[seen.get(colour, 0) % len(_LINESTYLES)])
        seen[colour] = seen.get(colour, 0) + 1
    return styles


def literal(value: Any, *, limit: int = 40) -> str:
    """A user string as matplotlib draws it literally: one line of plain text, every ``$`` escaped (no mathtext)."""
    return plain_text(value, limit=limit).replace("$", r"\$")


def minus(value: float, digits: int = 2) -> str:
    """A number with a typographic minus sign (U+2212), as matplotlib's own tick labels."""
    return f"{value:.{digits}f}".replace("-", "\u2212")


@dataclass(frozen=True)
class Panel:
    """One panel of a group's grid: the curve at ``curve`` (a dotted path under ``metrics``), ``value`` against ``axis``."""

    curve: str
    axis: str
    value: str
    title: str
    ylabel: str
    log_x: bool = False
    xlabel: str | None = None


def _node(result: ScoreResult, path: str) -> Any:
    node: Any = result.to_dict()["metrics"]
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _is_metric(node: Any) -> bool:
    return isinstance(node, dict) and set(node) == {"value", "ci"}


def _is_curve(node: Any) -> bool:
    return isinstance(node, list) and bool(node) and all(isinstance(p, dict) for p in node)


def _curves(node: Any, path: str) -> Iterator[str]:
    """Dotted paths of every curve (a list of point objects) in a metrics tree, diagnostics left out."""
    if isinstance(node, dict) and not _is_metric(node):
        for key, child in node.items():
            if key == "diagnostics":
                continue
            here = f"{path}.{key}" if path else str(key)
            if _is_curve(child):
                yield here
            else:
                yield from _curves(child, here)


def _generic_panel(path: str, points: list[dict]) -> Panel | None:
    """A panel for a curve the figure has no wording for: first plain-number field against its MSE (or first metric)."""
    axes = [k for k, v in points[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    values = [k for k, v in points[0].items() if _is_metric(v)]
    if not axes or not values:
        return None
    value = "mean_mse" if "mean_mse" in values else values[0]
    title = path[: -len(".curve")] if path.endswith(".curve") else path
    return Panel(path, axes[0], value, literal(title.replace("_", " "), limit=60), literal(value.replace("_", " ")))


def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else "?"


def group_panels(group: Group) -> list[Panel]:
    """The panels of a group's grid, from the curves its results record (PROTOCOL.md §5 names them).

    Feature averaging first, then one panel per shift family (in the order of the suite record's
    ``robustness`` block, then any other family the results hold), label efficiency, the worst-case
    curve over neighbourhood sizes ε, and any other curve found in the results, in the order first met.
    """
    suite = group.record
    panels: list[Panel] = []
    if any(_is_curve(_node(r, "feature_averaging.curve")) for r in group.members):
        averaging = f"probe fitted on {_n(suite.get('n_averaging_train'))}, tested on {_n(suite.get('n_averaging_test'))} contents"
        panels.append(Panel("feature_averaging.curve", "M", "mean_mse", f"feature averaging: nuisance draws M\n({averaging})",
                            "mean MSE", log_x=True))
    recorded = suite.get("robustness") if isinstance(suite.get("robustness"), dict) else {}
    families = list(recorded)
    for result in group.members:
        node = _node(result, "robustness")
        families += [f for f in (node if isinstance(node, dict) else {}) if f not in families]
    per_level = f"{_n(suite.get('n_robustness_train'))} / {_n(suite.get('n_robustness_test'))} contents per level"
    for family in families:
        if not any(_is_curve(_node(r, f"robustness.{family}.curve")) for r in group.members):
            continue
        spec = recorded.get(family) if isinstance(recorded.get(family), dict) else {}
        name = (f"{spec['target']} {_SHIFT_WORDS.get(spec.get('shift'), str(spec.get('shift')) + ' shift')}"
                if isinstance(spec.get("target"), str) else family.replace("_", " "))
        panels.append(Panel(f"robustness.{family}.curve", "level", "mean_mse", f"{literal(name, limit=60)}\n({per_level})", "mean MSE"))
    if any(_is_curve(_node(r, "label_efficiency.curve")) for r in group.members):
        panels.append(Panel("label_efficiency.curve", "n_train", "mean_r2",
                            f"label efficiency: probe-training labels\n(tested on {_n(suite.get('n_test'))} contents)", "mean R²",
                            log_x=True))
    worst = [_node(r, "worst_case.curve") for r in group.members]
    if any(_is_curve(c) and "epsilon" in c[0] and _is_metric(c[0].get("normalized_mse")) for c in worst):
        panels.append(Panel("worst_case.curve", "epsilon", "normalized_mse",
                            f"worst case: neighbourhood size ε\n({_n(suite.get('n_worst_case'))} test contents)",
                            "normalized MSE (÷ prior variance)", xlabel="ε (fraction of each nuisance factor's range)"))
    known = {p.curve for p in panels}
    for result in group.members:
        for path in _curves(result.to_dict()["metrics"], ""):
            if path in known or path.startswith("robustness."):
                continue
            known.add(path)
            panel = _generic_panel(path, _node(result, path))
            if panel is not None:
                panels.append(panel)
    return panels


def _series(result: ScoreResult, panel: Panel) -> tuple[list, list, list, list]:
    points = _node(result, panel.curve)
    if not _is_curve(points):
        return [], [], [], []
    points = [p for p in points if _is_metric(p.get(panel.value)) and isinstance(p.get(panel.axis), (int, float))]
    xs = [p[panel.axis] for p in points]
    ys = [p[panel.value]["value"] for p in points]
    lows = [p[panel.value]["ci"][0] for p in points]
    highs = [p[panel.value]["ci"][1] for p in points]
    return xs, ys, lows, highs


def _dips(ys: Sequence[float]) -> bool:
    """Whether a label-efficiency curve loses R² (by more than 0.05) when labels are added."""
    return any(later < earlier - 0.05 for earlier, later in zip(ys, ys[1:]))


class _Marks:
    """What the drawn panels hold, for the caption and the legend."""

    def __init__(self) -> None:
        self.interpolating = False
        self.off_scale: set[str] = set()
        self.dips: list[str] = []


def _draw_r2(ax, result: ScoreResult, xs, ys, lows, highs, colour: str, style: str, label: str, marks: _Marks) -> bool:
    # The paper's probe weight (1e-8) with at most as many labels as features (n <= D) interpolates
    # the labels; such points are drawn hollow (see the caption).
    dim = result.to_dict()["encoder"]["feature_dim"]
    clip = [max(v, _R2_FLOOR) for v in ys]
    ax.plot(xs, clip, color=colour, linestyle=style, label=label)
    ax.fill_between(xs, [max(v, _R2_FLOOR) for v in lows], [max(v, _R2_FLOOR) for v in highs], color=colour, alpha=0.2, linewidth=0)
    floor_hit = False
    for x, y in zip(xs, ys):
        hollow = isinstance(dim, int) and x <= dim
        marks.interpolating = marks.interpolating or hollow
        ax.plot([x], [max(y, _R2_FLOOR)], marker="v" if y < _R2_FLOOR else "o", markersize=5 if hollow else 3, color=colour,
                markerfacecolor="white" if hollow else colour, linestyle="none")
        if y < _R2_FLOOR:
            floor_hit = True
            # Below the floor, on a white box above the lines: the curve never runs through the minus sign.
            ax.annotate(minus(y), (x, _R2_FLOOR), textcoords="offset points", xytext=(0, -9), ha="center", va="top", fontsize=7,
                        color=colour, zorder=5, bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.9})
    if _dips(ys):
        marks.dips.append(label)
    return floor_hit


def _draw_panel(ax, panel: Panel, members: Sequence[ScoreResult], styles: dict[str, tuple[str, str]], marks: _Marks) -> None:
    drawn = floor_hit = False
    log_y = panel.value != "mean_r2"
    for result in members:
        colour, style = styles[result.name]
        label = literal(result.name)
        xs, ys, lows, highs = _series(result, panel)
        if not xs:
            continue
        if log_y and max(ys) < _NUMERICAL_ZERO:
            # An MSE at rounding level (the oracle) would stretch the log axis over 12 decades.
            marks.off_scale.add(result.name)
            continue
        if panel.value == "mean_r2":
            floor_hit = _draw_r2(ax, result, xs, ys, lows, highs, colour, style, label, marks) or floor_hit
        else:
            ax.plot(xs, ys, marker="o", markersize=3, color=colour, linestyle=style, label=label)
            ax.fill_between(xs, lows, highs, color=colour, alpha=0.2, linewidth=0)
        if panel.curve == "feature_averaging.curve":
            table = _node(result, "linear.mean_mse")
            if _is_metric(table) and table["value"] >= _NUMERICAL_ZERO:
                ax.plot([1], [table["value"]], marker="D", markersize=6, markerfacecolor="none", color=colour, linestyle="none")
        drawn = True
    ax.set_title(panel.title, fontsize=9)
    ax.set_xlabel(panel.xlabel or literal(panel.axis))
    ax.set_ylabel(panel.ylabel)
    if drawn and log_y and all(v > 0 for line in ax.get_lines() for v in line.get_ydata()):
        ax.set_yscale("log")
    if drawn and panel.log_x and all(v > 0 for line in ax.get_lines() for v in line.get_xdata()):
        ax.set_xscale("log")
    if floor_hit:
        ax.set_ylim(bottom=_R2_FLOOR - 0.25)  # room for the values written under the floor
    if not drawn:
        ax.text(0.5, 0.5, "no entry records this curve", transform=ax.transAxes, ha="center", va="center", color="#777")
    ax.grid(alpha=0.3)


def _caption(group: Group, marks: _Marks) -> str:
    suite, members = group.record, group.members
    lines = [
        f"{group_title(group, literal)}. Lines: each entry's curve; shaded bands: 95% bootstrap intervals over the test "
        "contents. Hollow diamonds at M = 1: the table's mean MSE (linear task, "
        f"{_n(suite.get('n_train'))} / {_n(suite.get('n_test'))} contents).",
        "The curves use the smaller subsets named in each title, so an M = 1 point can lie above or below its diamond: "
        "other items, and a probe fitted on fewer items (the more so the more features it has).",
    ]
    if (suite.get("n_averaging_train"), suite.get("n_averaging_test")) == (suite.get("n_train"), suite.get("n_test")):
        lines[-1] = ("Feature averaging uses the table's items, so its M = 1 point is the diamond; the shift curves use the "
                     "smaller subsets named in their titles.")
    n_fit = suite.get("n_averaging_train")
    wide = [r for r in members if isinstance(n_fit, int) and isinstance(r.to_dict()["encoder"]["feature_dim"], int)
            and r.to_dict()["encoder"]["feature_dim"] >= n_fit]
    if wide:
        names = ", ".join(f"{literal(r.name)} (D = {r.to_dict()['encoder']['feature_dim']:,})" for r in wide[:4])
        lines[-1] += f" With at least as many features as the {_n(n_fit)} probe-training items: {names}."
    if marks.interpolating:
        lines.append(
            "Label efficiency, hollow circles: at most as many labels as features (n ≤ D). The paper's weight 1e-8 then "
            "nearly interpolates the labels, and the test error of a near-interpolating probe can peak far below n = D "
            "(double descent), which a weight chosen on validation items does not show. "
            "Triangles: R² below \u22121 (drawn at \u22121, value written below)."
        )
        if marks.dips:
            lines[-1] += f" R² falling with more labels: {', '.join(marks.dips[:4])}."
    return "\n".join(textwrap.fill(line, 190) for line in lines)


def _draw_group(subfigure, group: Group, styles: dict[str, tuple[str, str]]) -> None:
    panels = group_panels(group)
    columns = min(_COLUMNS, max(1, len(panels)))
    rows = max(1, math.ceil(len(panels) / columns))
    axes = list(subfigure.subplots(rows, columns, squeeze=False).flat)
    marks = _Marks()
    for ax, panel in zip(axes, panels):
        _draw_panel(ax, panel, group.members, styles, marks)
    for ax in axes[len(panels):]:  # the grid's unused cells
        ax.set_axis_off()
    from matplotlib.lines import Line2D

    members = group.members
    handles = [Line2D([], [], color=styles[r.name][0], linestyle=styles[r.name][1], marker="o", markersize=3) for r in members]
    labels = [literal(r.name) + (" (MSE ≈ 0: off the log scale)" if r.name in marks.off_scale else "") for r in members]
    subfigure.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 6), fontsize=9)
    subfigure.suptitle(_caption(group, marks), fontsize=8.5, ha="left", x=0.01, multialignment="left")


def group_rows(group: Group) -> int:
    """Rows of panels in a group's grid."""
    return max(1, math.ceil(len(group_panels(group)) / _COLUMNS))


def leaderboard_figure(results: Sequence[ScoreResult]):
    """The curves figure: one captioned grid of panels per group (generator and suite).

    Panels (``group_panels``): mean MSE against the number M of averaged nuisance draws; mean MSE
    against the level of each shift family; mean R² against the number of probe-training labels;
    any other curve the results record. MSE axes are logarithmic; a curve at rounding level (the
    oracle's MSE ≈ 1e-14) is listed in the legend but not drawn. Entries missing a task (or with the
    task skipped) are left out of that panel.

    Returns:
        A ``matplotlib.figure.Figure``.

    Raises:
        ValueError: no results, or two entries of one group with the same name.
    """
    if not results:
        raise ValueError("results=[]: expected at least one ScoreResult")
    import matplotlib

    # A bare Figure renders by file format without pyplot: the caller's backend is left alone.
    from matplotlib.figure import Figure

    groups = group_results(results)
    styles = entry_styles([r.name for r in results])
    heights = [3.4 * group_rows(g) + 2.6 for g in groups]
    with matplotlib.rc_context(_RC):
        figure = Figure(figsize=(15, sum(heights)), layout="constrained")
        subfigures = figure.subfigures(len(groups), 1, squeeze=False, height_ratios=heights)[:, 0]
        for subfigure, group in zip(subfigures, groups):
            _draw_group(subfigure, group, styles)
    return figure


def figure_bytes(results: Sequence[ScoreResult], fmt: str = "png", dpi: int = 110) -> bytes:
    """``leaderboard_figure(results)`` encoded as ``fmt`` (png, pdf or svg).

    Raises:
        ValueError: a bad ``fmt``, no results, or a figure matplotlib cannot draw (one line).
    """
    if fmt not in _FORMATS:
        raise bad_value("fmt", fmt, f"one of {', '.join(_FORMATS)}")
    import matplotlib

    buffer = io.BytesIO()
    figure = leaderboard_figure(results)
    try:
        with matplotlib.rc_context(_RC):
            figure.savefig(buffer, format=fmt, dpi=dpi)
    except (ValueError, RuntimeError) as err:  # matplotlib's messages span several lines (a parser's caret)
        first = first_line(err) or type(err).__name__
        raise ValueError(f"the leaderboard figure could not be drawn: {first}") from None
    return buffer.getvalue()


def plot_leaderboard(results: Sequence[ScoreResult], path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Draw ``leaderboard_figure(results)`` and save it atomically.

    Args:
        results: the entries to draw.
        path: output file, ``.png``, ``.pdf`` or ``.svg``.
        overwrite: replace an existing file.

    Raises:
        ValueError: no results, or an unsupported file extension.
        FileExistsError: ``path`` exists and ``overwrite`` is false.
    """
    if not results:
        raise ValueError("results=[]: expected at least one ScoreResult")
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in _FORMATS:
        raise bad_value("plot", str(path), f"a file name ending in one of {', '.join('.' + f for f in _FORMATS)}")
    check_output_path(path, overwrite)
    return write_text_atomic(path, figure_bytes(results, fmt, dpi=120), overwrite=overwrite)


__all__ = ["PALETTE", "entry_colour", "entry_styles", "figure_bytes", "leaderboard_figure", "plot_leaderboard"]

"""Leaderboard figure: feature-averaging, robustness and label-efficiency curves per entry.

One block of six panels per suite, each with a caption naming the suite and the items its panels
use. Each entry keeps one colour everywhere: the colour is a hash of its name, so it is the same
in every panel, every figure and every run, whatever the order or the set of entries.
"""

from __future__ import annotations

import hashlib
import io
import os
import textwrap
from pathlib import Path
from typing import Any, Sequence

from .._validate import bad_value
from ..shifts import SHIFT_FAMILIES
from .escape import plain_text
from .leaderboard import suite_groups
from .result import ScoreResult, check_output_path, write_text_atomic
from .suites import ROBUSTNESS_FAMILIES

_FORMATS = ("png", "pdf", "svg")
_NUMERICAL_ZERO = 1e-10
_R2_FLOOR = -1.0  # label-efficiency axis: lower R² values are drawn on the edge with their value
_TITLES = {key: family.title for key, family in SHIFT_FAMILIES.items()}  # panel titles: the registry's
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


def _series(result: ScoreResult, curve_path: str, axis: str, value: str) -> tuple[list, list, list, list]:
    points: Any = result.to_dict()["metrics"]
    for part in curve_path.split("."):
        points = points.get(part, {}) if isinstance(points, dict) else {}
    if not isinstance(points, list):
        return [], [], [], []
    points = [p for p in points if isinstance(p.get(value), dict)]
    xs = [p[axis] for p in points]
    ys = [p[value]["value"] for p in points]
    lows = [p[value]["ci"][0] for p in points]
    highs = [p[value]["ci"][1] for p in points]
    return xs, ys, lows, highs


def _dips(ys: Sequence[float]) -> bool:
    """Whether a label-efficiency curve loses R² (by more than 0.05) when labels are added."""
    return any(later < earlier - 0.05 for earlier, later in zip(ys, ys[1:]))


def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else "?"


def _draw_suite(subfigure, key: tuple[str, int], members: Sequence[ScoreResult], styles: dict[str, tuple[str, str]]) -> None:
    suite = members[0].to_dict()["suite"]
    averaging = f"probe fitted on {_n(suite.get('n_averaging_train'))}, tested on {_n(suite.get('n_averaging_test'))} contents"
    robustness = f"{_n(suite.get('n_robustness_train'))} / {_n(suite.get('n_robustness_test'))} contents per level"
    labels = f"tested on {_n(suite.get('n_test'))} contents"
    axes = subfigure.subplots(2, 3)
    panels = [("feature_averaging.curve", "M", "mean_mse", f"feature averaging: nuisance draws M\n({averaging})", "mean MSE", True)]
    panels += [(f"robustness.{family}.curve", "level", "mean_mse", f"{_TITLES[family]}\n({robustness})", "mean MSE", True)
               for family in ROBUSTNESS_FAMILIES]
    panels.append(("label_efficiency.curve", "n_train", "mean_r2", f"label efficiency: probe-training labels\n({labels})", "mean R²", False))
    interpolating = False
    off_scale: set[str] = set()
    for ax, (curve, axis, value, title, ylabel, log_y) in zip(axes.flat, panels):
        drawn = False
        floor_hit = False
        for result in members:
            colour, style = styles[result.name]
            label = plain_text(result.name, limit=40)
            xs, ys, lows, highs = _series(result, curve, axis, value)
            if log_y and xs and max(ys) < _NUMERICAL_ZERO:
                # An MSE at rounding level (the oracle) would stretch the log axis over 12 decades.
                off_scale.add(result.name)
                continue
            if not xs:
                continue
            if value == "mean_r2":
                # The paper's probe weight (1e-8) with at most as many labels as features (n ≤ D)
                # interpolates the labels; such points are drawn hollow (see the caption).
                dim = result.to_dict()["encoder"]["feature_dim"]
                clipped = [max(y, _R2_FLOOR) for y in ys]
                ax.plot(xs, clipped, color=colour, linestyle=style, label=label)
                ax.fill_between(xs, [max(v, _R2_FLOOR) for v in lows], [max(v, _R2_FLOOR) for v in highs], color=colour, alpha=0.2, linewidth=0)
                for x, y in zip(xs, ys):
                    hollow = x <= dim
                    interpolating = interpolating or hollow
                    marker = "v" if y < _R2_FLOOR else "o"
                    ax.plot([x], [max(y, _R2_FLOOR)], marker=marker, markersize=5 if hollow else 3, color=colour,
                            markerfacecolor="white" if hollow else colour, linestyle="none")
                    if y < _R2_FLOOR:
                        floor_hit = True
                        ax.annotate(f"{y:.2f}", (x, _R2_FLOOR), textcoords="offset points", xytext=(4, 4), fontsize=7, color=colour)
            else:
                ax.plot(xs, ys, marker="o", markersize=3, color=colour, linestyle=style, label=label)
                ax.fill_between(xs, lows, highs, color=colour, alpha=0.2, linewidth=0)
            if curve == "feature_averaging.curve":
                try:
                    table = result.metric("linear.mean_mse")
                except ValueError:
                    table = None
                if table is not None and table >= _NUMERICAL_ZERO:
                    ax.plot([1], [table], marker="D", markersize=6, markerfacecolor="none", color=colour, linestyle="none")
            drawn = True
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(axis)
        ax.set_ylabel(ylabel)
        if log_y and drawn:
            ax.set_yscale("log")
        if axis in ("M", "n_train") and drawn:
            ax.set_xscale("log")
        if floor_hit:
            ax.set_ylim(bottom=_R2_FLOOR - 0.08)
        ax.grid(alpha=0.3)
    name, version = key
    lines = [
        f"Suite {plain_text(name, limit=40)} (version {version}). Lines: each entry's curve; shaded bands: 95% bootstrap "
        "intervals over the test contents. Hollow diamonds at M = 1: the table's mean MSE (linear task, "
        f"{_n(suite.get('n_train'))} / {_n(suite.get('n_test'))} contents).",
        "The curves use the smaller subsets named in each title; a probe fits worse on fewer items, the more so "
        "the more features it has, so an M = 1 point can lie above its diamond.",
    ]
    if (suite.get("n_averaging_train"), suite.get("n_averaging_test")) == (suite.get("n_train"), suite.get("n_test")):
        lines[-1] = ("Feature averaging uses the table's items, so its M = 1 point is the diamond; the shift curves use the "
                     "smaller subsets named in their titles.")
    n_fit = suite.get("n_averaging_train")
    wide = [r for r in members if isinstance(n_fit, int) and r.to_dict()["encoder"]["feature_dim"] >= n_fit]
    if wide:
        names = ", ".join(f"{plain_text(r.name, limit=40)} (D = {r.to_dict()['encoder']['feature_dim']:,})" for r in wide[:4])
        lines[-1] += f" With at least as many features as the {_n(n_fit)} probe-training items: {names}."
    if interpolating:
        lines.append(
            "Label efficiency, hollow circles: at most as many labels as features (n ≤ D). The paper's weight 1e-8 then "
            "nearly interpolates the labels, and the test error of a near-interpolating probe can peak far below n = D "
            "(double descent), which a weight chosen on validation items does not show. "
            "Triangles: R² below −1 (drawn at −1, value written beside)."
        )
        dips = [plain_text(r.name, limit=40) for r in members if _dips(_series(r, "label_efficiency.curve", "n_train", "mean_r2")[1])]
        if dips:
            lines[-1] += f" R² falling with more labels: {', '.join(dips[:4])}."
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=styles[r.name][0], linestyle=styles[r.name][1], marker="o", markersize=3) for r in members]
    labels_ = [plain_text(r.name, limit=40) + (" (MSE ≈ 0: off the log scale)" if r.name in off_scale else "") for r in members]
    subfigure.legend(handles, labels_, loc="outside lower center", ncol=min(len(labels_), 6), fontsize=9)
    text = "\n".join(textwrap.fill(line, 190) for line in lines)
    subfigure.suptitle(text, fontsize=8.5, ha="left", x=0.01, multialignment="left")


def leaderboard_figure(results: Sequence[ScoreResult]):
    """The curves figure: one block of six panels per suite, captioned (suite, items, bands, markers).

    Panels: mean MSE against the number M of averaged nuisance draws; mean MSE against the level
    of each of the four nuisance shifts; mean R² against the number of probe-training labels.
    MSE axes are logarithmic; a curve at rounding level (the oracle's MSE ≈ 1e-14) is listed in the
    legend but not drawn. Entries missing a task (or with the task skipped) are left out of that panel.

    Returns:
        A ``matplotlib.figure.Figure``.

    Raises:
        ValueError: no results.
    """
    if not results:
        raise ValueError("results=[]: expected at least one ScoreResult")
    # A bare Figure renders by file format without pyplot: the caller's backend is left alone.
    from matplotlib.figure import Figure

    groups = suite_groups(results)
    styles = entry_styles([r.name for r in results])
    figure = Figure(figsize=(15, 9.5 * len(groups)), layout="constrained")
    subfigures = figure.subfigures(len(groups), 1, squeeze=False)[:, 0]
    for subfigure, (key, members) in zip(subfigures, groups):
        _draw_suite(subfigure, key, members, styles)
    return figure


def figure_bytes(results: Sequence[ScoreResult], fmt: str = "png", dpi: int = 110) -> bytes:
    """``leaderboard_figure(results)`` encoded as ``fmt`` (png, pdf or svg)."""
    if fmt not in _FORMATS:
        raise bad_value("fmt", fmt, f"one of {', '.join(_FORMATS)}")
    buffer = io.BytesIO()
    leaderboard_figure(results).savefig(buffer, format=fmt, dpi=dpi)
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

"""Leaderboard figure: feature-averaging, robustness and label-efficiency curves per entry."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Sequence

from .._validate import bad_value
from .result import ScoreResult, check_output_path, write_text_atomic
from .suites import ROBUSTNESS_FAMILIES

_FORMATS = ("png", "pdf", "svg")
_NUMERICAL_ZERO = 1e-10
_TITLES = {
    "background_mean": "background mean shift Δμ",
    "background_width": "background width change Δv",
    "h_mean": "h mean shift Δμ",
    "h_width": "h width change Δv",
}


def _series(result: ScoreResult, curve_path: str, axis: str, value: str) -> tuple[list, list, list, list]:
    points = result.to_dict()["metrics"]
    for part in curve_path.split("."):
        points = points.get(part, {}) if isinstance(points, dict) else {}
    if not isinstance(points, list):
        return [], [], [], []
    xs = [p[axis] for p in points]
    ys = [p[value]["value"] for p in points]
    lows = [p[value]["ci"][0] for p in points]
    highs = [p[value]["ci"][1] for p in points]
    return xs, ys, lows, highs


def plot_leaderboard(results: Sequence[ScoreResult], path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Draw each entry's curves with their 95% intervals and save the figure atomically.

    Panels: mean MSE against the number M of averaged nuisance draws; mean MSE against the level
    of each of the four nuisance shifts; mean R² against the number of probe-training labels.
    MSE axes are logarithmic; a curve at rounding level (the oracle's MSE ≈ 1e-14) is listed in the
    legend but not drawn. Entries missing a task are skipped in that panel.

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
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(15, 8.5), layout="constrained")
    axes = figure.subplots(2, 3)
    panels = [("feature_averaging.curve", "M", "mean_mse", "feature averaging: nuisance draws M", "mean MSE", True)]
    panels += [(f"robustness.{family}.curve", "level", "mean_mse", _TITLES[family], "mean MSE", True) for family in ROBUSTNESS_FAMILIES]
    panels.append(("label_efficiency.curve", "n_train", "mean_r2", "label efficiency: probe-training labels", "mean R²", False))
    for ax, (curve, axis, value, title, ylabel, log_y) in zip(axes.flat, panels):
        drawn = False
        for index, result in enumerate(results):
            color = f"C{index % 10}"
            xs, ys, lows, highs = _series(result, curve, axis, value)
            if log_y and xs and max(ys) < _NUMERICAL_ZERO:
                # An MSE at rounding level (the oracle) would stretch the log axis over 12 decades.
                ax.plot([], [], color=color, marker="o", markersize=3, label=f"{result.name} (MSE ≈ 0, off scale)")
                continue
            if not xs:
                continue
            ax.plot(xs, ys, marker="o", markersize=3, color=color, label=result.name)
            ax.fill_between(xs, lows, highs, color=color, alpha=0.2, linewidth=0)
            drawn = True
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(axis)
        ax.set_ylabel(ylabel)
        if log_y and drawn:
            ax.set_yscale("log")
        if axis in ("M", "n_train") and drawn:
            ax.set_xscale("log")
        ax.grid(alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if not handles:
        handles, labels = axes.flat[1].get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 6), fontsize=9)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=120)
    return write_text_atomic(path, buffer.getvalue(), overwrite=overwrite)

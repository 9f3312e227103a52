"""Matplotlib figures: sample grids, factor traversals and training curves.

Figures are built on the Agg canvas directly (``matplotlib.figure.Figure``), so nothing touches
pyplot's global state or needs a display. ``path=`` saves the figure; an existing file is only
replaced with ``overwrite=True``, and the file appears atomically (written beside, then renamed).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ._io import check_output_path, write_atomic
from ._validate import bad_value, check_int
from .factors import FactorSpace
from .generator import Generator


def _formats() -> dict:
    return FigureCanvasAgg(Figure()).get_supported_filetypes()


def check_figure_path(path, *, overwrite: bool = False) -> Path:
    """Check that a figure can be saved at ``path``; return it as a Path.

    Raises:
        ValueError: not a path, or an extension matplotlib cannot write.
        FileExistsError, FileNotFoundError, IsADirectoryError, PermissionError: as
            ``spirograph._io.check_output_path``.
    """
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise bad_value("path", path, "a file path such as 'grid.png'")
    path = Path(path)
    suffix = path.suffix.lower().lstrip(".")
    formats = _formats()
    if suffix not in formats:
        raise bad_value("path", str(path), "a file name ending in one of " + ", ".join("." + f for f in sorted(formats)))
    return check_output_path(path, overwrite=overwrite)


def save_figure(fig: Figure, path, *, overwrite: bool = False, dpi: int = 150) -> Path:
    """Save ``fig`` to ``path`` atomically, refusing to replace a file unless ``overwrite``."""
    path = check_figure_path(path, overwrite=overwrite)
    fmt = path.suffix.lower().lstrip(".")
    write_atomic(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight"), overwrite=overwrite)
    return path


def _as_images(images) -> np.ndarray:
    """Validate (N, 3, R, R) images (tensor or array; float, or uint8 = value/255) -> float array in [0, 1]."""
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    if not isinstance(images, np.ndarray):
        raise bad_value("images", type(images).__name__, "a tensor or array of shape (N, 3, R, R)")
    if images.ndim != 4 or images.shape[1] != 3 or images.shape[0] < 1 or images.shape[2] < 1 or images.shape[3] < 1:
        raise bad_value("images.shape", tuple(images.shape), "(N, 3, R, R) with N >= 1")
    if images.dtype == np.uint8:
        images = images.astype(np.float32) / 255.0
    elif not np.issubdtype(images.dtype, np.floating):
        raise bad_value("images.dtype", images.dtype, "a floating dtype or uint8")
    if not np.isfinite(images).all():
        raise bad_value("images", "non-finite values", "finite values")
    # Shifted colours can leave [0, 1]; the display clips, the data are untouched.
    return np.clip(images.astype(np.float32), 0.0, 1.0)


def _mosaic(images: np.ndarray, nrow: int, pad: int = 1) -> np.ndarray:
    """Tile (N, 3, H, W) into one (rows·(H+pad)+pad, nrow·(W+pad)+pad, 3) array on white."""
    n, _, h, w = images.shape
    rows = math.ceil(n / nrow)
    canvas = np.ones((rows * (h + pad) + pad, nrow * (w + pad) + pad, 3), dtype=np.float32)
    for k in range(n):
        r, c = divmod(k, nrow)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        canvas[top : top + h, left : left + w] = images[k].transpose(1, 2, 0)
    return canvas


def sample_grid(images, *, nrow: int | None = None, title: str | None = None, path=None, overwrite: bool = False, cell_inches: float = 0.6) -> Figure:
    """A grid of images, ``nrow`` per row.

    Args:
        images: (N, 3, R, R) tensor or array, float (shown clipped to [0, 1]) or uint8.
        nrow: images per row (default ceil(sqrt(N))).
        title: optional figure title (drawn literally: no mathtext).
        path: save the figure there (png, pdf, svg, ...); refused if it exists unless ``overwrite``.
        cell_inches: displayed size of one image.

    Returns:
        The ``matplotlib.figure.Figure``.

    Raises:
        ValueError: bad shapes, dtypes, non-finite values, ``nrow`` or path; FileExistsError.
    """
    array = _as_images(images)
    nrow = math.ceil(math.sqrt(len(array))) if nrow is None else check_int("nrow", nrow, 1)
    nrow = min(nrow, len(array))
    if path is not None:
        check_figure_path(path, overwrite=overwrite)
    if not (isinstance(cell_inches, (int, float)) and 0 < cell_inches < 10):
        raise bad_value("cell_inches", cell_inches, "a number in (0, 10)")
    rows = math.ceil(len(array) / nrow)
    fig = Figure(figsize=(max(2.0, nrow * cell_inches), max(1.0, rows * cell_inches) + (0.4 if title else 0.0)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(_mosaic(array, nrow), interpolation="nearest")
    ax.set_axis_off()
    if title:
        from .harness.plots import literal

        ax.set_title(literal(title, limit=200), fontsize=8)  # a file name is drawn as typed, never as mathtext
    if path is not None:
        save_figure(fig, path, overwrite=overwrite)
    return fig


def factor_traversal(
    generator_or_space,
    factor: str,
    *,
    steps: int = 8,
    rows: int = 4,
    seed: int = 0,
    stream: str = "traversal",
    path=None,
    overwrite: bool = False,
    cell_inches: float = 0.6,
) -> Figure:
    """Sweep one factor across its range while the other nine stay fixed, for a few items.

    Row r is item r of ``(seed, stream)``; column j sets ``factor`` to the j-th of ``steps``
    evenly spaced values from its range's low to high end.

    Args:
        generator_or_space: a ``Generator`` such as ``Spirograph`` (its rendering options are
            used) or a ``FactorSpace`` (its generator with default options).
        factor: one of the generator's factor names.
        steps: columns (>= 2); rows: items (>= 1); seed: base items' seed (>= 0).
        path, overwrite, cell_inches: as in ``sample_grid``.

    Returns:
        The ``matplotlib.figure.Figure``; the swept values label the x axis.

    Raises:
        ValueError: unknown factor, a pinned factor (nothing to sweep), bad counts or path.
    """
    if isinstance(generator_or_space, FactorSpace):
        gen = Generator(space=generator_or_space)
    elif isinstance(generator_or_space, Generator):
        gen = generator_or_space
    else:
        raise bad_value("generator_or_space", type(generator_or_space).__name__, "a spirograph.Spirograph (or Generator) or FactorSpace")
    spec = gen.space[factor]  # an unknown name: one line with what the generator has
    if spec.pinned:
        raise bad_value("factor", factor, f"a factor with a range to sweep ({factor} is pinned to {spec.low:g})")
    steps = check_int("steps", steps, 2)
    rows = check_int("rows", rows, 1)
    if path is not None:
        check_figure_path(path, overwrite=overwrite)
    base = gen.space.sample(rows, seed=seed, stream=stream, dtype=gen.dtype, device=gen.device)
    values = torch.linspace(spec.low, spec.high, steps, dtype=gen.dtype, device=gen.device)
    factors = {name: v.repeat_interleave(steps) for name, v in base.items()}  # row-major: item, then step
    factors[factor] = values.repeat(rows)
    with torch.no_grad():
        images = gen.spec.render(factors, **gen.render_options())
    fig = sample_grid(images, nrow=steps, cell_inches=cell_inches)
    ax = fig.axes[0]
    ax.set_axis_on()
    size = gen.resolution + 1
    ax.set_xticks([1 + size * j + gen.resolution / 2 for j in range(steps)], [f"{v:.3g}" for v in values.tolist()], fontsize=7)
    ax.set_yticks([])
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel(f"{factor} (other factors fixed per row)", fontsize=8)
    if path is not None:
        save_figure(fig, path, overwrite=overwrite)
    return fig


# -- training curves ------------------------------------------------------------------------------
METRICS_FILE = "metrics.jsonl"
"""The training log of a run directory: one JSON object per logged step (``spirograph-train``)."""
CURVES_FILE = "curves.png"
"""The figure of a run's log that ``spirograph-train`` writes at the end of a run."""
_NOT_TERMS = ("step", "epoch", "lr", "pairs_per_s", "loss")


def read_metrics(path) -> list[dict]:
    """Read a training log (JSON lines, each an object with an integer ``step``), sorted by step.

    Args:
        path: a ``metrics.jsonl`` file, or a run directory holding one.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a line that is not a JSON object with an integer ``step`` (file and line named),
            or a log with no lines.
    """
    import json

    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise bad_value("path", path, "a metrics.jsonl file or a run directory")
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"training log {str(path)!r} does not exist")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            raise bad_value("path", str(path), f"JSON lines (line {number} is not JSON)") from None
        if not isinstance(record, dict) or isinstance(record.get("step"), bool) or not isinstance(record.get("step"), int):
            raise bad_value("path", str(path), f"JSON objects with an integer 'step' (line {number} is not)")
        records.append(record)
    if not records:
        raise bad_value("path", str(path), "a training log with at least one logged step (it is empty)")
    return sorted(records, key=lambda r: r["step"])


def _numeric(records, key: str) -> tuple[list[float], list[float]]:
    steps, values = [], []
    for record in records:
        value = record.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            steps.append(record["step"])
            values.append(float(value))
    return steps, values


def _same_as_loss(records, term: str) -> bool:
    """Whether ``term`` repeats the loss at every step that logs it (SimCLR logs its only loss part, ``nt_xent``)."""
    pairs = [(r.get(term), r.get("loss")) for r in records if term in r]
    numbers = [(a, b) for a, b in pairs if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))]
    return bool(numbers) and len(numbers) == len(pairs) and all(math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) for a, b in numbers)


def other_terms(records) -> list[str]:
    """The logged terms a run's figure draws in its "other terms" panel: numeric, not step/lr/speed, not a copy of the loss."""
    keys = sorted({k for r in records for k in r if k not in _NOT_TERMS})
    return [k for k in keys if _numeric(records, k)[0] and not _same_as_loss(records, k)]


def training_curves(runs, *, title: str | None = None, path=None, overwrite: bool = False) -> Figure:
    """Loss, the other logged terms, learning rate and throughput against step, for one or more runs.

    Each run keeps one colour (a hash of its label, as on the leaderboard figure). The "other
    terms" panel appears only when some run logs a term besides its loss (a term equal to the loss
    at every step, such as SimCLR's ``nt_xent``, is not another term); in it a term keeps one line
    style across runs (one colour per term when there is one run). Legends sit outside the panels,
    so they never cover a curve, whatever the number of runs.

    Args:
        runs: mapping ``label -> records`` (``read_metrics`` output), or one run directory /
            ``metrics.jsonl`` path, or a sequence of them (labelled by their folder names).
        title: optional figure title (drawn literally: no mathtext).
        path: save the figure there; refused if it exists unless ``overwrite``.

    Returns:
        The ``matplotlib.figure.Figure``; its axes are loss, [other terms,] learning rate, throughput.

    Raises:
        ValueError: no runs, a bad log, or a bad path; FileExistsError.
    """
    from matplotlib.lines import Line2D

    from .harness.plots import entry_colour, literal

    runs = _as_runs(runs)
    if path is not None:
        check_figure_path(path, overwrite=overwrite)
    terms = {label: other_terms(records) for label, records in runs.items()}
    all_terms = sorted({t for names in terms.values() for t in names})
    one = len(runs) == 1
    fig = Figure(figsize=(12, 7.5) if all_terms else (14, 4.6), layout="constrained")
    FigureCanvasAgg(fig)
    if all_terms:
        (ax_loss, ax_terms), (ax_lr, ax_speed) = fig.subplots(2, 2)
    else:
        (ax_loss, ax_lr, ax_speed), ax_terms = fig.subplots(1, 3), None
    styles = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2)), (0, (1, 1)), (0, (3, 3, 1, 3)))
    term_colours = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
    positive = True
    for label, records in runs.items():
        colour, shown = entry_colour(label), literal(label, limit=60)
        ax_loss.plot(*_numeric(records, "loss"), color=colour, label=shown)
        for term in terms[label]:
            index = all_terms.index(term)
            steps, values = _numeric(records, term)
            positive = positive and min(values) > 0
            ax_terms.plot(steps, values, color=term_colours[index % len(term_colours)] if one else colour,
                          linestyle="-" if one else styles[index % len(styles)], label=literal(term) if one else f"{shown}: {literal(term)}")
        ax_lr.plot(*_numeric(records, "lr"), color=colour, label=shown)
        ax_speed.plot(*_numeric(records, "pairs_per_s"), color=colour, marker="o", markersize=2, label=shown)
    panels = [(ax_loss, "loss (mean over each logging window)"), (ax_lr, "learning rate"), (ax_speed, "throughput (pairs/s)")]
    if ax_terms is not None:
        panels.insert(1, (ax_terms, "other logged terms (loss parts, weights)"))
    for ax, name in panels:
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    if ax_terms is not None:
        if positive and ax_terms.get_lines():
            ax_terms.set_yscale("log")
        # One entry per term (its style, or its colour for one run): run colours are in the figure's legend.
        handles = [Line2D([], [], color=term_colours[i % len(term_colours)] if one else "#333333",
                          linestyle="-" if one else styles[i % len(styles)]) for i in range(len(all_terms))]
        ax_terms.legend(handles, [literal(t) for t in all_terms], fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                        borderaxespad=0.0, title="term", title_fontsize=8)
    handles = [Line2D([], [], color=entry_colour(label)) for label in runs]
    fig.legend(handles, [literal(label, limit=60) for label in runs], loc="outside lower center", ncol=min(len(runs), 4), fontsize=9,
               title="run")
    if title:
        fig.suptitle(literal(title, limit=120), fontsize=11)
    if path is not None:
        save_figure(fig, path, overwrite=overwrite)
    return fig


def _as_runs(runs) -> dict:
    if isinstance(runs, (str, os.PathLike)):
        runs = [runs]
    if isinstance(runs, dict):
        out = {str(label): list(records) for label, records in runs.items()}
    else:
        try:
            items = list(runs)
        except TypeError:
            raise bad_value("runs", type(runs).__name__, "run directories, metrics.jsonl paths, or a mapping label -> records") from None
        out = {}
        for item in items:
            folder = Path(item) if Path(item).is_dir() else Path(item).parent
            label = folder.resolve().name or str(item)
            while label in out:  # two runs in folders of the same name
                label += "'"
            out[label] = read_metrics(item)
    if not out:
        raise bad_value("runs", [], "at least one run")
    for label, records in out.items():
        if not records or not all(isinstance(r, dict) and isinstance(r.get("step"), int) for r in records):
            raise bad_value(f"runs[{label!r}]", "records", "a non-empty list of objects with an integer 'step'")
    return out


def write_run_curves(run_dir, *, overwrite: bool = True) -> Path:
    """Draw a run directory's ``metrics.jsonl`` into its ``curves.png`` (replaced by default).

    Raises:
        FileNotFoundError, ValueError: as ``read_metrics``.
    """
    run_dir = Path(run_dir)
    label = run_dir.resolve().name
    training_curves({label: read_metrics(run_dir)}, title=f"training run {label}", path=run_dir / CURVES_FILE, overwrite=overwrite)
    return run_dir / CURVES_FILE

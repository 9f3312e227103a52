"""Matplotlib figures of Spirograph images: sample grids and factor traversals.

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
from ._validate import bad_value, check_int, unknown_name
from .factors import FACTOR_NAMES, FactorSpace
from .generator import Spirograph
from .render import render


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
        title: optional figure title.
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
        ax.set_title(title, fontsize=8)
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
        generator_or_space: a ``Spirograph`` (its rendering options are used) or a ``FactorSpace``.
        factor: one of the ten factor names.
        steps: columns (>= 2); rows: items (>= 1); seed: base items' seed (>= 0).
        path, overwrite, cell_inches: as in ``sample_grid``.

    Returns:
        The ``matplotlib.figure.Figure``; the swept values label the x axis.

    Raises:
        ValueError: unknown factor, a pinned factor (nothing to sweep), bad counts or path.
    """
    if isinstance(generator_or_space, FactorSpace):
        gen = Spirograph(generator_or_space)
    elif isinstance(generator_or_space, Spirograph):
        gen = generator_or_space
    else:
        raise bad_value("generator_or_space", type(generator_or_space).__name__, "a spirograph.Spirograph or FactorSpace")
    if factor not in FACTOR_NAMES:
        raise unknown_name("factor", factor, FACTOR_NAMES)
    spec = gen.space[factor]
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
        images = render(factors, **gen.render_options())
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

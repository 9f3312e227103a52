"""Figures: sample grids and factor traversals produce figures and files, and validate input."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from spirograph import FactorSpace, Spirograph, render
from spirograph.viz import factor_traversal, sample_grid

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def images():
    return Spirograph(resolution=16).items(10, seed=0, stream="viz")[0]


def test_sample_grid_figure_and_mosaic(images):
    fig = sample_grid(images, nrow=4, title="ten")
    assert isinstance(fig, Figure)
    mosaic = fig.axes[0].get_images()[0].get_array()
    # 3 rows of 4 cells of 16 pixels with 1-pixel white gaps.
    assert mosaic.shape == (3 * 17 + 1, 4 * 17 + 1, 3)
    assert np.allclose(mosaic[1:17, 1:17], images[0].permute(1, 2, 0).clamp(0, 1).numpy())
    assert fig.axes[0].get_title() == "ten"


def test_sample_grid_accepts_uint8_and_out_of_range_values(images):
    as_uint8 = (images * 255).round().to(torch.uint8).numpy()
    assert isinstance(sample_grid(as_uint8), Figure)
    shifted = images - 0.5  # shifted colours can leave [0, 1]: shown clipped
    assert sample_grid(shifted).axes[0].get_images()[0].get_array().min() >= 0


def test_sample_grid_saves_and_refuses_to_overwrite(images, tmp_path):
    path = tmp_path / "grid.png"
    sample_grid(images, path=path)
    assert path.read_bytes()[:8] == PNG
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        sample_grid(images[:2], path=path)
    assert path.read_bytes() == before
    sample_grid(images[:2], path=path, overwrite=True)
    assert path.read_bytes() != before
    sample_grid(images, path=tmp_path / "grid.pdf")
    assert (tmp_path / "grid.pdf").read_bytes()[:4] == b"%PDF"
    assert sorted(os.listdir(tmp_path)) == ["grid.pdf", "grid.png"]  # no temporary files left


@pytest.mark.parametrize(
    "value, kwargs, match",
    [
        (torch.zeros(3, 16, 16), {}, r"images.shape"),
        (torch.zeros(2, 1, 16, 16), {}, r"images.shape"),
        (torch.zeros(0, 3, 16, 16), {}, r"images.shape"),
        (torch.zeros(2, 3, 4, 4, dtype=torch.int64), {}, r"images.dtype"),
        (torch.full((1, 3, 4, 4), float("nan")), {}, "finite"),
        ([[1, 2]], {}, "images="),
        (torch.zeros(2, 3, 4, 4), {"nrow": 0}, "nrow=0"),
        (torch.zeros(2, 3, 4, 4), {"path": "grid.xyz"}, "ending in one of"),
        (torch.zeros(2, 3, 4, 4), {"path": "missing-dir/grid.png"}, "does not exist"),
    ],
)
def test_sample_grid_bad_input(value, kwargs, match, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        sample_grid(value, **kwargs)
    assert os.listdir(tmp_path) == []


def test_factor_traversal_sweeps_one_factor(tmp_path):
    gen = Spirograph(resolution=16)
    fig = factor_traversal(gen, "h", steps=5, rows=2, path=tmp_path / "h.png")
    assert (tmp_path / "h.png").read_bytes()[:8] == PNG
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == [f"{v:.3g}" for v in np.linspace(0.5, 2.5, 5)]
    mosaic = fig.axes[0].get_images()[0].get_array()
    assert mosaic.shape == (2 * 17 + 1, 5 * 17 + 1, 3)
    # Cell (r, j) is item r of the traversal stream with only h replaced by the j-th value.
    base = gen.space.sample(2, seed=0, stream="traversal")
    for r in range(2):
        for j, value in enumerate(np.linspace(0.5, 2.5, 5)):
            factors = {name: v[r : r + 1].clone() for name, v in base.items()}
            factors["h"] = torch.tensor([value], dtype=torch.float32)
            expected = render(factors, resolution=16)[0].clamp(0, 1).permute(1, 2, 0).numpy()
            cell = mosaic[1 + 17 * r : 17 + 17 * r, 1 + 17 * j : 17 + 17 * j]
            assert np.allclose(cell, expected, atol=1e-6)
    # Reproducible from its seed.
    again = factor_traversal(gen, "h", steps=5, rows=2).axes[0].get_images()[0].get_array()
    assert np.array_equal(again, mosaic)


def test_factor_traversal_accepts_a_space():
    space = FactorSpace().with_range("m", 3.0, 4.0)
    fig = factor_traversal(space, "m", steps=3, rows=1)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["3", "3.5", "4"]


@pytest.mark.parametrize(
    "target, factor, kwargs, match",
    [
        (Spirograph(), "hh", {}, "did you mean 'h'"),
        (Spirograph(FactorSpace().pin("sigma", 0.5)), "sigma", {}, "pinned"),
        (Spirograph(), "m", {"steps": 1}, "steps=1"),
        (Spirograph(), "m", {"rows": 0}, "rows=0"),
        ("space", "m", {}, "generator_or_space"),
    ],
)
def test_factor_traversal_bad_input(target, factor, kwargs, match):
    with pytest.raises(ValueError, match=match):
        factor_traversal(target, factor, **kwargs)


def test_factor_traversal_refuses_to_overwrite(tmp_path):
    path = tmp_path / "t.png"
    path.write_bytes(b"mine")
    with pytest.raises(FileExistsError):
        factor_traversal(Spirograph(resolution=8), "b", steps=2, rows=1, path=path)
    assert path.read_bytes() == b"mine"

"""Fixtures shared by the whole test tree."""

import os
import struct
import zipfile

import pytest
from hypothesis import HealthCheck, settings

# Hypothesis profiles. ``ci`` (the default): a fixed number of small examples drawn the same way on
# every run (derandomize), no example database, so the suite stays short and reproducible.
# ``dev``: many more random examples for a local hunt, HYPOTHESIS_PROFILE=dev python -m pytest ...
_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile("ci", max_examples=10, derandomize=True, database=None, deadline=None, suppress_health_check=_SLOW_OK)
settings.register_profile("dev", max_examples=200, deadline=None, suppress_health_check=_SLOW_OK)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _flip_inside_tensor(path, count=64):
    """Invert ``count`` bytes in the middle of the largest tensor storage of a ``torch.save`` file."""
    with zipfile.ZipFile(path) as archive:
        storages = [i for i in archive.infolist() if "/data/" in i.filename and not i.filename.endswith("serialization_id")]
    info = max(storages, key=lambda i: i.file_size)
    assert info.file_size >= count
    data = bytearray(path.read_bytes())
    name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
    start = info.header_offset + 30 + name_length + extra_length + (info.file_size - count) // 2
    for i in range(start, start + count):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    return info.filename


@pytest.fixture
def flip_inside_tensor():
    """``flip(path, count=64) -> member``: damage a tensor of a torch file the way a bad disk or copy would."""
    return _flip_inside_tensor


# Markers left out unless a -m expression names them (pyproject.toml explains why not in addopts).
_OPT_IN_MARKERS = ("slow", "gpu")


def pytest_collection_modifyitems(config, items):
    expression = config.getoption("markexpr") or ""
    left_out = [m for m in _OPT_IN_MARKERS if m not in expression]
    if not left_out:
        return
    kept, deselected = [], []
    for item in items:
        (deselected if any(item.get_closest_marker(m) for m in left_out) else kept).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


# -- figures ----------------------------------------------------------------------------------------
def _figure_texts(figure) -> list[str]:
    """Every text a figure draws, as drawn: titles, axis and tick labels, legend entries, annotations.

    The figure is written as SVG with text kept as text, so a string matplotlib would typeset as
    mathtext shows up in pieces, and an escaped ``\\$`` shows up as ``$``: what a reader sees.
    """
    import io
    import xml.etree.ElementTree as ElementTree

    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        figure.savefig(buffer, format="svg")
    root = ElementTree.fromstring(buffer.getvalue())
    return [" ".join("".join(e.itertext()).split()) for e in root.iter("{http://www.w3.org/2000/svg}text")]


def _legend_overlaps(figure) -> list[tuple[str, str]]:
    """``(legend, axes title)`` for every legend whose box overlaps the plotting area of a drawn axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(figure).get_renderer()  # a bare Figure has no renderer of its own
    figure.draw(renderer)
    legends = [lg for lg in figure.findobj(lambda a: a.__class__.__name__ == "Legend") if lg.get_visible()]
    overlaps = []
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in figure.get_axes():
            if ax.axison and box.overlaps(ax.get_window_extent(renderer)):
                title = legend.get_title().get_text() or ",".join(t.get_text() for t in legend.get_texts())
                overlaps.append((title, ax.get_title()))
    return overlaps


@pytest.fixture
def figure_texts():
    """``texts(figure) -> list[str]``: the visible texts of a figure, drawn first."""
    return _figure_texts


@pytest.fixture
def legend_overlaps():
    """``overlaps(figure) -> [(legend, axes title)]``: legends that cover a panel's plotting area."""
    return _legend_overlaps


@pytest.fixture
def saved_figures(monkeypatch):
    """The ``matplotlib`` figures saved while the test runs (what a command wrote), in order."""
    from matplotlib.figure import Figure

    saved = []
    original = Figure.savefig

    def savefig(self, *args, **kwargs):
        saved.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    return saved


@pytest.fixture
def toy():
    """A toy second generator (tests/toy_generator.py), registered for the test and removed afterwards."""
    from toy_generator import registered

    yield from registered()

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

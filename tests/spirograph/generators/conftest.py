"""The ``spec`` fixture: every registered generator's spec, plus the toy of tests/toy_generator.py."""

import pytest

from spirograph import generators


@pytest.fixture(params=[*generators.list(), "toy"])
def spec(request):
    """Every registered generator's spec, plus the toy (registered while the test runs)."""
    if request.param == "toy":
        request.getfixturevalue("toy")
    return generators.get(request.param)

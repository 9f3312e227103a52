"""Suite registry and suite validation."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from harness_helpers import tiny_suite

from spirograph.harness.result import SCHEMA_VERSION
from spirograph.harness.suites import (
    AVERAGING_DRAWS,
    ROBUSTNESS_FAMILIES,
    Suite,
    available_suites,
    get_suite,
    register_suite,
    suite_versions,
)

RELEASED = json.loads((Path(__file__).parent / "data" / "released_suites.json").read_text(encoding="utf-8"))
"""Each released suite version's record (generator -> name -> version) exactly as the release that introduced it
wrote it into results (0.3.0's quick 3 and sprites quick 1 equal the records of the result files it shipped)."""


def test_registered_suites():
    assert {"quick", "standard"} <= set(available_suites())
    quick, standard = get_suite("quick"), get_suite("standard")
    assert (standard.n_train, standard.n_test) == (100_000, 20_000)
    assert (quick.n_train, quick.n_test) == (5000, 2000)
    assert quick.averaging_draws == AVERAGING_DRAWS == (1, 2, 3, 4, 5, 10, 20, 30)
    assert quick.seed != standard.seed
    assert get_suite(quick) is quick


def test_unknown_suite_suggests():
    with pytest.raises(ValueError, match="unknown suite 'quik'; did you mean 'quick'?"):
        get_suite("quik")
    with pytest.raises(ValueError, match="suite=3"):
        get_suite(3)


def test_spec_shift_levels():
    assert ROBUSTNESS_FAMILIES["background_mean"]["levels"] == (0.0, 0.1, 0.2, 0.3, 0.4)
    assert ROBUSTNESS_FAMILIES["h_width"]["levels"] == (-0.5, -0.3, -0.1, 0.1, 0.3, 0.5)


def test_to_dict_records_everything():
    data = get_suite("quick").to_dict()
    assert data["paper_ridge"] == 1e-8
    assert data["robustness"]["h_mean"]["target"] == "h"
    assert data["averaging_draws"] == [1, 2, 3, 4, 5, 10, 20, 30]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"n_train": 5}, "n_train=5"),
        ({"n_averaging_test": 500}, "n_averaging_test=500: expected at most"),
        ({"averaging_draws": (2, 3)}, "averaging_draws"),
        ({"averaging_draws": (1, 3, 3)}, "averaging_draws"),
        ({"label_fractions": (0.1, 0.5)}, "label_fractions"),
        ({"label_fractions": (0.001, 1.0)}, "at least 2 labelled items"),
        ({"validation_fraction": 0.7}, "validation_fraction"),
        ({"bootstrap_resamples": 10}, "bootstrap_resamples"),
        ({"confidence": 1.5}, "confidence"),
        ({"normalize": "column"}, "normalize"),
        ({"seed": -1}, "seed"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_suites(overrides, message):
    with pytest.raises(ValueError, match=message):
        tiny_suite(**overrides)


@pytest.mark.parametrize(
    "generator, name, version",
    [(g, n, int(v)) for g, names in sorted(RELEASED.items()) for n, versions in sorted(names.items()) for v in sorted(versions)],
)
def test_released_versions_kept_exactly(generator, name, version):
    assert version in suite_versions(name, generator=generator)
    assert get_suite(name, version=version, generator=generator).to_dict() == RELEASED[generator][name][str(version)]


def test_current_version_is_the_latest():
    for name in available_suites():
        versions = suite_versions(name)
        assert versions == tuple(sorted(versions))
        assert get_suite(name) is get_suite(name, version=versions[-1])
        assert get_suite(name).result_schema == SCHEMA_VERSION
    assert get_suite("quick", version=1).result_schema == 1
    # A schema-1 record has none of the settings added later.
    assert "n_worst_case" not in get_suite("quick", version=1).to_dict()


def test_version_and_generator_errors():
    with pytest.raises(ValueError, match=r"version=99: expected a released version of suite 'quick': 1, 2"):
        get_suite("quick", version=99)
    with pytest.raises(ValueError, match="version=0"):
        get_suite("quick", version=0)
    with pytest.raises(ValueError, match="^unknown generator 'spirogrph'; did you mean 'spirograph'"):
        get_suite("quick", generator="spirogrph")
    with pytest.raises(ValueError, match="^unknown generator 'x'"):
        suite_versions("quick", generator="x")
    with pytest.raises(ValueError, match="unknown suite 'quik'"):
        suite_versions("quik")
    quick = get_suite("quick")
    assert get_suite(quick, version=quick.version) is quick
    with pytest.raises(ValueError, match="the given suite's own version"):
        get_suite(quick, version=quick.version + 1)


def test_register_adds_versions():
    base = tiny_suite(name="history-test", version=1)
    register_suite(base)
    newer = register_suite(dataclasses.replace(base, version=3, n_train=220))
    register_suite(dataclasses.replace(base, version=2, n_train=210))
    assert suite_versions("history-test") == (1, 2, 3)
    assert get_suite("history-test") is newer
    assert get_suite("history-test", version=2).n_train == 210


def test_register_refuses_duplicates():
    with pytest.raises(ValueError, match="a version of 'quick' not yet registered"):
        register_suite(tiny_suite(name="quick"))
    with pytest.raises(ValueError, match="a spirograph.harness.suites.Suite"):
        register_suite({"name": "x"})
    assert isinstance(tiny_suite(), Suite)


def test_old_versions_are_not_scored():
    from spirograph.harness.score import score

    with pytest.raises(ValueError, match="suite='quick version 1': expected a suite of result schema"):
        score(lambda x: x.flatten(1), suite=get_suite("quick", version=1), progress=False)

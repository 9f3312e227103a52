"""Suite registry and suite validation."""

from __future__ import annotations

import pytest
from harness_helpers import tiny_suite

from spirograph.harness.suites import AVERAGING_DRAWS, ROBUSTNESS_FAMILIES, Suite, available_suites, get_suite, register_suite


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


def test_register_refuses_duplicates():
    with pytest.raises(ValueError, match="a name not yet registered"):
        register_suite(tiny_suite(name="quick"))
    with pytest.raises(ValueError, match="a spirograph.harness.suites.Suite"):
        register_suite({"name": "x"})
    assert isinstance(tiny_suite(), Suite)

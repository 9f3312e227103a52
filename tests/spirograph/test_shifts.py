"""One registry of nuisance-shift families: split files, the harness's robustness task and the plots agree."""

from __future__ import annotations

import pytest

from spirograph import FactorSpace
from spirograph.harness.suites import ROBUSTNESS_FAMILIES
from spirograph.shifts import BY_SPLIT_NAME, SHIFT_FAMILIES, check_level, get_family, shift_space
from spirograph.splits import parse_shifts, plan_splits, split_spec


def test_names_in_files_and_results_are_the_released_ones():
    assert list(SHIFT_FAMILIES) == ["background_mean", "background_width", "h_mean", "h_width"]
    assert list(BY_SPLIT_NAME) == ["bg_mean", "bg_width", "h_mean", "h_width"]
    assert SHIFT_FAMILIES["background_mean"].split(0.4) == "shift/bg_mean+0.4"
    assert SHIFT_FAMILIES["h_width"].split(-0.5) == "shift/h_width-0.5"
    assert get_family("bg_mean") is get_family("background_mean")
    with pytest.raises(ValueError, match="did you mean 'bg_mean'"):
        get_family("bg_men")


def test_the_suites_view_is_the_registry():
    assert list(ROBUSTNESS_FAMILIES) == list(SHIFT_FAMILIES)
    for key, family in SHIFT_FAMILIES.items():
        assert ROBUSTNESS_FAMILIES[key] == {"target": family.target, "shift": family.kind, "levels": family.levels}
    assert ROBUSTNESS_FAMILIES["background_mean"]["levels"] == (0.0, 0.1, 0.2, 0.3, 0.4)
    assert SHIFT_FAMILIES["background_mean"].split_levels == (0.1, 0.2, 0.3, 0.4)  # 0 is the test split


@pytest.mark.parametrize("key", list(SHIFT_FAMILIES))
def test_a_shift_split_and_a_robustness_level_draw_from_the_same_space(key):
    family = SHIFT_FAMILIES[key]
    space = FactorSpace()
    for level in family.split_levels:
        harness = shift_space(space, ROBUSTNESS_FAMILIES[key]["target"], ROBUSTNESS_FAMILIES[key]["shift"], level)
        assert split_spec(space, family.split(level), 10).space == harness == family.apply(space, level)


def test_off_grid_levels_are_allowed_and_named_exactly():
    assert parse_shifts("bg_mean:0.7") == [("bg_mean", 0.7)]
    (spec,) = plan_splits(FactorSpace(), 4, 4, "bg_mean:0.7")[2:]
    assert spec.name == "shift/bg_mean+0.7" and spec.space["bg_r"].low == pytest.approx(0.7)
    # A level that prints shorter than it is would name one shift and draw another: it is rounded
    # to its name, so reading the split back by name gives the same space.
    (spec,) = plan_splits(FactorSpace(), 4, 4, [("h_mean", 0.1 + 0.2)])[2:]
    assert spec.name == "shift/h_mean+0.3" and spec.shift == ("h_mean", 0.3)
    assert split_spec(FactorSpace(), spec.name, 4).space == spec.space
    for bad in (float("nan"), "x", True):
        with pytest.raises(ValueError, match="a finite number"):
            check_level("level", bad)
    with pytest.raises(ValueError, match="low < high"):
        plan_splits(FactorSpace(), 4, 4, "h_width:-1.5")  # an empty range is not a level


def test_only_nuisance_factors_shift():
    with pytest.raises(ValueError, match="nuisance factors only"):
        shift_space(FactorSpace(content=["m", "h"]), "h", "mean", 0.1)
    with pytest.raises(ValueError, match="kind='size'"):
        shift_space(FactorSpace(), "h", "size", 0.1)

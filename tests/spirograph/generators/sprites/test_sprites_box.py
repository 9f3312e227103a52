"""The sprites prior box: the shape stays inside the canvas and thicker than its edge; bad options and ranges."""

import itertools
import math

import pytest
import torch

from spirograph.generators import get as get_generator
from spirograph.generators.sprites import DEFAULT_RANGES, FACTOR_GROUPS, FACTOR_NAMES, check_box, check_options, extent, render
from spirograph.generators.sprites.factors import CANVAS_MARGIN, INNER_MARGIN
from spirograph.generators.sprites.reference import render_supersampled
from spirograph.generators.sprites.shifts import FAMILIES

POSE_AND_FORM = ("roundness", "aspect", "lobes", "x", "y", "scale")


def corners(angles):
    rows = [dict(zip(POSE_AND_FORM, c)) for c in itertools.product(*(DEFAULT_RANGES[n] for n in POSE_AND_FORM))]
    rows = [{**r, "angle": a} for r in rows for a in angles]
    f = {n: torch.tensor([r[n] for r in rows], dtype=torch.float64) for n in rows[0]}
    f.update({n: torch.full((len(rows),), sum(DEFAULT_RANGES[n]) / 2, dtype=torch.float64) for n in FACTOR_NAMES if n not in f})
    f["fg_r"], f["bg_r"] = torch.ones_like(f["x"]), torch.zeros_like(f["x"])  # red channel = coverage
    return f


def test_default_box_fits_at_32px():
    check_box(DEFAULT_RANGES, resolution=32, tau=0.4, lobe_count=5)


def test_shape_never_leaves_the_canvas_at_the_box_corners():
    # Every corner of form, position and scale, turned by the angle range's ends and middle and the
    # angles that put the lobes' peaks on the diagonals: no sample of the border pixels is inside the
    # shape (its edge stays CANVAS_MARGIN·τ = 1 px inside the canvas), and the rendered coverage there
    # stays below σ(−(CANVAS_MARGIN·τ − ½)/τ): the border pixel centres lie half a pixel in.
    lo, hi = DEFAULT_RANGES["angle"]
    f = corners([lo, 0.0, hi, math.pi / 20, -math.pi / 20])
    border = torch.ones(32, 32, dtype=torch.bool)
    border[1:-1, 1:-1] = False
    inside = render_supersampled(f, samples=8)[:, 0]
    assert inside[:, border].max() == 0
    assert inside.sum(dim=(1, 2)).min() > 10  # the shapes are there
    rendered = render(f)[:, 0]
    assert rendered[:, border].max() < 1 / (1 + math.exp((CANVAS_MARGIN * 0.4 - 0.5) / 0.4))


def test_thinnest_shape_is_thicker_than_its_edge():
    # Centred on a pixel centre, every corner's centre pixel is covered at least σ(INNER_MARGIN) = 0.88.
    f = corners([0.0])
    f["x"], f["y"] = torch.full_like(f["x"], 1 / 32), torch.full_like(f["y"], 1 / 32)
    centre = render(f)[:, 0, 16, 16]
    assert centre.min() >= 1 / (1 + math.exp(-INNER_MARGIN)) - 1e-6


def test_extent_bounds_the_rendered_shape():
    inradius, circumradius = extent(DEFAULT_RANGES)
    assert 0.05 < inradius < circumradius < 0.75


GOOD = dict(resolution=32, tau=0.4, lobe_count=5)


@pytest.mark.parametrize(
    "changes, argument",
    [
        (dict(tau=0.0), "tau=0.0"),
        (dict(tau=-1), "tau=-1"),
        (dict(tau=float("nan")), "tau=nan"),
        (dict(lobe_count=1), "lobe_count=1"),
        (dict(lobe_count=13), "lobe_count=13"),
        (dict(resolution=1), "resolution=1"),
    ],
)
def test_bad_options_one_line(changes, argument):
    with pytest.raises(ValueError) as error:
        check_options(**{**GOOD, **changes}, max_resolution=4096)
    assert str(error.value).startswith(argument) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    "ranges, options, argument",
    [
        ({}, dict(resolution=16), "resolution=16: expected resolution >= 20"),
        ({}, dict(tau=1.0), "resolution=32: expected resolution >= 49"),
        ({"x": (-0.5, 0.5)}, {}, "range of 'x'=(-0.5, 0.5): expected |x| <= 0.353"),
        ({"y": (-0.2, 0.4)}, {}, "range of 'y'=(-0.2, 0.4): expected |y| <= 0.353"),
        ({"scale": (0.25, 0.7)}, {}, "range of 'scale'=(0.25, 0.7): expected scale <= 0.64"),
        ({"scale": (0.05, 0.4)}, {}, "range of 'scale'=(0.05, 0.4): expected scale >= 0.15"),
        ({"scale": (0.0, 0.4)}, {}, "range of 'scale'=(0.0, 0.4): expected scale > 0"),
        ({"aspect": (0.0, 1.0)}, {}, "range of 'aspect'=(0.0, 1.0): expected 0 < aspect <= 1"),
        ({"aspect": (0.5, 1.5)}, {}, "range of 'aspect'=(0.5, 1.5): expected 0 < aspect <= 1"),
        ({"roundness": (0.5, 4.0)}, {}, "range of 'roundness'=(0.5, 4.0): expected 1 <= roundness <= 8"),
        ({"lobes": (0.0, 0.6)}, {}, "range of 'lobes'=(0.0, 0.6): expected 0 <= lobes <= 0.5"),
        ({"angle": (-2.0, 2.0)}, {}, "range of 'angle'=(-2.0, 2.0): expected a width below π"),
    ],
)
def test_bad_box_one_line(ranges, options, argument):
    with pytest.raises(ValueError) as error:
        check_box({**DEFAULT_RANGES, **ranges}, **{**GOOD, **options})
    message = str(error.value)
    assert message.startswith(argument) and "\n" not in message, message


@pytest.mark.parametrize(
    "name, value, argument",
    [
        ("scale", 0.0, "factors['scale']=0.0: expected scale > 0"),
        ("aspect", 1.5, "factors['aspect']=1.5: expected 0 < aspect <= 1"),
        ("roundness", 0.5, "factors['roundness']=0.5: expected roundness >= 1"),
        ("lobes", -1.0, "factors['lobes']=-1.0: expected |lobes| < 1"),
        ("lobes", 1.0, "factors['lobes']=1.0: expected |lobes| < 1"),
        ("x", float("inf"), "factors['x']='non-finite values (NaN or inf)'"),
    ],
)
@pytest.mark.parametrize("entry", ["module", "spec"])
def test_bad_factor_values_one_line(name, value, argument, entry):
    """Both the module's ``render`` and the registered spec's refuse a value the renderer is not defined on (no NaN image)."""
    f = {n: torch.full((2,), sum(r) / 2) for n, r in DEFAULT_RANGES.items()}
    f[name][1] = value
    draw = render if entry == "module" else get_generator("sprites").render
    with pytest.raises(ValueError) as error:
        draw(f)
    message = str(error.value)
    assert "\n" not in message, message
    if entry == "module" or ": expected" not in argument:
        assert message.startswith(argument), message
    else:  # the registry's positivity check may word the value first ('min 0'); the rule is the same
        assert message.startswith(f"factors[{name!r}]=") and argument.split("=", 1)[1].split(": ", 1)[1] in message, message


def test_bad_factor_mappings_one_line():
    f = {n: torch.full((2,), sum(r) / 2) for n, r in DEFAULT_RANGES.items()}
    cases = [
        ({k: v for k, v in f.items() if k != "angle"}, "factors=", "missing ['angle']"),
        ({**f, "m": f["x"]}, "unknown factor 'm'", ""),
        ({**f, "x": f["x"].double()}, "factors['x'].dtype=torch.float64", "like factors['roundness']"),
        ({**f, "x": f["x"].half()}, "factors['x'].dtype=torch.float16", "float32 or torch.float64"),
        ({**f, "x": f["x"][:1]}, "factors['x'].shape=(1,)", "length 2"),
    ]
    for factors, start, part in cases:
        with pytest.raises(ValueError) as error:
            render(factors)
        assert str(error.value).startswith(start) and part in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(ValueError, match=r"^tau=0: expected a finite number > 0$"):
        render(f, tau=0)


def shifted(family, level):
    names = FACTOR_GROUPS.get(family.target, (family.target,))
    move = (level, level) if family.kind == "mean" else (-level, level)
    return {n: (lo + move[0], hi + move[1]) if n in names else (lo, hi) for n, (lo, hi) in DEFAULT_RANGES.items()}


def test_every_shift_level_is_feasible_and_the_next_step_is_not():
    for family in FAMILIES:
        for level in family.levels:
            check_box(shifted(family, level), **GOOD)
    beyond = {"scale_mean": -0.1, "position_width": 0.11}
    for family in FAMILIES:
        if family.key in beyond:
            with pytest.raises(ValueError, match=r"^(range of 'scale'|range of 'x')"):
                check_box(shifted(family, beyond[family.key]), **GOOD)


def test_generator_refuses_a_box_it_cannot_draw():
    from spirograph import FactorSpace, Generator

    with pytest.raises(ValueError, match=r"^resolution=16: expected resolution >= 20"):
        Generator("sprites", resolution=16)
    with pytest.raises(ValueError, match=r"^range of 'x'=\(-0\.5, 0\.5\): expected \|x\| <= 0\.353"):
        Generator("sprites", FactorSpace({"x": (-0.5, 0.5)}, generator="sprites"))
    space = FactorSpace(generator="sprites")
    with pytest.raises(ValueError, match=r"^range of 'scale'=\(0\.15, 0\.3\): expected scale >= 0\.15"):
        Generator("sprites", space.shifted("scale", mean_shift=-0.1))
    Generator("sprites", space.shifted("scale", mean_shift=-0.08))


def test_a_shift_level_the_options_cannot_draw_is_named_with_its_level(tmp_path, capsys):
    """A registered level that a smaller image cannot draw, and an off-grid level: one line naming the shift and level; no file."""
    from spirograph.cli import main as cli
    from spirograph.splits import SpirographRendered

    out = tmp_path / "s.h5"
    assert cli(["generate", str(out), "--generator", "sprites", "--train", "4", "--test", "4", "--seed", "0",
                "--resolution", "24", "--shifts", "scale_mean"]) == 2
    message = capsys.readouterr().err.strip().removeprefix("spirograph generate: error: ")
    assert message.startswith("shift scale_mean-0.08 (smaller objects: scale mean shift Δμ -0.08) cannot be drawn at resolution=24")
    assert "range of 'scale'=(0.17, 0.32): expected scale >= 0.2032" in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match=r"^shift position_width\+0\.2 \(.*\) cannot be drawn at resolution=32, .*its range of 'x'"):
        SpirographRendered(0, "shift/position_width+0.2", generator="sprites", n=2)


def test_the_harness_names_a_shift_level_its_suite_cannot_draw():
    import dataclasses

    from spirograph.harness.features import FeatureSource
    from spirograph.harness.suites import get_suite

    suite = dataclasses.replace(get_suite("quick", generator="sprites"), resolution=24)
    source = FeatureSource(lambda x: x.flatten(1), suite, device="cpu")
    source.generator(("scale", "mean", -0.04))  # feasible at 24 px (scale >= 0.2032)
    with pytest.raises(ValueError, match=r"^shift scale_mean-0\.06 .* cannot be drawn at resolution=24"):
        source.generator(("scale", "mean", -0.06))

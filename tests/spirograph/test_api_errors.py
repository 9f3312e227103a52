"""User mistakes in the public Python API: one ValueError naming the argument and what is allowed.

Huge integers used to surface as OverflowError, TypeError or an allocator's RuntimeError from deep
inside torch or numpy (or, for ``views(k=...)``, a loop that never ends); the boundary refuses them.
"""

import dataclasses
import re

import pytest
import torch

from spirograph import FactorSpace, Spirograph, SpirographRendered, render
from spirograph._validate import MAX_INT, check_int
from spirograph.generators.spirograph.render import MAX_POINTS, MAX_RESOLUTION

HUGE = 10**30
INT_RULE = re.escape("expected an integer in [") + r"\d+, 2\*\*63 - 1\]"


def _factors():
    return FactorSpace().sample(1, seed=0)


def _content():
    return Spirograph(resolution=8).sample_content(2, seed=0)


CASES = [
    ("FactorSpace.sample n", lambda: FactorSpace().sample(HUGE, seed=0), rf"^n={HUGE}: {INT_RULE}$"),
    ("FactorSpace.sample seed", lambda: FactorSpace().sample(2, seed=2**64), rf"^seed={2**64}: {INT_RULE}$"),
    ("FactorSpace.sample start", lambda: FactorSpace().sample(2, seed=0, start=HUGE), rf"^start={HUGE}: {INT_RULE}$"),
    ("FactorSpace.sample_with n", lambda: FactorSpace().sample_with(HUGE, torch.Generator()), rf"^n={HUGE}: {INT_RULE}$"),
    ("Spirograph.sample_nuisance start", lambda: Spirograph().sample_nuisance(2, seed=0, start=2**64 - 1), r"^start=\d+: " + INT_RULE),
    ("Spirograph.views start", lambda: Spirograph(resolution=8).views(_content(), seed=0, start=HUGE), rf"^start={HUGE}: "),
    ("Spirograph.views k", lambda: Spirograph(resolution=8).views(_content(), k=HUGE, seed=0), rf"^k={HUGE}: {INT_RULE}$"),
    ("Spirograph resolution", lambda: Spirograph(resolution=10**9), rf"^resolution=1000000000: expected an integer in \[2, {MAX_RESOLUTION}\]$"),
    ("Spirograph n_points", lambda: Spirograph(n_points=HUGE), rf"^n_points={HUGE}: expected an integer in \[2, {MAX_POINTS}\]$"),
    ("render resolution", lambda: render(_factors(), resolution=2**63), rf"^resolution={2**63}: expected an integer in \[2, {MAX_RESOLUTION}\]$"),
    ("render n_points", lambda: render(_factors(), n_points=HUGE), rf"^n_points={HUGE}: expected an integer in \[2, {MAX_POINTS}\]$"),
    ("SpirographRendered n", lambda: SpirographRendered(0, n=HUGE), rf"^n={HUGE}: {INT_RULE}$"),
    ("SpirographRendered seed", lambda: SpirographRendered(HUGE, n=2), rf"^seed={HUGE}: {INT_RULE}$"),
]


@pytest.mark.parametrize("call, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_huge_or_impossible_integers_raise_one_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_check_int_bounds():
    assert check_int("n", MAX_INT, 0) == MAX_INT == 2**63 - 1
    assert check_int("n", 4096, 2, 4096) == 4096
    with pytest.raises(ValueError, match=r"^n=4097: expected an integer in \[2, 4096\]$"):
        check_int("n", 4097, 2, 4096)
    with pytest.raises(ValueError, match=r"^n=1: expected an integer in \[2, 4096\]$"):
        check_int("n", 1, 2, 4096)
    with pytest.raises(ValueError, match=r"^n=1: expected an integer >= 2$"):  # the usual rule when only a minimum matters
        check_int("n", 1, 2)


def test_item_indices_never_wrap_around():
    # Item indices are 64-bit counters: a start near 2**64 used to wrap, its third item being item 0.
    space = FactorSpace()
    with pytest.raises(ValueError, match=r"^start=\d+: " + INT_RULE):
        space.sample(3, seed=0, start=2**64 - 2)
    assert space.sample(1, seed=0, start=MAX_INT)["m"].shape == (1,)


def test_suite_resolution_is_bounded_like_render():
    from spirograph.harness.suites import get_suite

    with pytest.raises(ValueError, match=rf"^resolution=1000000000: expected an integer in \[2, {MAX_RESOLUTION}\]$"):
        dataclasses.replace(get_suite("quick"), resolution=10**9)


def test_random_convnet_seed():
    from spirograph.harness.encoders import RandomConvNet

    with pytest.raises(ValueError, match=rf"^seed={HUGE}: {INT_RULE}$"):
        RandomConvNet(seed=HUGE)


@pytest.mark.parametrize("weights", [5, None, b"w.pt"])
def test_load_weights_needs_a_path(weights):
    from spirograph.harness.encoders import load_weights

    with pytest.raises(ValueError, match=r"^weights=.*: expected a file path"):
        load_weights(torch.nn.Linear(2, 2), weights)


def test_relative_module_spec_is_refused():
    from spirograph.harness.encoders import load_encoder

    with pytest.raises(ValueError, match=r"^encoder='\.\.x:y': expected an importable module"):
        load_encoder("..x:y")


# -- issue: errors that should be one line (each case failed on 0.2: no error, NaN images, or another exception type) --
def _bad_b_content():
    content = Spirograph(resolution=8).sample_content(3, seed=0)
    content[1, 1] = -0.5  # column 1 is b
    return content


ONE_LINE_CASES = [
    ("views b <= 0", lambda: Spirograph(resolution=8).views(_bad_b_content(), seed=0), r"^content\[:, 1\]=.min -0.5 in column .b..: expected b > 0$"),
    ("Spirograph device meta", lambda: Spirograph(device="meta"), r"^device='meta': expected a device that holds values"),
    ("views k beyond memory", lambda: Spirograph(resolution=8).views(_content(), k=10**9, seed=0), r"^k=1000000000: expected a size whose views of 2 items fit in memory"),
    ("items n beyond memory", lambda: Spirograph(resolution=8).items(2**40, seed=0), r"^n=1099511627776: expected a size whose images fit in memory"),
    ("render n_points", lambda: render(_factors(), n_points=10**8), r"^n_points=100000000: expected an integer in \[2, 65536\]$"),
    ("with_roles content=5", lambda: FactorSpace().with_roles(content=5), r"^content=5: expected a list of factor names$"),
    ("items start past int64", lambda: Spirograph(resolution=8).items(10, seed=0, start=2**63 - 5), r"^start=9223372036854775803: expected an integer in \[0, 9223372036854775798\]"),
    ("with_range strings", lambda: FactorSpace().with_range("m", "1", "2"), r"^range of 'm'=\('1', '2'\): expected two finite numbers"),
    ("FactorSpace ranges strings", lambda: FactorSpace({"h": ("1", "2")}), r"^range of 'h'=\('1', '2'\): expected two finite numbers"),
]


@pytest.mark.parametrize("call, message", [c[1:] for c in ONE_LINE_CASES], ids=[c[0] for c in ONE_LINE_CASES])
def test_api_mistakes_raise_one_value_error_naming_the_argument(call, message):
    with pytest.raises(ValueError, match=message) as info:
        call()
    assert "\n" not in str(info.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a build or machine without CUDA")
def test_cuda_device_without_cuda_is_one_value_error():
    with pytest.raises(ValueError, match=r"^device='cuda': expected a device available here: cpu"):
        Spirograph(device="cuda")


def test_views_refuse_non_positive_sigma_and_keep_valid_content():
    gen = Spirograph(resolution=8)
    content = gen.sample_content(2, seed=0)
    bad = content.clone()
    bad[0, 2] = 0.0  # column 2 is sigma
    with pytest.raises(ValueError, match=r"^content\[:, 2\]=.min 0 in column .sigma..: expected sigma > 0$"):
        gen.views(bad, seed=0)
    images, _ = gen.views(content, seed=0)
    assert torch.isfinite(images).all()

"""FactorSpace: roles, ranges, pins, shifts and reproducible per-item sampling."""

import multiprocessing as mp

import numpy as np
import pytest
import torch

import spirograph
from spirograph import DEFAULT_CONTENT, DEFAULT_NUISANCE, FACTOR_NAMES, FactorSpace


def test_defaults_follow_spec():
    space = FactorSpace()
    assert space.content == DEFAULT_CONTENT == ("m", "b", "sigma", "fg_r")
    assert space.nuisance == DEFAULT_NUISANCE == ("h", "fg_g", "fg_b", "bg_r", "bg_g", "bg_b")
    assert (space["m"].low, space["m"].high) == (2.0, 5.0)
    assert (space["bg_b"].low, space["bg_b"].high) == (0.0, 0.6)
    # PROTOCOL.md §5: the prior-mean predictor's expected nuisance MSE, (1/3 + 5 × 0.03)/6 = 29/360 = 0.0806.
    assert space.prior_variance(space.nuisance).mean().item() == pytest.approx(29 / 360, rel=1e-12)


def test_roles_can_be_reassigned():
    space = FactorSpace().with_roles(content=["h", "bg_r"])
    assert space.content == ("h", "bg_r")
    assert set(space.nuisance) == set(FACTOR_NAMES) - {"h", "bg_r"}
    # Order of the given names does not matter: columns follow the canonical order.
    assert FactorSpace(content=["sigma", "m"]).content == ("m", "sigma")


def test_range_and_pin():
    space = FactorSpace().with_range("h", 1.0, 1.5).pin("bg_g", 0.25)
    draw = space.sample(1000, seed=0)
    assert draw["h"].min() >= 1.0 and draw["h"].max() <= 1.5
    assert torch.all(draw["bg_g"] == 0.25)
    assert space["bg_g"].pinned and "bg_g" in space.nuisance
    assert FactorSpace({"m": (3, 4), "sigma": 0.5})["sigma"].pinned


@pytest.mark.parametrize("target,names", [("background", ("bg_r", "bg_g", "bg_b")), ("h", ("h",)), ("foreground", ("fg_r", "fg_g", "fg_b"))])
@pytest.mark.parametrize("mu,width", [(0.3, 0.1), (-0.5, 0.0), (0.0, 0.4)])
def test_shift_follows_spec(target, names, mu, width):
    base = FactorSpace()
    if target == "h" and mu - width <= -0.5:
        pytest.skip("shift would leave an empty range")
    shifted = base.shifted(target, mean_shift=mu, width_change=width)
    for name in FACTOR_NAMES:
        low, high = base[name].low, base[name].high
        if name in names:
            low, high = low + mu - width, high + mu + width
        assert shifted[name].low == pytest.approx(low) and shifted[name].high == pytest.approx(high)


def test_same_item_same_value_regardless_of_batching():
    space = FactorSpace()
    whole = space.sample(10_000, seed=7, stream="train")
    parts = [space.sample(100, seed=7, stream="train", start=s) for s in range(0, 10_000, 100)]
    for name in FACTOR_NAMES:
        assert torch.equal(whole[name], torch.cat([p[name] for p in parts]))


def _draw_in_worker(args):
    start, count = args
    return FactorSpace().sample(count, seed=7, stream="train", start=start)


def test_same_values_across_worker_processes():
    ctx = mp.get_context("spawn")
    with ctx.Pool(2) as pool:
        parts = pool.map(_draw_in_worker, [(0, 250), (250, 250), (500, 500)])
    whole = FactorSpace().sample(1000, seed=7, stream="train")
    for name in FACTOR_NAMES:
        assert torch.equal(whole[name], torch.cat([p[name] for p in parts]))


def test_streams_seeds_and_factors_are_independent():
    space = FactorSpace()
    a = space.sample(2000, seed=1, stream="train")
    b = space.sample(2000, seed=1, stream="test")
    c = space.sample(2000, seed=2, stream="train")
    assert not torch.equal(a["m"], b["m"]) and not torch.equal(a["m"], c["m"])
    u = torch.stack([(a[n] - space[n].low) / (space[n].high - space[n].low) for n in FACTOR_NAMES]).double()
    corr = torch.corrcoef(u)
    assert (corr - torch.eye(10, dtype=corr.dtype)).abs().max() < 0.1
    assert u.mean().item() == pytest.approx(0.5, abs=0.02)


def test_shift_keeps_per_item_uniforms_so_splits_pair_up():
    base, shifted = FactorSpace(), FactorSpace().shifted("background", 0.2)
    a = base.sample(50, seed=3, stream="test", dtype=torch.float64)
    b = shifted.sample(50, seed=3, stream="test", dtype=torch.float64)
    assert torch.equal(a["m"], b["m"])
    assert torch.allclose(b["bg_r"], a["bg_r"] + 0.2)


def test_generator_sampling_replays_and_spares_global_rng():
    space = FactorSpace()
    global_state = torch.get_rng_state()
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    a = space.sample_with(64, g1, names=space.nuisance)
    b = space.sample_with(64, g2, names=space.nuisance)
    assert all(torch.equal(a[n], b[n]) for n in space.nuisance)
    assert torch.equal(global_state, torch.get_rng_state())
    assert a["h"].min() >= 0.5 and a["h"].max() <= 2.5


def test_dict_round_trip():
    space = FactorSpace().with_roles(["m", "h"]).pin("sigma", 0.5).shifted("background", 0.1, 0.1)
    assert FactorSpace.from_dict(space.to_dict()) == space


@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: FactorSpace({"q": (0, 1)}), "unknown factor 'q'"),
        (lambda: FactorSpace({"m": (3, 3)}), "low < high"),
        (lambda: FactorSpace({"m": (4, 3)}), "low < high"),
        (lambda: FactorSpace({"m": (float("nan"), 3)}), "finite"),
        (lambda: FactorSpace({"b": (0.0, 1.0)}), "b > 0"),
        (lambda: FactorSpace({"sigma": (-1.0, 1.0)}), "sigma > 0"),
        (lambda: FactorSpace({"m": "wide"}), "ranges\\[.m.\\]"),
        (lambda: FactorSpace(content=["m", "m"]), "at most once"),
        (lambda: FactorSpace(content=["m", "b"], nuisance=["b", "h"]), "disjoint"),
        (lambda: FactorSpace(content=["m"], nuisance=["h"]), "covering all ten"),
        (lambda: FactorSpace(content=[]), "at least one content"),
        (lambda: FactorSpace(content="m"), "not a string"),
        (lambda: FactorSpace().with_range("h", 2.0, 1.0), "low < high"),
        (lambda: FactorSpace().pin("sigma", 0.0), "sigma > 0"),
        (lambda: FactorSpace().shifted("backgrund", 0.1), "did you mean 'background'"),
        (lambda: FactorSpace().shifted("h", 0.0, -1.5), "low < high"),
        (lambda: FactorSpace().shifted("h", float("inf")), "mean_shift"),
        (lambda: FactorSpace().sample(-1, seed=0), "n=-1"),
        (lambda: FactorSpace().sample(3, seed=-2), "seed=-2"),
        (lambda: FactorSpace().sample(3, seed=1.5), "seed=1.5"),
        (lambda: FactorSpace().sample(3, seed=0, stream=""), "stream"),
        (lambda: FactorSpace().sample(3, seed=0, names=["x"]), "unknown factor 'x'"),
        (lambda: FactorSpace().sample_with(3, 42), "torch.Generator"),
    ],
)
def test_bad_input_raises(build, match):
    with pytest.raises(ValueError, match=match):
        build()


# Draws of release 0.1.0's per-item path (one SplitMix64 stream per factor): pinned, so the
# vectorised path can never change a split file's items.
PINNED = [
    ((0, "train", "m", 0, 3), ["0x1.bbe0e7e1e7f00p-1", "0x1.77190ce66320cp-1", "0x1.4bccf4f221748p-3"]),
    ((7, "test/nuisance/3", "bg_b", 123456789, 2), ["0x1.4cf5c1917a16dp-1", "0x1.306d4350ac4f0p-1"]),
    ((2**40, "views/1", "h", 2**62, 2), ["0x1.6c1cec3adfb36p-2", "0x1.5fc228aa10896p-2"]),
]


@pytest.mark.parametrize("args,expected", PINNED)
def test_uniform_draws_are_pinned(args, expected):
    from spirograph import seeding

    assert [float(x).hex() for x in seeding.uniform(*args)] == expected
    seed, stream, name, start, count = args
    at = seeding.uniform_at(seed, stream, [name, "m"], np.arange(start, start + count, dtype=np.uint64))
    assert [float(x).hex() for x in at[0]] == expected


@pytest.mark.parametrize("trial", range(4))
def test_sample_at_equals_per_item_sampling_for_any_index_set(trial):
    rng = np.random.default_rng(trial)
    space = FactorSpace().shifted("background", 0.1, 0.2)
    indices = rng.integers(0, [50, 10**6, 2**40, 2**62][trial], size=int(rng.integers(1, 300)))
    indices[: len(indices) // 4] = indices[0]  # repeats
    dtype = (torch.float32, torch.float64)[trial % 2]
    got = space.sample_at(indices, seed=11, stream="train", dtype=dtype)
    for j in rng.choice(len(indices), size=min(25, len(indices)), replace=False):
        one = space.sample(1, seed=11, stream="train", start=int(indices[j]), dtype=dtype)
        assert all(torch.equal(got[n][j : j + 1], one[n]) for n in FACTOR_NAMES)
    # A contiguous index range is the contiguous draw, from a list, a numpy array or a tensor.
    start = int(indices.min())
    whole = space.sample(40, seed=11, stream="train", start=start, dtype=dtype)
    for form in (list(range(start, start + 40)), np.arange(start, start + 40), torch.arange(start, start + 40)):
        assert all(torch.equal(space.sample_at(form, seed=11, stream="train", dtype=dtype)[n], whole[n]) for n in FACTOR_NAMES)


def test_spirograph_sample_at_matches_sample():
    gen = spirograph.Spirograph(space=FactorSpace(content=["m", "h"]))
    content, nuisance = gen.sample_at([9, 2, 9, 500], seed=3, stream="test")
    for row, i in enumerate([9, 2, 9, 500]):
        c, n = gen.sample(1, seed=3, stream="test", start=i)
        assert torch.equal(content[row], c[0]) and torch.equal(nuisance[row], n[0])
    empty_c, empty_n = gen.sample_at([], seed=3)
    assert empty_c.shape == (0, 2) and empty_n.shape == (0, 8)


@pytest.mark.parametrize(
    "indices,match",
    [
        ([1, -2, 3], "min -2"),
        ([[1, 2]], "1-D"),
        ([0.5, 1.0], "integer"),
        ([True, False], "integer"),
        (5, "1-D sequence"),
        ("12", "1-D sequence"),
        (np.array([2**63], dtype=np.uint64), "max 9223372036854775808"),
    ],
)
def test_sample_at_rejects_bad_indices(indices, match):
    with pytest.raises(ValueError, match=match):
        FactorSpace().sample_at(indices, seed=0)

"""The contract every registered generator meets, checked the same way for each at tiny sizes.

A new generator (a folder under spirograph/generators/) is picked up here without any edit: its
spec, factor space (roles, pins, shifts, counter-based seeding), render (shapes, batch-independent
bits, gradients of first and second order, forward mode, its reference form), errors, a tiny split
file that verifies and a tiny suite scored. (Two InvCLR steps per generator: tests/baselines/test_train_generators.py.)
"""

import dataclasses
import functools
import json

import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

from spirograph import FactorSpace, Generator, generators, score
from spirograph.harness.encoders import reference_encoder
from spirograph.harness.suites import Suite
from spirograph.splits import SpirographH5, SpirographRendered, generate, verify

TINY = 8  # resolution of every render here: the contract is about behaviour, not size


@functools.cache
def _tiny(spec):
    """The smallest resolution from TINY up at which the spec draws its default box and every shift split (its ``check_space``)."""
    if spec.check_space is None:
        return TINY
    space = FactorSpace(generator=spec)
    boxes = [space] + [family.apply(space, level) for family in spec.shifts for level in family.split_levels]
    for resolution in range(TINY, spec.options["resolution"] + 1):
        options = spec.render_options(resolution=resolution)
        try:
            for box in boxes:
                spec.check_space({n: (f.low, f.high) for n, f in box.factors.items()}, options)
            return resolution
        except ValueError:
            continue
    return spec.options["resolution"]


def _options(spec, **extra):
    return spec.render_options({"resolution": _tiny(spec), **extra})


def _float64_factors(spec, n=2, seed=0):
    """Interior points of every prior (away from range ends), float64, as leaves that require grad."""
    draw = FactorSpace(generator=spec).sample(n, seed=seed, dtype=torch.float64)
    out = {}
    for name, value in draw.items():
        low, high = spec.factors[name]
        out[name] = (low + 0.1 * (high - low) + 0.8 * (value - low)).detach().requires_grad_(True)
    return out


def test_spec_is_frozen_registered_and_self_consistent(spec):
    assert generators.get(spec.name) is spec and spec.name in generators.list()
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.version = 99
    assert isinstance(spec.version, int) and spec.version >= 1
    assert set(spec.content) | set(spec.nuisance) == set(spec.names) and not set(spec.content) & set(spec.nuisance)
    assert spec.render_options() == dict(spec.options)
    assert spec.identity == {"generator": spec.name, "generator_version": spec.version}
    json.dumps(spec.describe())  # the listing is plain data
    for family in spec.shifts:
        assert spec.shift_family(family.split_name) is spec.shift_family(family.key) is family


def test_unknown_option_factor_group_and_shift_name_the_generator(spec):
    owner = f"generator '{spec.name}'"
    with pytest.raises(ValueError, match=f"^unknown render option 'nope';? available in {owner}: "):
        spec.render_options(nope=1)
    with pytest.raises(ValueError, match=f"^unknown factor 'nope';? available in {owner}: "):
        FactorSpace(generator=spec)["nope"]
    with pytest.raises(ValueError, match=f"^unknown shift target 'nope';? available in {owner}: "):
        FactorSpace(generator=spec).shifted("nope", 0.1)
    with pytest.raises(ValueError, match=f"^unknown shift 'nope';? available in {owner}"):
        spec.shift_family("nope")
    with pytest.raises(ValueError, match=r"^resolution=1: expected an integer in \[2, "):
        spec.render_options(resolution=1)


def test_sampling_is_per_item_and_within_the_priors(spec):
    space = FactorSpace(generator=spec)
    whole = space.sample(7, seed=3, stream="test", dtype=torch.float64)
    parts = [space.sample(3, seed=3, stream="test", dtype=torch.float64), space.sample(4, seed=3, stream="test", start=3, dtype=torch.float64)]
    shuffled = space.sample_at([6, 0, 3, 3], seed=3, stream="test", dtype=torch.float64)
    for name in spec.names:
        assert torch.equal(whole[name], torch.cat([p[name] for p in parts]))
        assert torch.equal(shuffled[name], whole[name][[6, 0, 3, 3]])
        low, high = spec.factors[name]
        assert ((whole[name] >= low) & (whole[name] <= high)).all()
    other = space.sample(7, seed=4, stream="test", dtype=torch.float64)
    assert all(not torch.equal(whole[n], other[n]) for n in spec.names)


def test_roles_pins_and_shifts(spec):
    space = FactorSpace(generator=spec)
    assert space.content == spec.content and space.nuisance == spec.nuisance
    swapped = space.with_roles(content=spec.nuisance[:1])
    assert swapped.content == spec.nuisance[:1] and len(swapped.nuisance) == len(spec.names) - 1
    name = spec.nuisance[0]
    low, high = spec.factors[name]
    pinned = space.pin(name, (low + high) / 2)
    assert (pinned.sample(5, seed=0)[name] == torch.tensor((low + high) / 2, dtype=torch.float32)).all()
    assert FactorSpace.from_dict(pinned.to_dict()) == pinned
    for family in spec.shifts:
        for level in family.split_levels:
            shifted = family.apply(space, level)
            for target in spec.resolve_target(family.target):
                f, g = space[target], shifted[target]
                if family.kind == "mean":
                    assert (g.low, g.high) == pytest.approx((f.low + level, f.high + level))
                else:
                    assert (g.low, g.high) == pytest.approx((f.low - level, f.high + level))


def test_same_seed_same_bytes_across_batches_and_chunks(spec):
    gen = Generator(spec, **_options(spec))
    images, content, nuisance = gen.items(6, seed=5, stream="train")
    assert images.shape == (6, 3, gen.resolution, gen.resolution) and images.dtype == torch.float32 and torch.isfinite(images).all()
    assert content.shape == (6, len(spec.content)) and nuisance.shape == (6, len(spec.nuisance))
    assert torch.equal(gen.items(3, seed=5, stream="train", start=3)[0], images[3:])
    assert torch.equal(gen.render(content, nuisance, chunk_size=1), images)
    assert torch.equal(gen.items(6, seed=5, stream="train")[0], images)


def test_render_with_and_without_autograd_agree(spec):
    gen = Generator(spec, dtype=torch.float64, **_options(spec))
    content, nuisance = gen.sample(4, seed=1)
    fast = gen.render(content, nuisance)
    graph = gen.render(content.requires_grad_(True), nuisance)
    assert graph.requires_grad
    torch.testing.assert_close(graph.detach(), fast, rtol=0, atol=1e-12)


def test_views_share_content_and_differ_in_nuisance(spec):
    gen = Generator(spec, **_options(spec))
    content = gen.sample_content(3, seed=0)
    images, nuisance = gen.views(content, k=2, seed=0)
    assert images.shape == (2, 3, 3, gen.resolution, gen.resolution) and nuisance.shape == (2, 3, len(spec.nuisance))
    assert not torch.equal(nuisance[0], nuisance[1])
    again, _ = gen.views(content, k=2, seed=0)
    assert torch.equal(images, again)


def test_float64_gradcheck_and_gradgradcheck_in_every_factor(spec):
    factors = _float64_factors(spec)
    options = _options(spec, resolution=6)

    def fn(*values):
        return spec.render_fn(dict(zip(spec.names, values)), **options)

    values = tuple(factors[n] for n in spec.names)
    # fast_mode checks random projections of the Jacobians: seconds instead of minutes at this size.
    assert gradcheck(fn, values, eps=1e-6, atol=1e-5, rtol=1e-4, fast_mode=True)
    assert gradgradcheck(fn, values, eps=1e-6, atol=1e-4, rtol=1e-3, fast_mode=True)


def test_forward_mode_matches_reverse_mode(spec):
    factors = {n: v.detach() for n, v in _float64_factors(spec).items()}
    options = _options(spec, resolution=6)
    tangents = {n: torch.linspace(-1.0, 1.0, v.shape[0], dtype=torch.float64) + 0.3 for n, v in factors.items()}

    def fn(*values):
        return spec.render_fn(dict(zip(spec.names, values)), **options)

    primals = tuple(factors[n] for n in spec.names)
    _, jvp_out = torch.func.jvp(fn, primals, tuple(tangents[n] for n in spec.names))
    # <w, J t> from reverse mode: the gradient of <w, f> dotted with t.
    weights = torch.linspace(0.5, 1.5, jvp_out.numel(), dtype=torch.float64).view_as(jvp_out)
    leaves = tuple(p.clone().requires_grad_(True) for p in primals)
    grads = torch.autograd.grad((fn(*leaves) * weights).sum(), leaves)
    reverse = sum((g * tangents[n]).sum() for g, n in zip(grads, spec.names))
    torch.testing.assert_close((jvp_out * weights).sum(), reverse, rtol=1e-9, atol=1e-9)


def test_reference_form_agrees_in_float64(spec):
    if spec.reference_fn is None:
        pytest.skip(f"{spec.name} has no reference form")
    factors = {n: v.detach() for n, v in _float64_factors(spec, n=3).items()}
    options = _options(spec)
    torch.testing.assert_close(spec.render(factors, **options), spec.reference_fn(factors, **options), rtol=0, atol=1e-9)


def test_render_refuses_bad_factors(spec):
    factors = {n: v.detach() for n, v in _float64_factors(spec).items()}
    with pytest.raises(ValueError, match=r"missing \['" + spec.names[0]):
        spec.render({n: v for n, v in factors.items() if n != spec.names[0]})
    nan = dict(factors, **{spec.names[-1]: torch.full_like(factors[spec.names[-1]], float("nan"))})
    with pytest.raises(ValueError, match=rf"^factors\['{spec.names[-1]}'\]='non-finite"):
        spec.render(nan)
    for name in spec.positive:
        with pytest.raises(ValueError, match=rf"^factors\['{name}'\]='min 0': expected {name} > 0$"):
            spec.render(dict(factors, **{name: torch.zeros_like(factors[name])}))


def test_a_tiny_split_file_verifies_and_reads_back(spec, tmp_path):
    out = generate(tmp_path / "tiny.h5", seed=0, train=6, test=4, generator=spec.name, resolution=_tiny(spec), shifts="all",
                   dtype="float32", progress=False)
    assert verify(out).ok
    stored = SpirographH5(out, "test", target="both")
    rendered = SpirographRendered(0, "test", n=4, generator=spec.name, resolution=_tiny(spec), target="both")
    assert torch.equal(stored[3][0], rendered[3][0]) and torch.equal(stored[3][1][1], rendered[3][1][1])


def test_a_tiny_suite_scores(spec):
    suite = Suite(name="contract", version=1, seed=0, n_train=60, n_test=30, n_averaging_train=20, n_averaging_test=20,
                  n_robustness_train=20, n_robustness_test=20, n_invariance_test=10, n_sensitivity=10, n_worst_case=10,
                  averaging_draws=(1, 10), label_fractions=(0.1, 1.0), knn_neighbours=(1, 3), bootstrap_resamples=100,
                  generator=spec.name, resolution=_tiny(spec), batch_size=64)
    result = score(reference_encoder("pixels"), suite=suite, tasks=["linear", "robustness"], progress=False).to_dict()
    assert (result["generator"], result["generator_version"]) == (spec.name, spec.version)
    assert result["render"] == spec.render_options(resolution=_tiny(spec))
    assert set(result["metrics"]["robustness"]) == {"unshifted", "summary", *(f.key for f in spec.shifts)}
    assert list(result["metrics"]["linear"]["per_factor"]) == list(spec.content)

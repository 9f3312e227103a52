"""The renderer against the original code's renders and the dense PROTOCOL.md §1 formula."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import spirograph
from spirograph.generators.spirograph.dense import render_dense
from spirograph.generators.spirograph.render import curve_points, exponent_floor, intensity, render_unchecked

DATA = Path(__file__).resolve().parents[1] / "data" / "invclr_original_f32.npz"


def random_factors(n, seed=0, dtype=torch.float64, space=None):
    space = space or spirograph.FactorSpace()
    return space.sample(n, seed=seed, stream="render-test", dtype=dtype)


def test_matches_original_code_renders():
    data = np.load(DATA)
    factors = {name: torch.from_numpy(data[name]) for name in spirograph.FACTOR_NAMES}
    images = spirograph.render(factors)
    assert images.dtype == torch.float32 and images.shape == (128, 3, 32, 32)
    assert (images - torch.from_numpy(data["images"])).abs().max().item() < 1e-4


@pytest.mark.parametrize("normalize", ["row", "image"])
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-4), (torch.float64, 1e-9)])
def test_separable_equals_dense(normalize, dtype, tol):
    factors = random_factors(64, seed=3, dtype=dtype)
    fast = spirograph.render(factors, normalize=normalize)
    dense = render_dense(factors, normalize=normalize)
    assert fast.dtype == dtype
    assert (fast - dense).abs().max().item() < tol


@pytest.mark.parametrize("resolution,n_points,extent", [(2, 2, 1.0), (7, 3, 6.0), (48, 100, 8.0), (64, 40, 3.5)])
def test_other_sizes_match_dense(resolution, n_points, extent):
    factors = random_factors(8, seed=resolution)
    opts = dict(resolution=resolution, n_points=n_points, extent=extent)
    assert torch.allclose(spirograph.render(factors, **opts), render_dense(factors, **opts), atol=1e-9, rtol=0)
    assert spirograph.render(factors, **opts).shape == (8, 3, resolution, resolution)


def test_shifted_colours_are_not_clamped():
    space = spirograph.FactorSpace().shifted("background", mean_shift=0.4, width_change=0.5)
    factors = random_factors(256, seed=1, space=space)
    images = spirograph.render(factors)
    assert images.max() > 1.0
    assert torch.allclose(images, render_dense(factors), atol=1e-9, rtol=0)


def test_row_normalisation_scales_each_row_to_its_own_maximum():
    factors = random_factors(16, seed=2)
    x, y = curve_points(factors["m"], factors["b"], factors["h"], 40)
    raw = intensity(x, y, factors["sigma"], normalize="image") * 1.0  # one peak per image
    row = intensity(x, y, factors["sigma"], normalize="row")
    image_peaks = raw.amax(dim=(-2, -1))
    assert torch.allclose(image_peaks, torch.ones_like(image_peaks), atol=1e-6)
    # Every row with a non-negligible raw intensity reaches ~1 under row normalisation (the
    # original's streaks), while under image normalisation most rows stay below 1.
    visible = raw.amax(dim=-1) > 1e-2
    assert torch.allclose(row.amax(dim=-1)[visible], torch.ones(int(visible.sum()), dtype=row.dtype), atol=1e-4)
    assert (raw.amax(dim=-1)[visible] < 0.99).any()


def test_axis_convention_x_runs_along_rows():
    # A tiny curve centred away from the origin along x must light up rows, not columns.
    factors = random_factors(1, seed=0)
    factors.update(m=torch.tensor([2.6], dtype=torch.float64), h=torch.tensor([0.5], dtype=torch.float64),
                   b=torch.tensor([1.05], dtype=torch.float64), sigma=torch.tensor([0.25], dtype=torch.float64))
    x, y = curve_points(factors["m"], factors["b"], factors["h"], 40)
    v = spirograph.render(factors, normalize="image")[0, 0]
    grid = torch.linspace(-6, 6, 32, dtype=torch.float64)
    row, col = divmod(int(v.argmax()), 32)
    distances = (grid[row] - x[0]) ** 2 + (grid[col] - y[0]) ** 2
    assert distances.min() < 0.5


def test_batch_independence_and_determinism():
    factors = random_factors(20, seed=5, dtype=torch.float32)
    whole = spirograph.render(factors)
    halves = torch.cat([spirograph.render({k: v[:7] for k, v in factors.items()}),
                        spirograph.render({k: v[7:] for k, v in factors.items()})])
    assert torch.allclose(whole, halves, atol=1e-6, rtol=0)
    assert torch.equal(spirograph.render(factors), whole)


@pytest.mark.parametrize("normalize", ["row", "image"])
def test_gradcheck_all_factors(normalize):
    factors = {k: v.clone().requires_grad_(True) for k, v in random_factors(2, seed=11).items()}
    names = spirograph.FACTOR_NAMES

    def fn(*tensors):
        return spirograph.render(dict(zip(names, tensors)), resolution=6, n_points=5, normalize=normalize)

    inputs = tuple(factors[n] for n in names)
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-5)
    assert torch.autograd.gradgradcheck(fn, inputs, eps=1e-6, atol=1e-5)


def test_every_factor_receives_a_nonzero_gradient():
    factors = {k: v.clone().requires_grad_(True) for k, v in random_factors(4, seed=12).items()}
    images = spirograph.render(factors)
    weights = torch.linspace(-1, 1, images.numel(), dtype=images.dtype).view_as(images)
    (images * weights).sum().backward()
    for name, value in factors.items():
        assert value.grad is not None and value.grad.abs().sum() > 0, name


def _valid():
    return random_factors(3, seed=0, dtype=torch.float32)


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda f: f.pop("h"), "missing"),
        (lambda f: f.update(hh=f["h"]), "unknown factor 'hh'; did you mean 'h'"),
        (lambda f: f.update(b=f["b"][:2]), "factors\\['b'\\].shape"),
        (lambda f: f.update(b=f["b"].double()), "factors\\['b'\\].dtype"),
        (lambda f: f.update(m=torch.tensor([2, 3, 4])), "floating dtype"),
        (lambda f: f.update(m=f["m"].view(3, 1)), "1-D"),
        (lambda f: f.update(sigma=torch.tensor([0.5, 0.0, 0.3])), "sigma > 0"),
        (lambda f: f.update(b=torch.tensor([0.5, -0.1, 0.3])), "b > 0"),
        (lambda f: f.update(fg_r=torch.tensor([0.5, float("nan"), 0.3])), "non-finite"),
        (lambda f: f.update(bg_g=torch.tensor([0.5, float("inf"), 0.3])), "non-finite"),
        (lambda f: f.update(m=[2.0, 3.0, 4.0]), "torch.Tensor"),
    ],
)
def test_bad_factors_raise(mutate, match):
    factors = _valid()
    mutate(factors)
    with pytest.raises(ValueError, match=match):
        spirograph.render(factors)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(resolution=1), "resolution=1"),
        (dict(resolution=3.5), "resolution=3.5"),
        (dict(n_points=1), "n_points=1"),
        (dict(extent=0.0), "extent=0.0"),
        (dict(extent=-2), "extent=-2"),
        (dict(normalize="max"), "normalize='max'"),
    ],
)
def test_bad_options_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        spirograph.render(_valid(), **kwargs)


def test_rejects_mixed_devices():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    factors = _valid()
    factors["m"] = factors["m"].cuda()
    with pytest.raises(ValueError, match="device"):
        spirograph.render(factors)


def test_does_not_touch_global_rng():
    state = torch.get_rng_state()
    spirograph.render(_valid())
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_refused_with_the_rule(dtype):
    factors = {k: v.to(dtype) for k, v in _valid().items()}
    with pytest.raises(ValueError, match=r"factors\['m'\]\.dtype=torch\.(b)?float16: expected .*float32 or torch\.float64"):
        spirograph.render(factors)


@pytest.mark.parametrize("normalize", ["max", "rows", "Image", None])
def test_intensity_rejects_unknown_normalisation(normalize):
    factors = _valid()
    x, y = curve_points(factors["m"], factors["b"], factors["h"], 40)
    with pytest.raises(ValueError, match=r"normalize=.*expected one of 'row', 'image'"):
        intensity(x, y, factors["sigma"], normalize=normalize)


@pytest.mark.parametrize("normalize", ["row", "image"])
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-4), (torch.float64, 1e-9)])
def test_blocked_render_equals_dense_at_any_block_size(normalize, dtype, tol):
    factors = random_factors(300, seed=8, dtype=dtype)
    dense = render_dense(factors, normalize=normalize)
    for block in (1, 7, 128, 300, 1000):
        fast = render_unchecked(factors, normalize=normalize, block=block)
        assert fast.dtype == dtype and (fast - dense).abs().max().item() < tol
        with_graph = render_unchecked({k: v.clone().requires_grad_(True) for k, v in factors.items()}, normalize=normalize, block=block)
        assert (with_graph.detach() - dense).abs().max().item() < tol


@pytest.mark.parametrize("normalize", ["row", "image"])
def test_gradcheck_across_blocks(normalize):
    # Five images in blocks of two: the split inputs, the per-block graphs and their concatenation.
    factors = {k: v.clone().requires_grad_(True) for k, v in random_factors(5, seed=13).items()}
    names = spirograph.FACTOR_NAMES

    def fn(*tensors):
        return render_unchecked(dict(zip(names, tensors)), resolution=6, n_points=5, normalize=normalize, block=2)

    inputs = tuple(factors[n] for n in names)
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-5)
    assert torch.autograd.gradgradcheck(fn, inputs, eps=1e-6, atol=1e-5)


def test_blocked_gradients_equal_one_block():
    factors = random_factors(50, seed=14)
    weights = torch.randn(50, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(0))

    def grads(block):
        leaves = {k: v.clone().requires_grad_(True) for k, v in factors.items()}
        out = render_unchecked(leaves, block=block)
        (g,) = torch.autograd.grad((out * weights).sum(), leaves["h"], create_graph=True)
        (gg,) = torch.autograd.grad(g.pow(2).sum(), leaves["m"])
        return g.detach(), gg

    one, blocked = grads(50), grads(8)
    assert torch.allclose(one[0], blocked[0], rtol=1e-12, atol=1e-12) and torch.allclose(one[1], blocked[1], rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_no_subnormal_kernel_values(dtype):
    # Far from the curve exp(-Δ²/σ) would be subnormal (slow on x86); the exponent is floored.
    floor = exponent_floor(dtype)
    tiny = torch.finfo(dtype).tiny
    assert 2 * floor > math.log(tiny)  # a product of two kernel values is normal too
    factors = random_factors(64, seed=15, dtype=dtype)
    factors["sigma"] = torch.full_like(factors["sigma"], 0.25)
    x, y = curve_points(factors["m"], factors["b"], factors["h"], 40)
    grid = torch.linspace(-6, 6, 32, dtype=dtype)
    kernel = torch.exp(torch.clamp(-((grid - torch.stack([x, y], 1).unsqueeze(-1)) ** 2) / 0.25, min=floor))
    assert kernel.min().item() >= tiny
    # Flooring moves no pixel by more than 1e8·e^floor (the normaliser is at least T·1e-8).
    assert (render_unchecked(factors) - render_dense(factors)).abs().max().item() < (1e-4 if dtype == torch.float32 else 1e-9)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")  # raised inside torch.func
def test_forward_mode_matches_reverse_mode_across_blocks():
    # torch.func.jvp and forward_ad go through the hand-written kernel and block concatenation.
    factors = random_factors(40, seed=16)
    names = spirograph.FACTOR_NAMES
    tangents = tuple(torch.randn(40, dtype=torch.float64, generator=torch.Generator().manual_seed(i)) for i in range(10))

    def fn(*tensors):
        return render_unchecked(dict(zip(names, tensors)), block=16)

    primals = tuple(factors[n] for n in names)
    _, forward = torch.func.jvp(fn, primals, tangents)
    _, reverse = torch.autograd.functional.jvp(fn, primals, tangents)  # the double-backward form
    assert torch.allclose(forward, reverse, rtol=1e-10, atol=1e-10)
    with torch.autograd.forward_ad.dual_level():
        duals = [torch.autograd.forward_ad.make_dual(p, t) for p, t in zip(primals, tangents)]
        dual_out = torch.autograd.forward_ad.unpack_dual(fn(*duals)).tangent
    assert torch.allclose(dual_out, reverse, rtol=1e-10, atol=1e-10)


def test_no_grad_render_bits_do_not_depend_on_block_size_batch_or_threads():
    # Split files are byte-reproducible across chunk sizes and worker processes (one thread each).
    factors = random_factors(700, seed=17, dtype=torch.float32)
    reference = render_unchecked(factors, block=700)
    previous = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for block in (None, 1, 64, 256):
                assert torch.equal(render_unchecked(factors, block=block), reference)
            part = render_unchecked({k: v[123:400] for k, v in factors.items()})
            assert torch.equal(part, reference[123:400])
    finally:
        torch.set_num_threads(previous)

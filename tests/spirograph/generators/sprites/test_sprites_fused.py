"""The fused sprites kernels (SPIROGRAPH_COMPILE=1): the eager renderer's images and derivatives, exactly differentiable.

Every kernel is built by torch.compile on first use (about a minute for all of them here, once per
machine: torch caches them on disk), so every test renders at one resolution (16) to share builds.
"""

import pytest
import torch
import torch.autograd.forward_ad as fwAD
from torch.autograd import gradcheck, gradgradcheck

from spirograph.generators import compile_switch
from spirograph.generators.sprites import DEFAULT_NUISANCE, DEFAULT_RANGES, FACTOR_NAMES, fused, render, render_into, render_unchecked

R = 16


def draw(n, seed, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    return {k: (lo + (hi - lo) * torch.rand(n, generator=gen, dtype=torch.float64)).to(dtype) for k, (lo, hi) in DEFAULT_RANGES.items()}


@pytest.fixture
def compiled(monkeypatch):
    monkeypatch.setenv(compile_switch.ENV, "1")


@pytest.fixture
def eager(monkeypatch):
    monkeypatch.setenv(compile_switch.ENV, "0")


def rendered(f, mode, monkeypatch, **options):
    monkeypatch.setenv(compile_switch.ENV, mode)
    return render_unchecked(f, resolution=R, **options)


@pytest.mark.parametrize("dtype, tolerance", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_images_match_the_eager_renderer(dtype, tolerance, monkeypatch):
    f = draw(37, 0, dtype)
    expected = rendered(f, "0", monkeypatch)
    got = rendered(f, "1", monkeypatch)
    assert ("image", (R, 0.4, 5), dtype, "cpu") in fused._BUILT  # the compiled kernel drew them
    assert got.dtype == dtype and got.shape == expected.shape
    # float32: within verify's tolerance for stored float32 images, so files drawn either way verify.
    assert (got - expected).abs().max().item() <= tolerance


def test_bits_do_not_depend_on_the_batch(compiled):
    f = draw(37, 1, torch.float32)
    whole = render_unchecked(f, resolution=R)
    part = render_unchecked({k: v[3:8] for k, v in f.items()}, resolution=R)
    assert torch.equal(part, whole[3:8])
    out = torch.empty_like(whole)
    render_into(out, f, resolution=R)
    assert torch.equal(out, whole)
    # With autograd the same kernel draws the images.
    leaf = {k: v.clone().requires_grad_(k == "x") for k, v in f.items()}
    assert torch.equal(render_unchecked(leaf, resolution=R).detach(), whole)


def as_function(f):
    def fn(*values):
        return render(dict(zip(FACTOR_NAMES, values)), resolution=R)

    return fn, tuple(f[n].clone().requires_grad_(True) for n in FACTOR_NAMES)


def test_gradcheck_and_gradgradcheck_float64(compiled):
    fn, inputs = as_function(draw(3, 2))
    assert gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)
    assert gradgradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-4)


def penalty_gradients(f, mode, monkeypatch, *, to_factors):
    """The InvCLR penalty's pattern: a projection's gradient in the nuisance (create_graph), squared, backward."""
    monkeypatch.setenv(compile_switch.ENV, mode)
    projection = (torch.randn(3 * R * R, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64) / 30).requires_grad_(True)
    nuisance = torch.stack([f[n] for n in DEFAULT_NUISANCE], dim=1).requires_grad_(True)
    leaf = {**f, **dict(zip(DEFAULT_NUISANCE, nuisance.unbind(1)))}
    features = render_unchecked(leaf, resolution=R).flatten(1) @ projection
    features = features / features.norm(dim=1, keepdim=True)
    (grad,) = torch.autograd.grad(features.sum(), nuisance, create_graph=True)
    penalty = (grad * torch.linspace(-1, 1, len(DEFAULT_NUISANCE), dtype=grad.dtype)).sum(dim=1).pow(2).mean()
    inputs = [projection, nuisance] if to_factors else [projection]  # training asks for the encoder's alone
    return grad.detach(), torch.autograd.grad(penalty, inputs)


@pytest.mark.parametrize("to_factors", [True, False])
def test_double_backward_matches_eager_across_chunks(to_factors, monkeypatch):
    f = draw(fused.CHUNK + 5, 3)  # one full chunk and a tail
    expected_grad, expected = penalty_gradients(f, "0", monkeypatch, to_factors=to_factors)
    got_grad, got = penalty_gradients(f, "1", monkeypatch, to_factors=to_factors)
    torch.testing.assert_close(got_grad, expected_grad, rtol=1e-9, atol=1e-12)
    for g, e in zip(got, expected):
        assert e.abs().max() > 0
        torch.testing.assert_close(g, e, rtol=1e-9, atol=1e-12)


def test_forward_mode_matches_eager(monkeypatch):
    f, t = draw(4, 4), draw(4, 5)
    primals = tuple(f[n] for n in FACTOR_NAMES)
    tangents = tuple(t[n] for n in FACTOR_NAMES)
    fn, _ = as_function(f)
    results = {}
    for mode in ("0", "1"):
        monkeypatch.setenv(compile_switch.ENV, mode)
        by_func = torch.func.jvp(fn, primals, tangents)[1]
        with fwAD.dual_level():
            by_duals = fwAD.unpack_dual(fn(*(fwAD.make_dual(p, d) for p, d in zip(primals, tangents)))).tangent
        results[mode] = (by_func, by_duals)
    for got, expected in zip(results["1"], results["0"]):
        assert expected.abs().max() > 0
        torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-12)


def test_a_bad_setting_is_one_line(monkeypatch):
    monkeypatch.setenv(compile_switch.ENV, "yes")
    with pytest.raises(ValueError, match=r"^SPIROGRAPH_COMPILE='yes': expected 0 .* or 1 "):
        render(draw(2, 6, torch.float32), resolution=R)


def test_a_kernel_that_cannot_be_built_is_one_line(compiled, monkeypatch):
    def no_compiler(name):
        def kernel(*args):
            raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found\n  more detail")

        return kernel

    monkeypatch.setattr(fused, "_compiled", no_compiler)
    with pytest.raises(ValueError, match=r"^SPIROGRAPH_COMPILE='1': expected 0 here: .*'image'.*InvalidCxxCompiler") as error:
        render(draw(2, 7, torch.float32), resolution=R + 1)  # options not built yet in this process
    assert "\n" not in str(error.value)

"""Device/dtype matrix for the renderer and the generator (kornia style).

Every case runs on the CPU in float32 and float64; the CUDA cases carry the ``gpu`` marker and
skip without a CUDA device, so no test depends on one. Each case checks dtype and device of
the result and compares it with the CPU float64 reference at the dtype's tolerance
(PROTOCOL.md §1: 1e-4 in float32, 1e-9 in float64).
"""

import pytest
import torch

import spirograph
from spirograph import Spirograph
from spirograph.generators.spirograph.dense import render_dense
from spirograph.generators.spirograph.render import render_unchecked

DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param(
        "cuda", id="cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]
    ),
]
DTYPES = [pytest.param(torch.float32, id="float32"), pytest.param(torch.float64, id="float64")]
TOLERANCE = {torch.float32: 1e-4, torch.float64: 1e-9}
GRAD_RTOL = {torch.float32: 2e-3, torch.float64: 1e-9}  # float32 gradients of a 280 rad phase


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)


@pytest.fixture(params=DTYPES)
def dtype(request):
    return request.param


def _factors(n, seed=0):
    """CPU float64 reference factors."""
    return spirograph.FactorSpace().sample(n, seed=seed, stream="matrix", dtype=torch.float64)


def _to(factors, device, dtype):
    return {k: v.to(device, dtype) for k, v in factors.items()}


@pytest.mark.parametrize("normalize", ["row", "image"])
def test_render_matches_the_float64_reference(device, dtype, normalize):
    reference = _factors(200)
    images = spirograph.render(_to(reference, device, dtype), normalize=normalize)
    assert images.dtype == dtype and images.device.type == device.type and images.shape == (200, 3, 32, 32)
    expected = render_dense(reference, normalize=normalize)
    assert (images.cpu().double() - expected).abs().max().item() < TOLERANCE[dtype]


def test_render_blocks_agree(device, dtype):
    factors = _to(_factors(100, seed=1), device, dtype)
    one = render_unchecked(factors, block=100)
    for block in (1, 33):
        assert (render_unchecked(factors, block=block) - one).abs().max().item() < TOLERANCE[dtype]


def test_render_gradient_matches_the_float64_reference(device, dtype):
    reference = _factors(40, seed=2)
    weights = torch.randn(40, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(0))

    def grads(factors, w):
        leaves = {k: v.clone().requires_grad_(True) for k, v in factors.items()}
        (spirograph.render(leaves) * w).sum().backward()
        return torch.stack([leaves[k].grad for k in spirograph.FACTOR_NAMES])

    got = grads(_to(reference, device, dtype), weights.to(device, dtype))
    assert got.dtype == dtype and got.device.type == device.type and torch.isfinite(got).all()
    expected = grads(reference, weights)
    scale = expected.abs().amax(dim=1, keepdim=True)
    assert ((got.cpu().double() - expected).abs() / scale).max().item() < GRAD_RTOL[dtype]


def test_render_double_backward_matches_the_float64_reference(device, dtype):
    """The gradient penalty's pattern: first-order gradient with create_graph, then its gradient."""
    reference = _factors(24, seed=3)
    projection = torch.randn(3 * 32 * 32, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) / 55

    def second(factors, proj):
        proj = proj.clone().requires_grad_(True)
        leaves = {k: v.clone().requires_grad_(k == "h") for k, v in factors.items()}
        features = spirograph.render(leaves).flatten(1) @ proj
        (g,) = torch.autograd.grad((features / features.norm(dim=1, keepdim=True)).sum(), leaves["h"], create_graph=True)
        g.pow(2).mean().backward()
        return proj.grad

    got = second(_to(reference, device, dtype), projection.to(device, dtype))
    assert got.dtype == dtype and got.device.type == device.type and torch.isfinite(got).all()
    expected = second(reference, projection)
    assert ((got.cpu().double() - expected).abs().max() / expected.abs().max()).item() < GRAD_RTOL[dtype]


def test_generator_sampling_is_device_and_batch_independent(device, dtype):
    gen = Spirograph(device=device, dtype=dtype)
    content, nuisance = gen.sample(300, seed=4, stream="train", start=10)
    assert content.device.type == device.type and content.dtype == dtype
    cpu_content, cpu_nuisance = Spirograph(dtype=dtype).sample(300, seed=4, stream="train", start=10)
    assert torch.equal(content.cpu(), cpu_content) and torch.equal(nuisance.cpu(), cpu_nuisance)
    at_content, at_nuisance = gen.sample_at(torch.arange(309, 9, -1), seed=4, stream="train")
    assert torch.equal(at_content.flip(0), content) and torch.equal(at_nuisance.flip(0), nuisance)


def test_generator_render_and_views(device, dtype):
    gen = Spirograph(device=device, dtype=dtype)
    content, nuisance = gen.sample(90, seed=5)
    images = gen.render(content, nuisance, chunk_size=32)
    assert images.dtype == dtype and images.device.type == device.type
    assert (images - gen.render(content, nuisance, chunk_size=None)).abs().max().item() < TOLERANCE[dtype]
    # Inputs of another dtype on the CPU are moved and cast.
    moved = gen.render(content.cpu().to(torch.float64 if dtype == torch.float32 else torch.float32), nuisance.cpu())
    assert moved.dtype == dtype and moved.device.type == device.type
    views, drawn = gen.views(content, k=3, generator=torch.Generator(device=device).manual_seed(0), requires_grad=True)
    assert views.shape == (3, 90, 3, 32, 32) and views.dtype == dtype and views.device.type == device.type
    (views * views).sum().backward()
    assert drawn.grad.dtype == dtype and drawn.grad.device.type == device.type and torch.isfinite(drawn.grad).all()


def test_generator_refuses_non_finite_content(device, dtype):
    gen = Spirograph(device=device, dtype=dtype)
    content, _ = gen.sample(16, seed=6)
    content[3, 2] = float("nan")
    with pytest.raises(ValueError, match=r"content\[:, 2\]"):
        gen.views(content, seed=0)

"""Device/dtype matrix for the pure losses, nt_xent and gradient_penalty (kornia style).

CPU float32/float64 always; the CUDA cases carry the ``gpu`` marker and skip without a CUDA
device. Each case checks the result's dtype and device, that gradients reach the inputs on that
device, and the value against the CPU float64 reference. bfloat16 inputs (an autocast step)
are computed in float32, as the losses document.
"""

import pytest
import torch

from spirograph import Spirograph
from spirograph_baselines.losses.gradient_penalty import TARGETS, gradient_penalty, rademacher
from spirograph_baselines.losses.nt_xent import nt_xent

DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param(
        "cuda", id="cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]
    ),
]
DTYPES = [pytest.param(torch.float32, id="float32"), pytest.param(torch.float64, id="float64")]
RTOL = {torch.float32: 1e-4, torch.float64: 1e-10}


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)


@pytest.fixture(params=DTYPES)
def dtype(request):
    return request.param


def _projections(n=32, d=16):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, d, generator=g, dtype=torch.float64), torch.randn(n, d, generator=g, dtype=torch.float64)


def test_nt_xent(device, dtype):
    z1, z2 = _projections()
    a, b = (z.to(device, dtype).requires_grad_(True) for z in (z1, z2))
    loss = nt_xent(a, b, 0.5, distributed=False)
    assert loss.dtype == dtype and loss.device.type == device.type
    loss.backward()
    assert a.grad.dtype == dtype and a.grad.device.type == device.type and torch.isfinite(a.grad).all()
    expected = nt_xent(z1, z2, 0.5, distributed=False)
    assert loss.item() == pytest.approx(expected.item(), rel=RTOL[dtype])


def test_nt_xent_bfloat16_is_computed_in_float32(device):
    z1, z2 = _projections()
    a, b = (z.to(device, torch.bfloat16).requires_grad_(True) for z in (z1, z2))
    loss = nt_xent(a, b, 0.5, distributed=False)
    assert loss.dtype == torch.float32
    loss.backward()
    assert a.grad.dtype == torch.bfloat16 and torch.isfinite(a.grad.float()).all()
    reference = nt_xent(a.detach().double().cpu(), b.detach().double().cpu(), 0.5, distributed=False)
    assert loss.item() == pytest.approx(reference.item(), rel=1e-5)


def _penalty(device, dtype, target, n=16, d=8, n_prior=10):
    """Images rendered from a nuisance leaf, a linear encoder, the penalty; returns value and weight gradient."""
    gen = Spirograph(resolution=16, device=device, dtype=dtype)
    content, nuisance = Spirograph(resolution=16, dtype=torch.float64).sample(n, seed=1)
    prior = Spirograph(dtype=torch.float64).sample_nuisance(n * n_prior, seed=2).reshape(n, n_prior, -1)
    weight = (torch.randn(3 * 16 * 16, d, generator=torch.Generator().manual_seed(3), dtype=torch.float64) / 20).to(device, dtype)
    weight.requires_grad_(True)
    signs = rademacher((n, d), generator=torch.Generator().manual_seed(4), dtype=torch.float64, device="cpu")
    leaf = nuisance.to(device, dtype).requires_grad_(True)
    h = gen.render(content.to(device, dtype), leaf, validate=False).flatten(1) @ weight
    penalty, raw = gradient_penalty(h, leaf, prior.to(device, dtype), signs.to(device, dtype), clamp=1e6, target=target)
    (grad,) = torch.autograd.grad(penalty, weight)
    return penalty, raw, grad


@pytest.mark.parametrize("target", TARGETS)
def test_gradient_penalty(device, dtype, target):
    penalty, raw, grad = _penalty(device, dtype, target)
    assert penalty.dtype == dtype and penalty.device.type == device.type and not raw.requires_grad
    assert grad.dtype == dtype and grad.device.type == device.type and torch.isfinite(grad).all()
    expected, _, expected_grad = _penalty(torch.device("cpu"), torch.float64, target)
    # float32 renders carry ~1e-5 of phase rounding into a derivative of the images: a looser bound.
    rtol = 2e-3 if dtype == torch.float32 else 1e-8
    assert penalty.item() == pytest.approx(expected.item(), rel=rtol)
    assert ((grad.cpu().double() - expected_grad).abs().max() / expected_grad.abs().max()).item() < rtol


def test_gradient_penalty_bfloat16_features_are_computed_in_float32(device):
    gen = Spirograph(resolution=16, device=device)
    content, nuisance = gen.sample(8, seed=1)
    leaf = nuisance.clone().requires_grad_(True)
    weight = torch.randn(3 * 16 * 16, 4, generator=torch.Generator().manual_seed(0)).to(device)
    h = (gen.render(content, leaf, validate=False).flatten(1) @ weight).to(torch.bfloat16)
    prior = gen.sample_nuisance(8 * 5, seed=2).reshape(8, 5, -1)
    signs = rademacher((8, 4), generator=torch.Generator(device=device).manual_seed(1), dtype=torch.bfloat16, device=device)
    penalty, raw = gradient_penalty(h, leaf, prior, signs)
    assert penalty.dtype == torch.float32 and torch.isfinite(raw)

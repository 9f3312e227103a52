"""NT-Xent against a plain double-loop reference over a grid of sizes and temperatures."""

import math

import pytest
import torch

from spirograph_baselines.losses.nt_xent import nt_xent


def naive_nt_xent(z1, z2, temperature):
    z = torch.cat([z1, z2])
    z = z / z.norm(dim=1, keepdim=True)
    two_n = z.shape[0]
    n = two_n // 2
    total = 0.0
    for a in range(two_n):
        positive = (a + n) % two_n
        denom = sum(math.exp(float(z[a] @ z[k]) / temperature) for k in range(two_n) if k != a)
        total += -(float(z[a] @ z[positive]) / temperature - math.log(denom))
    return total / two_n


@pytest.mark.parametrize("n", [2, 3, 8])
@pytest.mark.parametrize("d", [2, 16])
@pytest.mark.parametrize("temperature", [0.1, 0.5, 2.0])
def test_matches_naive_reference(n, d, temperature):
    g = torch.Generator().manual_seed(n * 100 + d)
    z1 = torch.randn(n, d, generator=g, dtype=torch.float64)
    z2 = torch.randn(n, d, generator=g, dtype=torch.float64)
    got = nt_xent(z1, z2, temperature).item()
    assert got == pytest.approx(naive_nt_xent(z1, z2, temperature), rel=1e-10)


def test_gradient_matches_reference_gradient():
    g = torch.Generator().manual_seed(1)
    z1 = torch.randn(5, 4, generator=g, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(5, 4, generator=g, dtype=torch.float64, requires_grad=True)
    # Against float64 autograd of a vectorised restatement of the formula (masking by a large
    # negative number instead of -inf).
    nt_xent(z1, z2, 0.5).backward()
    a1, a2 = z1.detach().clone().requires_grad_(), z2.detach().clone().requires_grad_()
    z = torch.nn.functional.normalize(torch.cat([a1, a2]), dim=1)
    logits = z @ z.T / 0.5 - torch.eye(10, dtype=torch.float64) * 1e9
    target = torch.cat([torch.arange(5, 10), torch.arange(5)])
    torch.nn.functional.cross_entropy(logits, target).backward()
    assert torch.allclose(z1.grad, a1.grad, atol=1e-10) and torch.allclose(z2.grad, a2.grad, atol=1e-10)


def test_perfectly_aligned_views_beat_random_ones():
    g = torch.Generator().manual_seed(2)
    z = torch.randn(16, 8, generator=g)
    assert nt_xent(z, z).item() < nt_xent(z, torch.randn(16, 8, generator=g)).item()


@pytest.mark.parametrize("temperature", [0, -0.5, float("nan"), float("inf")])
def test_rejects_bad_temperature(temperature):
    z = torch.randn(4, 3)
    with pytest.raises(ValueError, match="temperature"):
        nt_xent(z, z, temperature)


def test_rejects_mismatched_shapes_and_single_item():
    with pytest.raises(ValueError, match="shape"):
        nt_xent(torch.randn(4, 3), torch.randn(5, 3))
    with pytest.raises(ValueError, match="at least 2"):
        nt_xent(torch.randn(1, 3), torch.randn(1, 3))

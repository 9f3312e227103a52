"""The InvCLR gradient penalty against finite differences in float64 on a tiny encoder."""

import pytest
import torch
from torch.func import functional_call

from spirograph import Spirograph
from spirograph_baselines.encoders import ConvNet
from spirograph_baselines.losses.gradient_penalty import TARGETS, gradient_penalty, rademacher, standardize_scale

N, J, R = 4, 3, 8


def setup():
    gen = Spirograph(resolution=R, n_points=10, dtype=torch.float64)
    content = gen.sample_content(N, seed=0)
    g = torch.Generator().manual_seed(0)
    nuisance = gen.sample_nuisance(N, generator=g)
    prior = gen.sample_nuisance(N * J, generator=g).reshape(N, J, -1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        encoder = ConvNet((3,), norm="batch").double()
    signs = rademacher((N, encoder.out_dim), generator=g, dtype=torch.float64, device="cpu")
    return gen, content, nuisance, prior, encoder, signs


def projection(gen, content, nuisance, encoder, signs, target="normalized", sigma=None):
    """S(α) = Σ_i r_iᵀ t(h_i(α)); for "standardized" t(h) = (h − μ)/σ with μ, σ held at the base point."""
    h = encoder(gen.render(content, nuisance, validate=False))
    if target == "normalized":
        h = h / h.norm(dim=1, keepdim=True)
    elif target == "standardized":
        h = h / sigma  # the centring constant μ has zero derivative
    return (signs * h).sum()


@pytest.mark.parametrize("target", TARGETS)
def test_inner_gradient_and_value_match_finite_differences(target):
    gen, content, nuisance, prior, encoder, signs = setup()
    alpha = nuisance.clone().requires_grad_(True)
    h = encoder(gen.render(content, alpha, validate=False))
    penalty, raw = gradient_penalty(h, alpha, prior, signs, clamp=float("inf"), target=target)
    # The standardized target's batch statistics are constants of the inner derivative (per-item Jacobian).
    h0 = h.detach()
    sigma = (h0.var(dim=0, unbiased=False) + 1e-4 * h0.var(dim=0, unbiased=False).mean()).sqrt()
    eps = 1e-6
    grad = torch.zeros_like(nuisance)
    with torch.no_grad():
        for i in range(N):
            for k in range(nuisance.shape[1]):
                up, down = nuisance.clone(), nuisance.clone()
                up[i, k] += eps
                down[i, k] -= eps
                grad[i, k] = (
                    projection(gen, content, up, encoder, signs, target, sigma) - projection(gen, content, down, encoder, signs, target, sigma)
                ) / (2 * eps)
    expected = torch.einsum("nk,njk->nj", grad, prior - nuisance.unsqueeze(1)).pow(2).mean()
    assert raw.item() == pytest.approx(expected.item(), rel=1e-6)
    assert penalty.item() == pytest.approx(raw.item())


@pytest.mark.parametrize("target", TARGETS)
def test_parameter_gradient_passes_gradcheck(target):
    # For "standardized" this includes the path through σ(θ): the batch statistics are in the outer graph.
    gen, content, nuisance, prior, encoder, signs = setup()
    names = [n for n, _ in encoder.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for p in encoder.parameters())

    def penalty_of(*values):
        alpha = nuisance.clone().requires_grad_(True)
        images = gen.render(content, alpha, validate=False)
        h = functional_call(encoder, dict(zip(names, values)), (images,))
        return gradient_penalty(h, alpha, prior, signs, clamp=float("inf"), target=target)[0]

    assert torch.autograd.gradcheck(penalty_of, params, eps=1e-6, atol=1e-6, rtol=1e-4, fast_mode=True)


def _penalty_and_grads(target, scale=1.0, offset=0.0):
    gen, content, nuisance, prior, encoder, signs = setup()
    alpha = nuisance.clone().requires_grad_(True)
    h = scale * encoder(gen.render(content, alpha, validate=False)) + offset
    penalty, _ = gradient_penalty(h, alpha, prior, signs, clamp=float("inf"), target=target)
    grads = torch.autograd.grad(penalty, tuple(encoder.parameters()))
    return penalty.detach(), torch.cat([g.flatten() for g in grads])


@pytest.mark.parametrize("scale, offset", [(7.0, 0.0), (1.0, 1000.0), (7.0, 1000.0)])
def test_standardized_penalty_ignores_offset_and_scale(scale, offset):
    value, grads = _penalty_and_grads("standardized")
    moved, moved_grads = _penalty_and_grads("standardized", scale, offset)
    assert moved.item() == pytest.approx(value.item(), rel=1e-6)
    # Invariant as a function of the parameters, so its gradient is unchanged too.
    assert torch.allclose(moved_grads, grads, rtol=1e-6, atol=1e-9 * grads.abs().max().item())
    # The other targets are not: an offset moves ĥ = h/‖h‖ (the paper's target can be gamed by
    # an offset), and the raw target grows as scale².
    if offset:
        assert _penalty_and_grads("normalized", scale, offset)[0].item() < 0.01 * _penalty_and_grads("normalized")[0].item()
    else:
        assert _penalty_and_grads("raw", scale)[0].item() == pytest.approx(scale**2 * _penalty_and_grads("raw")[0].item(), rel=1e-9)


def test_standardize_scale_is_the_relative_floored_batch_std():
    h = torch.tensor([[1.0, 5.0, 2.0], [3.0, 5.0, 2.0], [5.0, 5.0, 8.0]], dtype=torch.float64)
    var = torch.tensor([8 / 3, 0.0, 8.0], dtype=torch.float64)
    assert torch.allclose(standardize_scale(h), (var + 1e-4 * var.mean()).sqrt())
    assert torch.isfinite(standardize_scale(torch.ones(3, 2))).all()  # nothing varies: finite, not 0


@pytest.mark.parametrize("view", [0, 1])
def test_view_selection_matches_a_single_view(view):
    # The 3-D leaf with view=v must give the penalty of the 2-D call on view v's own nuisance
    # (eval mode: BatchNorm uses running statistics, so the two views' items do not interact).
    gen, content, _, prior, encoder, signs = setup()
    encoder.eval()
    g = torch.Generator().manual_seed(5)
    images, nuisance = gen.views(content, k=2, generator=g, requires_grad=True)
    h = encoder(images.reshape(2 * N, 3, R, R)).reshape(2, N, -1)
    penalty_views, raw_views = gradient_penalty(h[view], nuisance, prior, signs, view=view, clamp=float("inf"))
    alpha = nuisance[view].detach().clone().requires_grad_(True)
    penalty_single, raw_single = gradient_penalty(encoder(gen.render(content, alpha, validate=False)), alpha, prior, signs, clamp=float("inf"))
    assert raw_views > 0
    assert raw_views.item() == pytest.approx(raw_single.item(), rel=1e-12)
    grads_views = torch.autograd.grad(penalty_views, tuple(encoder.parameters()))
    grads_single = torch.autograd.grad(penalty_single, tuple(encoder.parameters()))
    assert all(torch.allclose(a, b, rtol=1e-10, atol=1e-14) for a, b in zip(grads_views, grads_single))


def test_clamp_caps_value_and_zeroes_gradient():
    gen, content, nuisance, prior, encoder, signs = setup()
    alpha = nuisance.clone().requires_grad_(True)
    h = encoder(gen.render(content, alpha, validate=False))
    penalty, raw = gradient_penalty(h, alpha, prior, signs, clamp=1e-12)
    assert raw.item() > 1e-12 and penalty.item() == pytest.approx(1e-12)
    penalty.backward()
    assert all(p.grad is None or torch.count_nonzero(p.grad) == 0 for p in encoder.parameters())


def test_bad_inputs():
    gen, content, nuisance, prior, encoder, signs = setup()
    alpha = nuisance.clone().requires_grad_(True)
    h = encoder(gen.render(content, alpha, validate=False))
    with pytest.raises(ValueError, match="clamp"):
        gradient_penalty(h, alpha, prior, signs, clamp=0)
    with pytest.raises(ValueError, match="signs"):
        gradient_penalty(h, alpha, prior, signs[:, :1])
    with pytest.raises(ValueError, match="prior_draws"):
        gradient_penalty(h, alpha, prior[:, :, :2], signs)
    with pytest.raises(ValueError, match="requires_grad"):
        gradient_penalty(h.detach(), nuisance, prior, signs)
    with pytest.raises(ValueError, match="view"):
        gradient_penalty(h, alpha, prior, signs, view=0)
    with pytest.raises(ValueError, match="target='standardised'.*'normalized', 'raw', 'standardized'"):
        gradient_penalty(h, alpha, prior, signs, target="standardised")
    with pytest.raises(ValueError, match=r"h.shape\[0\]=1.*standardized"):
        gradient_penalty(h[:1], alpha[:1], prior[:1], signs[:1], target="standardized")


def test_rademacher_is_plus_minus_one_and_seeded():
    a = rademacher((50, 7), generator=torch.Generator().manual_seed(3), dtype=torch.float32, device="cpu")
    b = rademacher((50, 7), generator=torch.Generator().manual_seed(3), dtype=torch.float32, device="cpu")
    assert torch.equal(a, b) and set(a.unique().tolist()) == {-1.0, 1.0}

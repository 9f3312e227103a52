"""The InvCLR gradient penalty against finite differences in float64 on a tiny encoder."""

import pytest
import torch
from torch.func import functional_call

from spirograph import Spirograph
from spirograph_baselines.encoders import ConvNet
from spirograph_baselines.losses.gradient_penalty import gradient_penalty, rademacher



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


def projection(gen, content, nuisance, encoder, signs, normalize=True):
    h = encoder(gen.render(content, nuisance, validate=False))
    return (signs * (h / h.norm(dim=1, keepdim=True) if normalize else h)).sum()


@pytest.mark.parametrize("normalize", [True, False])
def test_inner_gradient_and_value_match_finite_differences(normalize):
    gen, content, nuisance, prior, encoder, signs = setup()
    alpha = nuisance.clone().requires_grad_(True)
    h = encoder(gen.render(content, alpha, validate=False))
    penalty, raw = gradient_penalty(h, alpha, prior, signs, clamp=float("inf"), normalize=normalize)
    eps = 1e-6
    grad = torch.zeros_like(nuisance)
    with torch.no_grad():
        for i in range(N):
            for k in range(nuisance.shape[1]):
                up, down = nuisance.clone(), nuisance.clone()
                up[i, k] += eps
                down[i, k] -= eps
                grad[i, k] = (projection(gen, content, up, encoder, signs, normalize) - projection(gen, content, down, encoder, signs, normalize)) / (2 * eps)
    expected = torch.einsum("nk,njk->nj", grad, prior - nuisance.unsqueeze(1)).pow(2).mean()
    assert raw.item() == pytest.approx(expected.item(), rel=1e-6)
    assert penalty.item() == pytest.approx(raw.item())


def test_parameter_gradient_passes_gradcheck():
    gen, content, nuisance, prior, encoder, signs = setup()
    names = [n for n, _ in encoder.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for p in encoder.parameters())

    def penalty_of(*values):
        alpha = nuisance.clone().requires_grad_(True)
        images = gen.render(content, alpha, validate=False)
        h = functional_call(encoder, dict(zip(names, values)), (images,))
        return gradient_penalty(h, alpha, prior, signs, clamp=float("inf"))[0]

    assert torch.autograd.gradcheck(penalty_of, params, eps=1e-6, atol=1e-6, rtol=1e-4, fast_mode=True)


def test_view_selection_matches_a_single_view():
    gen, content, _, prior, encoder, signs = setup()
    g = torch.Generator().manual_seed(5)
    images, nuisance = gen.views(content, k=2, generator=g, requires_grad=True)
    h = encoder(images.reshape(2 * N, 3, R, R)).reshape(2, N, -1)
    _, raw_views = gradient_penalty(h[0], nuisance, prior, signs, view=0)
    assert torch.isfinite(raw_views) and raw_views > 0


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


def test_rademacher_is_plus_minus_one_and_seeded():
    a = rademacher((50, 7), generator=torch.Generator().manual_seed(3), dtype=torch.float32, device="cpu")
    b = rademacher((50, 7), generator=torch.Generator().manual_seed(3), dtype=torch.float32, device="cpu")
    assert torch.equal(a, b) and set(a.unique().tolist()) == {-1.0, 1.0}

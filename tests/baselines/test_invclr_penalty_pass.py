"""InvCLR's exact penalty encodes view 0 in its own pass: same loss and gradient as the joint pass."""

import pytest
import torch

from spirograph import Spirograph
from spirograph_baselines.encoders import ConvNet
from spirograph_baselines.methods import StepContext, build_method


def _step(method, images, nuisance, content, gen, joint_reference):
    """Loss and parameter gradients of one training step; ``joint_reference`` takes h of view 0 from the joint pass."""
    if joint_reference:
        method._encode_with_penalty_view = lambda imgs: (lambda h, z: (h[0], z))(*method.encode_views(imgs))
    ctx = StepContext(images, nuisance, content, torch.arange(content.shape[0]), 0, 10, 0, torch.Generator().manual_seed(1), gen)
    out = method.training_step(ctx)
    params = [p for p in method.parameters() if p.requires_grad]
    return out["loss"].detach(), out["penalty"], torch.autograd.grad(out["loss"], params, allow_unused=True)


@pytest.mark.parametrize("view_passes", ["joint", "per-view"])
@pytest.mark.parametrize("norm", ["group", "none"])
def test_penalty_view_pass_keeps_value_and_gradient(norm, view_passes):
    gen = Spirograph(resolution=16, n_points=20, dtype=torch.float64)
    content = gen.sample_content(12, seed=0)
    images, nuisance = gen.views(content, generator=torch.Generator().manual_seed(0), requires_grad=True)
    torch.manual_seed(0)
    method = build_method("invclr", ConvNet((4, 8), norm=norm), {"lam": 1.0, "n_prior": 5, "view_passes": view_passes}, n_items=12).double()
    reference = build_method("invclr", ConvNet((4, 8), norm=norm), {"lam": 1.0, "n_prior": 5, "view_passes": view_passes}, n_items=12).double()
    reference.load_state_dict(method.state_dict())
    loss, penalty, grads = _step(method, images, nuisance, content, gen, joint_reference=False)
    ref_loss, ref_penalty, ref_grads = _step(reference, images, nuisance, content, gen, joint_reference=True)
    assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-12) and penalty.item() == pytest.approx(ref_penalty.item(), rel=1e-10)
    for g, r in zip(grads, ref_grads):
        assert (g is None) == (r is None)
        if g is not None:
            assert torch.allclose(g, r, rtol=1e-9, atol=1e-12)


def test_batchnorm_encoder_with_joint_passes_keeps_the_joint_pass():
    gen = Spirograph(resolution=16, n_points=20)
    images, _ = gen.views(gen.sample_content(8, seed=0), generator=torch.Generator().manual_seed(0))
    method = build_method("invclr", ConvNet((4, 8), norm="batch"), {"view_passes": "joint"}, n_items=8)
    torch.manual_seed(0)
    h0, z = method._encode_with_penalty_view(images)
    h, z_joint = method.encode_views(images)
    # BatchNorm statistics over both views: view 0's h is the joint pass's, not a pass of its own.
    assert torch.equal(h0, h[0]) and torch.equal(z, z_joint)
    assert not torch.allclose(method.encoder(images[0]), h[0], atol=1e-4)

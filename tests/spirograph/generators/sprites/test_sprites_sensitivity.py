"""The harness's sensitivity through the sprites renderer: exact derivatives of the features with respect
to position, rotation and scale (the rendered Lie derivative) against central finite differences in float64."""

import pytest
import torch

from spirograph import Generator
from spirograph.harness.encoders import Pixels, RandomConvNet
from spirograph.harness.sensitivity import _jvp, derivative_norms, feature_function

GEOMETRIC = ("x", "y", "angle", "scale")


@pytest.mark.parametrize("mode", ["forward", "double-backward"])
@pytest.mark.parametrize("encoder", [Pixels(), RandomConvNet(seed=0).double().eval()], ids=["pixels", "random-convnet"])
def test_geometric_sensitivity_equals_finite_differences(encoder, mode):
    gen = Generator("sprites", dtype=torch.float64)
    content, nuisance = gen.sample(4, seed=0, stream="test")
    function = feature_function(encoder, gen)
    norms = derivative_norms(function, content, nuisance, mode)
    # Central differences err by f'''·h²/6: the edge (τ = 0.4 px, 16 px per canvas unit) makes f''' ~ (16/0.4)³, so h = 1e-6.
    step = 1e-6
    for name in GEOMETRIC:
        k = gen.nuisance_names.index(name)
        tangent = torch.zeros_like(nuisance)
        tangent[:, k] = 1.0
        exact = _jvp(function, (content, nuisance), (torch.zeros_like(content), tangent), mode)
        with torch.no_grad():
            difference = (function(content, nuisance + step * tangent) - function(content, nuisance - step * tangent)) / (2 * step)
        scale = exact.abs().max()
        assert scale > 0
        torch.testing.assert_close(exact, difference, rtol=0, atol=1e-6 * float(scale))
        torch.testing.assert_close(norms[:, len(gen.content_names) + k], exact.flatten(1).norm(dim=1), rtol=1e-12, atol=0)

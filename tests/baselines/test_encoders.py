"""Encoders and projection head: shapes, the head's structure, bad input."""

import pytest
import torch

from spirograph_baselines.encoders import ConvNet, ProjectionHead, ResNet18Cifar, build_encoder


def test_resnet18_cifar_stem_gives_512_dims():
    net = ResNet18Cifar()
    assert net.out_dim == 512
    assert net.stem[0].stride == (1, 1) and net.stem[0].kernel_size == (3, 3)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in net.modules())
    assert not any(isinstance(m, torch.nn.Linear) for m in net.modules())
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 512)


@pytest.mark.parametrize("norm", ["batch", "group"])
def test_resnet18_initialisation_is_the_original_codes(norm):
    # Kaiming-normal, fan_out, ReLU gain: std sqrt(2 / (out_channels·kh·kw)), mean 0; norms identity.
    torch.manual_seed(0)
    net = ResNet18Cifar(norm=norm)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 20  # stem + 16 block convolutions + 3 shortcuts
    for conv in convs:
        w = conv.weight.detach()
        expected = (2.0 / (w.shape[0] * w.shape[2] * w.shape[3])) ** 0.5
        assert w.std().item() == pytest.approx(expected, rel=0.05)
        assert abs(w.mean().item()) < 0.1 * expected
    norms = [m for m in net.modules() if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.GroupNorm))]
    assert len(norms) == 20 and all(torch.all(m.weight == 1) and torch.all(m.bias == 0) for m in norms)


@pytest.mark.parametrize("norm", ["batch", "group", "none"])
def test_convnet_shapes(norm):
    net = ConvNet((8, 16), norm=norm)
    assert net(torch.zeros(3, 3, 32, 32)).shape == (3, 16) and net.out_dim == 16


def test_projection_head_matches_spec():
    head = ProjectionHead(512)
    linears = [m for m in head.modules() if isinstance(m, torch.nn.Linear)]
    norms = [m for m in head.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert [tuple(l.weight.shape) for l in linears] == [(512, 512), (128, 512)]
    assert all(l.bias is None for l in linears)
    assert norms[0].affine and not norms[1].affine
    assert head(torch.randn(4, 512)).shape == (4, 128)


def test_build_encoder_errors():
    with pytest.raises(ValueError, match="did you mean 'resnet18'"):
        build_encoder("resnet19")
    with pytest.raises(ValueError, match="encoder_kwargs"):
        build_encoder("convnet", depth=3)
    with pytest.raises(ValueError, match="widths"):
        ConvNet(())
    with pytest.raises(ValueError, match="norm"):
        ConvNet((4,), norm="layer")

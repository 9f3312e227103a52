"""Encoders and the projection head: ResNet-18 with the CIFAR stem, a small ConvNet for CPU budgets.

PROTOCOL.md §2 (after Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual
Representations"): the representation h is the globally average-pooled backbone output (512 dims
for ResNet-18, no fc layer); the projection head is z = BN(W₂·ReLU(BN(W₁h))) without biases, the
last BatchNorm non-affine.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import nn

from spirograph._validate import bad_value, check_choice, check_int, unknown_name

NORMS = ("batch", "group", "none")


def _norm(kind: str, channels: int) -> nn.Module:
    # GroupNorm / no norm keep samples independent, which makes a sharded (DDP) batch exactly
    # equivalent to the union batch; BatchNorm is the paper's choice.
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(min(8, channels), channels)
    return nn.Identity()


class BasicBlock(nn.Module):
    """ResNet basic block: two 3×3 convolutions with a residual connection (He et al. 2016)."""

    def __init__(self, in_channels: int, channels: int, stride: int, norm: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = _norm(norm, channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = _norm(norm, channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride, bias=False), _norm(norm, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet18Cifar(nn.Module):
    """ResNet-18 with the CIFAR stem (3×3 conv, stride 1, no max-pool) and no fc layer.

    Convolutions are initialised Kaiming-normal (fan_out, ReLU gain), norm layers to weight 1,
    bias 0, as in the original code (PROTOCOL.md §2).

    Args:
        norm: "batch" (paper), "group" or "none".
        width: channels of the first stage (64 in the paper); stages use width·(1, 2, 4, 8).

    Input (B, 3, R, R) → representation (B, 8·width) (512 for the paper's width).
    """

    def __init__(self, *, norm: str = "batch", width: int = 64) -> None:
        super().__init__()
        norm = check_choice("norm", norm, NORMS)
        width = check_int("width", width, 1)
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 1, 1, bias=False), _norm(norm, width), nn.ReLU(inplace=True))
        layers, in_channels = [], width
        for stage, mult in enumerate((1, 2, 4, 8)):
            channels = width * mult
            stride = 1 if stage == 0 else 2
            layers += [BasicBlock(in_channels, channels, stride, norm), BasicBlock(channels, channels, 1, norm)]
            in_channels = channels
        self.layers = nn.Sequential(*layers)
        self.out_dim = in_channels
        # The original code's initialisation (torchvision's ResNet): Kaiming-normal convolutions
        # for ReLU, fan_out mode; norm layers start as the identity map (weight 1, bias 0).
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(nn.functional.adaptive_avg_pool2d(self.layers(self.stem(x)), 1), 1)


class ConvNet(nn.Module):
    """A small ConvNet for CPU budgets: 3×3 conv–norm–ReLU stages, each halving the resolution.

    Args:
        widths: output channels of each stage (stride 2 each); the representation has
            ``widths[-1]`` dims after global average pooling.
        norm: "batch", "group" or "none".

    Input (B, 3, R, R) → representation (B, widths[-1]).
    """

    def __init__(self, widths: Sequence[int] = (32, 64, 128), *, norm: str = "batch") -> None:
        super().__init__()
        norm = check_choice("norm", norm, NORMS)
        widths = tuple(widths)
        if not widths or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths):
            raise bad_value("widths", widths, "a non-empty sequence of positive integers")
        layers: list[nn.Module] = []
        in_channels = 3
        for w in widths:
            layers += [nn.Conv2d(in_channels, w, 3, 2, 1, bias=norm == "none"), _norm(norm, w), nn.ReLU(inplace=True)]
            in_channels = w
        self.body = nn.Sequential(*layers)
        self.out_dim = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(nn.functional.adaptive_avg_pool2d(self.body(x), 1), 1)


class ProjectionHead(nn.Module):
    """SimCLR projection head z = BN(W₂·ReLU(BN(W₁h))), no biases, last BN non-affine (PROTOCOL.md §2).

    Args:
        in_dim: representation size (512 for ResNet-18).
        hidden_dim: size of W₁'s output (default: ``in_dim``, 512 in the paper).
        out_dim: projection size (128 in the paper).
        batch_norm: False replaces both BatchNorms by identities (sample-independent head).

    Input (B, in_dim) → (B, out_dim).
    """

    def __init__(self, in_dim: int, hidden_dim: int | None = None, out_dim: int = 128, *, batch_norm: bool = True) -> None:
        super().__init__()
        in_dim = check_int("in_dim", in_dim, 1)
        hidden_dim = check_int("hidden_dim", in_dim if hidden_dim is None else hidden_dim, 1)
        out_dim = check_int("out_dim", out_dim, 1)
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim, bias=not batch_norm),
            nn.BatchNorm1d(hidden_dim) if batch_norm else nn.Identity(),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, out_dim, bias=not batch_norm),
            nn.BatchNorm1d(out_dim, affine=False) if batch_norm else nn.Identity(),
        )
        self.out_dim = out_dim

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


ENCODERS: dict[str, Callable[..., nn.Module]] = {"resnet18": ResNet18Cifar, "convnet": ConvNet}


def build_encoder(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered encoder by name ("resnet18" or "convnet"); the module has ``out_dim``.

    Raises:
        ValueError: unknown name (with a did-you-mean hint) or bad keyword arguments.
    """
    if name not in ENCODERS:
        raise unknown_name("encoder", name, ENCODERS)
    try:
        return ENCODERS[name](**kwargs)
    except TypeError as err:
        raise bad_value("encoder_kwargs", kwargs, f"keyword arguments accepted by {ENCODERS[name].__name__}: {err}") from None

"""ResNets for 32x32 images (He et al. 2016, "Deep Residual Learning for Image Recognition", section 4.2).

Depth ``6n + 2``: a 3x3 conv with 16 filters, three stages of ``n`` basic blocks with 16, 32 and 64 filters
(stride 2 at the start of stages 2 and 3), global average pooling and a linear classifier (``linear``).
Shortcuts are identity mappings; where the shape changes, option A of the paper: subsample by 2 and pad the
new channels with zeros (no parameters). Parameter counts match the paper's table 6:

======== ====== ==========
model    blocks parameters
======== ====== ==========
resnet20 3      0.27M
resnet32 5      0.46M
resnet44 7      0.66M
resnet56 9      0.85M
resnet110 18    1.7M
======== ====== ==========

Initialization is Kaiming-normal for convolutions and the classifier, as in the widely used reference
implementation (Y. Idelbayev, pytorch_resnet_cifar10) that ShrinkBench shipped.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .weights import finish


class PadShortcut(nn.Module):
    """Option-A shortcut: keep every second pixel and zero-pad the channels to ``planes`` (no parameters)."""

    def __init__(self, in_planes: int, planes: int) -> None:
        super().__init__()
        extra = planes - in_planes
        self.pad = (extra // 2, extra - extra // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` subsampled by 2 in H and W, with zero channels added on both sides."""
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, *self.pad))


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with ReLU and an identity (or option-A) shortcut."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        changes = stride != 1 or in_planes != planes
        self.shortcut: nn.Module = PadShortcut(in_planes, planes) if changes else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``."""
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """A ``6n + 2``-layer CIFAR ResNet with ``n = blocks`` basic blocks per stage; classifier ``linear``."""

    shrinkbench_classifier = "linear"

    def __init__(self, blocks: int, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        planes = 16
        stages = []
        for width, stride in ((16, 1), (32, 2), (64, 2)):
            layers = []
            for i in range(blocks):
                layers.append(BasicBlock(planes, width, stride if i == 0 else 1))
                planes = width
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3 = stages
        self.linear = nn.Linear(64, num_classes)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a batch ``(N, C, H, W)`` (any H, W of at least 8 pixels)."""
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


def _build(blocks: int, num_classes: int, input_shape: tuple[int, int, int], pretrained: str | None) -> nn.Module:
    return finish(CifarResNet(blocks, num_classes, input_shape[0]), "linear", pretrained)


def resnet20(num_classes: int, input_shape: tuple[int, int, int], pretrained: str | None = None) -> nn.Module:
    """ResNet-20 (3 blocks per stage, 0.27M parameters for 10 classes)."""
    return _build(3, num_classes, input_shape, pretrained)


def resnet32(num_classes: int, input_shape: tuple[int, int, int], pretrained: str | None = None) -> nn.Module:
    """ResNet-32 (5 blocks per stage, 0.46M parameters for 10 classes)."""
    return _build(5, num_classes, input_shape, pretrained)


def resnet44(num_classes: int, input_shape: tuple[int, int, int], pretrained: str | None = None) -> nn.Module:
    """ResNet-44 (7 blocks per stage, 0.66M parameters for 10 classes)."""
    return _build(7, num_classes, input_shape, pretrained)


def resnet56(num_classes: int, input_shape: tuple[int, int, int], pretrained: str | None = None) -> nn.Module:
    """ResNet-56 (9 blocks per stage, 0.85M parameters for 10 classes)."""
    return _build(9, num_classes, input_shape, pretrained)


def resnet110(num_classes: int, input_shape: tuple[int, int, int], pretrained: str | None = None) -> nn.Module:
    """ResNet-110 (18 blocks per stage, 1.7M parameters for 10 classes)."""
    return _build(18, num_classes, input_shape, pretrained)

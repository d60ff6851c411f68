"""VGG-BN-Drop for CIFAR: the network of S. Zagoruyko's "92.45% on CIFAR-10 in Torch" (torch.ch blog, 2015,
``cifar.torch/models/vgg_bn_drop.lua``), as ShrinkBench reimplemented it.

Thirteen 3x3 conv-BN(eps 1e-3)-ReLU layers (64, 64, 128, 128, 256 x3, 512 x6) with dropout between them and
five 2x2 max-pools (ceil mode), then dropout 0.5, linear 512 -> 512, BN, ReLU, dropout 0.5 and the classifier
``classifier.5`` (linear 512 -> classes). 15.0M parameters for CIFAR-10. Five poolings bring a 17-32 pixel
image to 1x1, which is what the 512-input classifier expects.
"""

from __future__ import annotations

import torch
from torch import nn

from .weights import finish

# (out channels, dropout after it or None); "M" is a 2x2 max-pool
CONFIG: list = [
    (64, 0.3), (64, None), "M",
    (128, 0.4), (128, None), "M",
    (256, 0.4), (256, 0.4), (256, None), "M",
    (512, 0.4), (512, 0.4), (512, None), "M",
    (512, 0.4), (512, 0.4), (512, None), "M",
]  # fmt: skip


class ConvBNReLU(nn.Sequential):
    """3x3 convolution (padding 1), batch norm with eps 1e-3, ReLU."""

    def __init__(self, in_planes: int, out_planes: int) -> None:
        super().__init__(
            nn.Conv2d(in_planes, out_planes, kernel_size=3, padding=1),
            nn.BatchNorm2d(out_planes, eps=1e-3),
            nn.ReLU(inplace=True),
        )


class VGGBnDrop(nn.Module):
    """VGG-16-like CIFAR network with batch norm and dropout; the classifier is ``classifier.5``."""

    shrinkbench_classifier = "classifier.5"

    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        planes = in_channels
        for item in CONFIG:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
                continue
            width, dropout = item
            layers.append(ConvBNReLU(planes, width))
            if dropout is not None:
                layers.append(nn.Dropout(dropout))
            planes = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Dropout(0.5),
            nn.Linear(512, 512),
            nn.BatchNorm1d(512),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(512, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a batch ``(N, C, H, W)`` with 17 <= H, W <= 32."""
        return self.classifier(self.features(x).flatten(1))


def vgg_bn_drop(num_classes: int, input_shape: tuple[int, int, int], pretrained: str | None = None) -> nn.Module:
    """Build :class:`VGGBnDrop` for ``input_shape[0]`` channels; ``pretrained`` is a local path or ``None``."""
    return finish(VGGBnDrop(num_classes, input_shape[0]), "classifier.5", pretrained)

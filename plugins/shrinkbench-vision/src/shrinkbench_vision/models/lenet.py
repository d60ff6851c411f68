"""Small models for 28x28 digits: LeNet-300-100, LeNet-5 and the original ShrinkBench ``MnistNet``.

All three adapt their first layer to the input's channels and their first fully connected layer to its size,
so they also take 32x32 (CIFAR) images; their specs bound the size to 28-32 pixels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .weights import finish


class LeNet300100(nn.Module):
    """LeNet-300-100 (LeCun et al. 1998; Han et al. 2015): an MLP ``in -> 300 -> 100 -> classes``, ReLU.

    ``in`` is the number of input values (784 for a 1x28x28 digit); the input is flattened. The classifier is ``fc3``.
    """

    shrinkbench_classifier = "fc3"

    def __init__(self, num_classes: int = 10, input_shape: tuple[int, int, int] = (1, 28, 28)) -> None:
        super().__init__()
        self.fc1 = nn.Linear(math.prod(input_shape), 300)
        self.fc2 = nn.Linear(300, 100)
        self.fc3 = nn.Linear(100, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a batch of images (any shape whose trailing dimensions hold ``prod(input_shape)`` values)."""
        x = x.flatten(1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def _side_after(side: int, padding: int) -> int:
    """Side length after conv 5x5 (with ``padding``) + 2x2 max-pool, twice (second conv unpadded)."""
    side = (side + 2 * padding - 4) // 2
    return (side - 4) // 2


class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al. 1998) with ReLU and max-pooling: conv 6@5x5, pool, conv 16@5x5, pool,
    fc 120, fc 84, fc classes (61,706 parameters for MNIST).

    Images smaller than 32 pixels are zero-padded in the first convolution to the 32x32 of the original
    (padding 2 for 28x28 MNIST). The classifier is ``fc3``.
    """

    shrinkbench_classifier = "fc3"

    def __init__(self, num_classes: int = 10, input_shape: tuple[int, int, int] = (1, 28, 28)) -> None:
        super().__init__()
        channels, height, width = input_shape
        pad = max(0, (32 - min(height, width)) // 2)
        self.conv1 = nn.Conv2d(channels, 6, 5, padding=pad)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * _side_after(height, pad) * _side_after(width, pad), 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a batch ``(N, C, H, W)``."""
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class MnistNet(nn.Module):
    """The original ShrinkBench ``MnistNet`` (the Caffe/PyTorch-example MNIST CNN): conv 20@5x5, max-pool,
    conv 50@5x5, max-pool, fc 800 -> 500, fc 500 -> classes; 431,080 parameters for 1x28x28 input.

    The classifier is ``fc2``. The original returned ``log_softmax``; this returns the logits, which give the
    same cross-entropy loss and predictions.
    """

    shrinkbench_classifier = "fc2"

    def __init__(self, num_classes: int = 10, input_shape: tuple[int, int, int] = (1, 28, 28)) -> None:
        super().__init__()
        channels, height, width = input_shape
        self.conv1 = nn.Conv2d(channels, 20, 5, 1)
        self.conv2 = nn.Conv2d(20, 50, 5, 1)
        self.fc1 = nn.Linear(50 * _side_after(height, 0) * _side_after(width, 0), 500)
        self.fc2 = nn.Linear(500, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a batch ``(N, C, H, W)``."""
        x = F.max_pool2d(F.relu(self.conv1(x)), 2, 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2, 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


def lenet_300_100(num_classes: int, input_shape: tuple[int, int, int], pretrained: str | None = None) -> nn.Module:
    """Build :class:`LeNet300100`; ``pretrained`` is a local state-dict path or ``None``."""
    return finish(LeNet300100(num_classes, tuple(input_shape)), "fc3", pretrained)


def lenet5(num_classes: int, input_shape: tuple[int, int, int], pretrained: str | None = None) -> nn.Module:
    """Build :class:`LeNet5`; ``pretrained`` is a local state-dict path or ``None``."""
    return finish(LeNet5(num_classes, tuple(input_shape)), "fc3", pretrained)


def mnistnet(num_classes: int, input_shape: tuple[int, int, int], pretrained: str | None = None) -> nn.Module:
    """Build :class:`MnistNet`; ``pretrained`` is a local state-dict path or ``None``."""
    return finish(MnistNet(num_classes, tuple(input_shape)), "fc2", pretrained)

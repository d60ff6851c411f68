"""Small models and helpers for the structured strategies' tests (built here, no other plugin needed)."""

from __future__ import annotations

import copy
import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from shrinkbench.pruning import make_context

NUM_CLASSES = 10


def conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """A 3x3 convolution without bias and its BatchNorm."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout))


class Block(nn.Module):
    """Two conv-BN layers added to a shortcut: identity, or a 1x1 conv-BN projection if the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.a, self.b = conv_bn(cin, cout, stride), conv_bn(cout, cout)
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.b(F.relu(self.a(x))) + self.shortcut(x))


class SmallResNet(nn.Module):
    """A conv-BN stem, an identity block, a projection block (stride 2), pooling and a classifier ``fc``."""

    def __init__(self, num_classes: int = NUM_CLASSES, width: int = 16) -> None:
        super().__init__()
        self.stem = conv_bn(3, width)
        self.block1, self.block2 = Block(width, width, 1), Block(width, 2 * width, 2)
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block2(self.block1(F.relu(self.stem(x))))
        return self.fc(F.adaptive_avg_pool2d(out, 1).flatten(1))


class Plain(nn.Module):
    """Three conv(-BN)-ReLU layers of widths 16, 16, 32 (no residual) and a classifier ``fc``."""

    def __init__(self, batchnorm: bool = True, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        widths = [(3, 16), (16, 16), (16, 32)]
        self.layers = nn.Sequential(*[conv_bn(a, b) if batchnorm else nn.Conv2d(a, b, 3, 1, 1)
                                      for a, b in widths])
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = F.relu(layer(x))
        return self.fc(x.mean((2, 3)))


class GroupNormTail(nn.Module):
    """A conv-BN layer, then a wide conv normalised by ``nn.GroupNorm`` (not removable) and a classifier
    ``fc``: removing channels can reach only about 7x, while masks could reach 10x."""

    def __init__(self, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.head = conv_bn(3, 16)
        self.wide, self.norm = nn.Conv2d(16, 64, 3, 1, 1, bias=False), nn.GroupNorm(4, 64)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.norm(self.wide(F.relu(self.head(x)))))
        return self.fc(x.mean((2, 3)))


class Attention(nn.Module):
    """Patch embedding (conv-BN) and self-attention: every channel reaches ``nn.MultiheadAttention``."""

    def __init__(self, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.patch = conv_bn(3, 32, 8)
        self.attn = nn.MultiheadAttention(32, 4, batch_first=True)
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch(x).flatten(2).transpose(1, 2)
        return self.fc(self.attn(tokens, tokens, tokens)[0].mean(1))


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm distinct random scale, shift and running statistics (as after training); return
    the model."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(torch.rand(n, generator=g) * 0.9 + 0.1)
                m.bias.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.num_batches_tracked.fill_(7)
    return model


def batches(n: int = 2, size: int = 8, shape: tuple[int, ...] = (3, 32, 32), seed: int = 0) -> list:
    """``n`` random batches of ``size`` images and labels."""
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(size, *shape, generator=g), torch.randint(0, NUM_CLASSES, (size,), generator=g))
            for _ in range(n)]


def prune(fn, model: nn.Module, compression: float, data: list, seed: int = 0,
          dense_parameters: int | None = None) -> nn.Module:
    """Run a structured strategy function on ``model`` in place, ``data`` as training batches; return it.
    ``dense_parameters`` is what the engine passes when a schedule prunes a shrunken model again."""
    ctx = make_context(model, compression, seed=seed, batches=lambda: iter(data))
    fn(dataclasses.replace(ctx, dense_parameters=dense_parameters))
    return model


def kept_channels(before: nn.BatchNorm2d, after: nn.BatchNorm2d) -> list[int]:
    """Which channels of ``before`` survive in ``after``, found by their (distinct) BatchNorm scales."""
    return [int((before.weight == value).nonzero().item()) for value in after.weight.detach()]


def snapshot(model: nn.Module) -> nn.Module:
    """A deep copy to compare against later."""
    return copy.deepcopy(model)

"""A small inline plugin for core's tests: a synthetic 4-class image dataset, an MLP and two strategies.

The dataset is real in the sense that matters here: it is learnable (each class lights up one quadrant), so
finetuning changes accuracy and results can be compared; it is generated, so core's tests need no plugin.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import TensorDataset

from shrinkbench import DatasetSpec, ModelSpec, StrategySpec, hookimpl


def blobs(split: str, root=None, augment: bool = False) -> TensorDataset:
    """400 train / 200 test 1x8x8 images of 4 classes: a bright quadrant per class plus seeded noise."""
    n = 400 if split == "train" else 200
    g = torch.Generator().manual_seed(0 if split == "train" else 1)
    labels = torch.arange(n) % 4
    images = torch.randn(n, 1, 8, 8, generator=g) * 0.8
    for cls in range(4):
        r, c = divmod(cls, 2)
        images[labels == cls, :, r * 4 : r * 4 + 4, c * 4 : c * 4 + 4] += 1.0
    dataset = TensorDataset(images, labels)
    dataset.targets = labels
    return dataset


class ToyMLP(nn.Sequential):
    """64 -> 32 -> 16 -> classes, the last layer being the classifier."""

    shrinkbench_classifier = "4"

    def __init__(self, num_classes: int, in_features: int) -> None:
        super().__init__(nn.Flatten(), nn.Linear(in_features, 32), nn.ReLU(), nn.Linear(32, 16), nn.Linear(16, num_classes))


def toy_mlp(num_classes: int, input_shape, pretrained=None) -> nn.Module:
    """Build :class:`ToyMLP` for the dataset's shape."""
    return ToyMLP(num_classes, int(torch.tensor(input_shape).prod()))


def toy_magnitude(ctx):
    """Global |w|."""
    return ctx.masks({n: p.detach().abs() for n, p in ctx.prunable.items()})


def toy_random(ctx):
    """Seeded uniform scores, global."""
    g = ctx.generator
    return ctx.masks({n: torch.rand(p.shape, generator=g) for n, p in ctx.prunable.items()})


def toy_bad_shape(ctx):
    """A faulty strategy: masks of the wrong shape."""
    return {n: torch.ones(3, dtype=torch.bool) for n in ctx.prunable}


def toy_nan(ctx):
    """Hits the target, but blows the weights up so finetuning diverges."""
    with torch.no_grad():
        for p in ctx.prunable.values():
            p.fill_(float("inf"))
    return ctx.masks({n: torch.ones_like(p) for n, p in ctx.prunable.items()})


@hookimpl
def shrinkbench_datasets():
    return [DatasetSpec("toy-blobs", "Synthetic 4-class 8x8 quadrants", blobs, num_classes=4,
                        input_shape=(1, 8, 8), bundled=True, augmented=False)]


@hookimpl
def shrinkbench_models():
    return [ModelSpec("toy-mlp", "Small MLP", toy_mlp),
            ModelSpec("toy-rgb", "Needs RGB 32px", toy_mlp, in_channels=3, min_size=32)]


@hookimpl
def shrinkbench_strategies():
    return [StrategySpec("toy-magnitude", "Global |w|", toy_magnitude, aliases=("ToyMag",)),
            StrategySpec("toy-random", "Global random", toy_random)]

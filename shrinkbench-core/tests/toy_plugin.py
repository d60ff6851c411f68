"""A small inline plugin for core's tests: a synthetic 4-class image dataset, an MLP, a small CNN, a model that
revives its own pruned weights (a faulty plugin), and strategies (global and per-layer magnitude, random, a
structured one that removes hidden units).

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


class ToyConv(nn.Module):
    """conv 1->4 (3x3) -> ReLU -> conv 4->8 (3x3, stride 2) -> ReLU -> pool -> linear 8->classes (classifier)."""

    shrinkbench_classifier = "head"

    def __init__(self, num_classes: int, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 8, 3, stride=2, padding=1)
        self.head = nn.Linear(8, num_classes)

    def forward(self, x):
        x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return self.head(x.mean((2, 3)))


def toy_conv(num_classes: int, input_shape, pretrained=None) -> nn.Module:
    """Build :class:`ToyConv` for the dataset's channels."""
    return ToyConv(num_classes, input_shape[0])


class Reviving(ToyMLP):
    """A faulty model: every forward pass writes into its first weight, pruned entries included (the evaluations
    after the last optimizer step too, where no re-masking follows)."""

    def forward(self, x):
        if not torch.is_inference_mode_enabled():
            with torch.no_grad():
                self[1].weight.add_(1e-3)
        else:
            with torch.inference_mode(False), torch.no_grad():
                self[1].weight.add_(1e-3)
        return super().forward(x)


def toy_reviving(num_classes: int, input_shape, pretrained=None) -> nn.Module:
    """Build :class:`Reviving`."""
    return Reviving(num_classes, int(torch.tensor(input_shape).prod()))


def toy_magnitude(ctx):
    """Global |w|."""
    return ctx.masks({n: p.detach().abs() for n, p in ctx.prunable.items()})


def toy_random(ctx):
    """Seeded uniform scores, global."""
    g = ctx.generator
    return ctx.masks({n: torch.rand(p.shape, generator=g) for n, p in ctx.prunable.items()})


def toy_layer(ctx):
    """Per-layer |w|."""
    return ctx.masks({n: p.detach().abs() for n, p in ctx.prunable.items()}, scope="layer")


def toy_shrink(ctx):
    """Structured: removes hidden units of the toy MLP's first hidden layer (the lowest |w| rows), so that the
    dense parameter count / remaining parameters reaches the target within 5%, else CompressionError."""
    from shrinkbench import STRUCTURED_TOLERANCE, CompressionError
    from shrinkbench.pruning import count_parameters

    first, second = ctx.model[1], ctx.model[3]
    dense = ctx.dense_parameters or count_parameters(ctx.model)
    per_unit = first.in_features + 1 + second.out_features
    remove = round((count_parameters(ctx.model) - dense / ctx.compression) / per_unit)
    remove = max(0, min(remove, first.out_features - 1))
    achieved = dense / (count_parameters(ctx.model) - remove * per_unit)
    if abs(achieved / ctx.compression - 1) > STRUCTURED_TOLERANCE:
        raise CompressionError(f"toy-shrink cannot reach {ctx.compression:g}x (closest {achieved:.2f}x)")
    keep = first.weight.detach().abs().sum(1).argsort(descending=True)[: first.out_features - remove].sort().values
    new_first = nn.Linear(first.in_features, len(keep)).to(first.weight.device)
    new_second = nn.Linear(len(keep), second.out_features).to(second.weight.device)
    with torch.no_grad():
        new_first.weight.copy_(first.weight[keep])
        new_first.bias.copy_(first.bias[keep])
        new_second.weight.copy_(second.weight[:, keep])
        new_second.bias.copy_(second.bias)
    ctx.model[1], ctx.model[3] = new_first, new_second


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
            ModelSpec("toy-conv", "Small CNN", toy_conv),
            ModelSpec("toy-reviving", "An MLP that writes into its pruned weights (faulty)", toy_reviving),
            ModelSpec("toy-rgb", "Needs RGB 32px", toy_mlp, in_channels=3, min_size=32)]


@hookimpl
def shrinkbench_strategies():
    return [StrategySpec("toy-magnitude", "Global |w|", toy_magnitude, aliases=("ToyMag",)),
            StrategySpec("toy-random", "Global random", toy_random),
            StrategySpec("toy-layer", "Per-layer |w|", toy_layer),
            StrategySpec("toy-shrink", "Removes hidden units of the toy MLP", toy_shrink, structured=True,
                         requires=("linear",))]

"""Tiny model, batches and constants the conformance checks run on (torch imported lazily)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torch import nn


Batches = Callable[[], Iterator[tuple["torch.Tensor", "torch.Tensor"]]]
TINY_INPUT_SHAPE: tuple[int, int, int] = (1, 12, 12)
TINY_NUM_CLASSES = 10
DEFAULT_COMPRESSIONS: tuple[float, ...] = (1, 2, 4, 8, 16, 32, 64)


def make_tiny_model(seed: int = 0, num_classes: int = TINY_NUM_CLASSES, in_channels: int = 1) -> nn.Module:
    """A small CNN for (in_channels, 12, 12) inputs, initialised from ``seed`` (global RNG left untouched).

    conv 1->4 3x3, BatchNorm, conv 4->8 3x3 (both padded), linear 1152->16, dropout, classifier 16->
    ``num_classes`` (named by ``shrinkbench_classifier``): 18,962 parameters with 10 classes, 18,756 of them
    prunable, so compressions up to 64 are reachable. BatchNorm and dropout expose strategies that run the
    model in train mode (changed running statistics, non-deterministic masks).
    """
    import torch
    from torch import nn

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers = {"conv1": nn.Conv2d(in_channels, 4, 3, padding=1), "bn1": nn.BatchNorm2d(4), "relu1": nn.ReLU(),
                  "conv2": nn.Conv2d(4, 8, 3, padding=1), "relu2": nn.ReLU(), "flatten": nn.Flatten(),
                  "fc": nn.Linear(8 * 12 * 12, 16), "relu3": nn.ReLU(), "dropout": nn.Dropout(0.25),
                  "classifier": nn.Linear(16, num_classes)}
        model = nn.Sequential(OrderedDict(layers))
    model.shrinkbench_classifier = "classifier"
    return model


def make_tiny_batches(n_batches: int = 2, batch_size: int = 8, input_shape: Sequence[int] = TINY_INPUT_SHAPE,
                      num_classes: int = TINY_NUM_CLASSES, seed: int = 0) -> Batches:
    """A ``batches()`` callable as :class:`shrinkbench.pruning.PruningContext` takes: each call returns a new
    iterator over copies of the same ``n_batches`` seeded ``(inputs, int64 targets)`` batches."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    data = [(torch.randn((batch_size, *input_shape), generator=gen),
             torch.randint(0, num_classes, (batch_size,), generator=gen)) for _ in range(n_batches)]
    return lambda: ((x.clone(), y.clone()) for x, y in data)


N_M_INPUT_SHAPE: tuple[int, int, int] = (3, 8, 8)


def make_n_m_models(seed: int = 0, num_classes: int = TINY_NUM_CLASSES,
                    zeros: float = 0.3) -> dict[str, nn.Module]:
    """Small models for (3, 8, 8) inputs whose prunable weights cover every reduction layout an N:M pattern
    follows, a fraction ``zeros`` of them (and all of the first output's, or of a transposed conv's first
    input channel's) already exactly zero, as after an earlier pruning step; seeded (global RNG untouched).

    ``"cnn"``: conv 3->18 3x3 (reduction length 3: one partial group), grouped conv 18->20 3x3 in 2 groups
    (9 input channels per group: a partial group each), depthwise conv 20->20 3x3 (length 1), transposed
    conv 20->12 2x2 stride 2 in 2 groups (weight (20, 6, 2, 2), 10 input channels per group: groups of 4
    restart at channel 10), pooling and a classifier 12->``num_classes``. ``"mlp"``: linear 192->30, linear
    30->24 (length 30: a partial group), classifier 24->``num_classes``. Both name their classifier in
    ``shrinkbench_classifier``.
    """
    import torch
    from torch import nn

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        cnn = nn.Sequential(OrderedDict({
            "conv": nn.Conv2d(3, 18, 3, padding=1), "relu1": nn.ReLU(),
            "grouped": nn.Conv2d(18, 20, 3, padding=1, groups=2), "relu2": nn.ReLU(),
            "depthwise": nn.Conv2d(20, 20, 3, padding=1, groups=20), "relu3": nn.ReLU(),
            "up": nn.ConvTranspose2d(20, 12, 2, stride=2, groups=2), "relu4": nn.ReLU(),
            "pool": nn.AdaptiveAvgPool2d(1), "flatten": nn.Flatten(),
            "classifier": nn.Linear(12, num_classes)}))
        mlp = nn.Sequential(OrderedDict({
            "flatten": nn.Flatten(), "fc1": nn.Linear(192, 30), "relu1": nn.ReLU(), "fc2": nn.Linear(30, 24),
            "relu2": nn.ReLU(), "classifier": nn.Linear(24, num_classes)}))
    gen = torch.Generator().manual_seed(seed)
    models = {"cnn": cnn, "mlp": mlp}
    for model in models.values():
        model.shrinkbench_classifier = "classifier"
        with torch.no_grad():
            for name, module in model.named_modules():
                if name != "classifier" and isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                    module.weight[torch.rand(module.weight.shape, generator=gen) < zeros] = 0
                    module.weight[0] = 0  # the first output's weights (input channel 0's, transposed)
    return models

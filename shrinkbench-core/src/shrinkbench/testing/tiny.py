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



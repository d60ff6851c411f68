"""A third-party plugin of every kind -- strategy, model, dataset, metric, schedule, executor -- written with
``from shrinkbench import ...`` alone (a test checks that nothing deeper is imported)."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import TensorDataset

from shrinkbench import (
    DatasetSpec,
    ExecutorSpec,
    Masks,
    MetricContext,
    MetricSpec,
    ModelSpec,
    PruningContext,
    Round,
    ScheduleContext,
    SchedulePlan,
    ScheduleSpec,
    StrategySpec,
    TaskContext,
    hookimpl,
)


def smallest_first(ctx: PruningContext) -> Masks:
    """A strategy: the largest |w| per layer."""
    return ctx.masks({name: weight.detach().abs() for name, weight in ctx.prunable.items()}, scope="layer")


def two_layers(num_classes: int, input_shape, pretrained=None) -> nn.Module:
    """A model: flatten, 64 hidden units, the classifier."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(int(torch.tensor(input_shape).prod()), 64), nn.ReLU(),
                          nn.Linear(64, num_classes))
    model.shrinkbench_classifier = "3"
    return model


def stripes(split: str, root=None, augment: bool = False) -> TensorDataset:
    """A dataset: 2 classes of 1x6x6 images, horizontal or vertical stripes, with seeded noise."""
    n = 200 if split == "train" else 100
    g = torch.Generator().manual_seed(0 if split == "train" else 1)
    labels = torch.arange(n) % 2
    images = torch.randn(n, 1, 6, 6, generator=g) * 0.3
    images[labels == 0, :, ::2, :] += 1.0
    images[labels == 1, :, :, ::2] += 1.0
    data = TensorDataset(images, labels)
    data.targets = labels
    return data


def zero_fraction(ctx: MetricContext) -> dict[str, float]:
    """A metric: the fraction of weights that are exactly zero."""
    weights = [p for name, p in ctx.model.named_parameters() if name.endswith("weight")]
    return {"zero_fraction": sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)}


def halves(ctx: ScheduleContext) -> SchedulePlan:
    """A schedule: half the compression (geometrically), finetune, the rest, finetune."""
    split = ctx.options.fraction("split", 0.5)
    return SchedulePlan((Round(ctx.epochs, prune_to=ctx.target ** split), Round(ctx.epochs, prune_to=ctx.target)))


class InOrder:
    """An executor: every task in this process, in order, counting what it ran."""

    ran: list[str] = []

    def run(self, tasks, emit) -> None:
        for task in tasks:
            InOrder.ran.append(task.key)
            task.work(TaskContext(emit))


def in_order(options, context) -> InOrder:
    return InOrder()


@hookimpl
def shrinkbench_strategies():
    return [StrategySpec("kinds-layer", "Largest |w| per layer", smallest_first)]


@hookimpl
def shrinkbench_models():
    return [ModelSpec("kinds-mlp", "Two linear layers", two_layers)]


@hookimpl
def shrinkbench_datasets():
    return [DatasetSpec("kinds-stripes", "Stripes", stripes, num_classes=2, input_shape=(1, 6, 6), bundled=True,
                        augmented=False)]


@hookimpl
def shrinkbench_metrics():
    return [MetricSpec("kinds-zeros", "Zero weights", zero_fraction, columns=("zero_fraction",))]


@hookimpl
def shrinkbench_schedules():
    return [ScheduleSpec("kinds-halves", "Two rounds", halves, options=(("split", "first round's share"),))]


@hookimpl
def shrinkbench_executors():
    return [ExecutorSpec("kinds-in-order", "In this process, in order", in_order)]

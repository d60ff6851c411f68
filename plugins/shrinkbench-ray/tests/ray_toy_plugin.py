"""A toy dataset, model and strategies for the Ray executor's tests (registered by SHRINKBENCH_PLUGINS, so the
Ray workers import it too: its folder is on PYTHONPATH)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import TensorDataset

from shrinkbench import DatasetSpec, MetricSpec, ModelSpec, StrategySpec, hookimpl


def blobs(split: str, root=None, augment: bool = False) -> TensorDataset:
    """4 classes of 1x8x8 images, a bright quadrant each, plus seeded noise (160 train / 80 test)."""
    n = 160 if split == "train" else 80
    g = torch.Generator().manual_seed(0 if split == "train" else 1)
    labels = torch.arange(n) % 4
    images = torch.randn(n, 1, 8, 8, generator=g) * 0.8
    for cls in range(4):
        images[labels == cls, :, (cls // 2) * 4:(cls // 2) * 4 + 4, (cls % 2) * 4:(cls % 2) * 4 + 4] += 1.0
    dataset = TensorDataset(images, labels)
    dataset.targets = labels
    return dataset


def mlp(num_classes: int, input_shape, pretrained=None) -> nn.Module:
    """64 -> 32 -> classes."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, num_classes))
    model.shrinkbench_classifier = "3"
    return model


def magnitude(ctx):
    """Global |w|."""
    return ctx.masks({n: p.detach().abs() for n, p in ctx.prunable.items()})


def slow(ctx):
    """Global |w| after a 1 s pause; opens a record of this run in $RAY_TOY_LOG, holding the node it runs on
    (``clock`` closes it: its end time replaces the node)."""
    (Path(os.environ["RAY_TOY_LOG"]) / f"{os.getpid()}-{time.time()}").write_text(os.environ.get("SHRINKBENCH_NODE", ""))
    time.sleep(1.0)
    return magnitude(ctx)


def clock(ctx):
    """Stamps the time on the record its process's latest ``ray-slow`` run opened (metrics run at a run's end)."""
    records = sorted(Path(os.environ["RAY_TOY_LOG"]).glob(f"{os.getpid()}-*"), key=lambda p: float(p.name.split("-")[1]))
    if records:
        records[-1].write_text(str(time.time()))
    return {"toy_clock": 0.0}


def raises(ctx):
    """An exception that is not ShrinkBench's."""
    raise RuntimeError("strategy blew up")


def dies(ctx):
    """Kills its worker process, as a segfault or the out-of-memory killer would."""
    os._exit(1)


@hookimpl
def shrinkbench_datasets():
    return [DatasetSpec("ray-blobs", "Toy quadrants", blobs, num_classes=4, input_shape=(1, 8, 8), bundled=True,
                        augmented=False)]


@hookimpl
def shrinkbench_models():
    return [ModelSpec("ray-mlp", "Toy MLP", mlp)]


@hookimpl
def shrinkbench_strategies():
    return [StrategySpec("ray-magnitude", "Global |w|", magnitude), StrategySpec("ray-raises", "Raises", raises),
            StrategySpec("ray-slow", "Global |w| after a 1 s pause", slow),
            StrategySpec("ray-dies", "Kills its worker", dies)]


@hookimpl
def shrinkbench_metrics():
    return [MetricSpec("ray-clock", "Stamps the end of a ray-slow run", clock, columns=("toy_clock",))]

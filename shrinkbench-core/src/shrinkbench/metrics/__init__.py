"""Built-in metrics (size, FLOPs, activation memory, accuracy) and the context every metric receives.

They register through core's own ``shrinkbench`` entry point (:mod:`shrinkbench.metrics.plugin`), the same
way a third-party metric does. This package imports no torch at import time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..losses import LossFn, cross_entropy

if TYPE_CHECKING:
    from torch import Tensor, nn

__all__ = ["MetricContext"]


@dataclass(frozen=True)
class MetricContext:
    """What a metric measures: the model (pruned weights are exact zeros), one example input batch (on the
    model's device, batch size 1 for size/FLOP counts), and for data metrics an evaluation ``loader`` of
    ``(inputs, targets)`` batches on the model's device. ``loss_fn(logits, targets, reduction=...)`` is the
    run's recipe loss (cross-entropy by default). A metric must leave the model as it found it: weights,
    buffers, hooks and every module's train/eval mode (use :func:`shrinkbench.eval_mode`). ``reference`` holds
    the dense model's own values of the metrics' columns, measured on it before pruning (``None`` when measuring
    a model on its own, or measuring the dense model itself): compression and speedups compare against it, which
    matters when structured pruning made the model itself smaller (``reference["params"]``,
    ``reference["macs"]``, ``reference["latency_ms"]``, ...). ``autocast()`` is
    the run's precision (a no-op context in fp32): metrics that run the model as it is used -- accuracy,
    latency -- run it under it; counts (MACs, activations) do not. ``dense``: the dense model the run started
    from, on the same device and in the same memory format, for metrics that measure the two side by side
    (latency times them as interleaved pairs); ``None`` when the caller has none. A metric that times anything
    does so inside :func:`shrinkbench.measuring.alone`, so that parallel runs of the sweep pause meanwhile.
    ``latency_batches``: the batch sizes whose forward time the task wants measured (its
    :attr:`shrinkbench.TaskSpec.latency_batches`)."""

    model: nn.Module
    example_input: Tensor
    loader: Iterable[Any] | None = None
    loss_fn: LossFn = field(default=cross_entropy)
    reference: Mapping[str, float] | None = None
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
    dense: nn.Module | None = None
    latency_batches: tuple[int, ...] = (1, 64)

"""Built-in metrics (size, FLOPs, activation memory, accuracy) and the context every metric receives.

They register through core's own ``shrinkbench`` entry point (:mod:`shrinkbench.metrics.plugin`), the same
way a third-party metric does. This package imports no torch at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor, nn


def _cross_entropy(logits: Tensor, targets: Tensor, reduction: str = "mean") -> Tensor:
    from torch.nn import functional

    return functional.cross_entropy(logits, targets, reduction=reduction)


@dataclass(frozen=True)
class MetricContext:
    """What a metric measures: the model (pruned weights are exact zeros), one example input batch (on the
    model's device, batch size 1 for size/FLOP counts), and for data metrics an evaluation ``loader`` of
    ``(inputs, targets)`` batches. ``loss_fn(logits, targets, reduction=...)`` defaults to cross-entropy."""

    model: nn.Module
    example_input: Tensor
    loader: Iterable[Any] | None = None
    loss_fn: Callable[..., Tensor] = field(default=_cross_entropy)

"""Loss functions a recipe can name. One default everywhere: cross-entropy, mean over examples.

A loss is called as ``loss(logits, targets, reduction="mean" | "sum")``. Training, the data-driven strategies
(:class:`shrinkbench.pruning.PruningContext`) and the metrics (:class:`shrinkbench.metrics.MetricContext`)
all receive the run's recipe loss, so a gradient-based strategy scores weights with the loss that is trained.
This module imports torch only when a loss is called.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ["DEFAULT_LOSS", "LOSSES", "LossFn", "cross_entropy", "loss_function"]

LossFn = Callable[..., "Tensor"]
DEFAULT_LOSS = "cross-entropy"


def cross_entropy(logits: Tensor, targets: Tensor, reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy of ``logits`` (..., classes) against integer ``targets`` (...) (the default loss): one
    prediction per example for classification (B, classes), one per token for a language model (B, T, vocab);
    ``"mean"`` averages over predictions."""
    from torch.nn import functional

    if logits.dim() > 2:
        logits, targets = logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)
    return functional.cross_entropy(logits, targets, reduction=reduction, label_smoothing=label_smoothing)


LOSSES: dict[str, Callable[..., Tensor]] = {"cross-entropy": cross_entropy}


def loss_function(name: str = DEFAULT_LOSS, label_smoothing: float = 0.0) -> LossFn:
    """The loss called ``name`` with its options bound: ``fn(logits, targets, reduction="mean")``.

    Raises ``ValueError`` for a name not in :data:`LOSSES`.
    """
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; known: {', '.join(sorted(LOSSES))}")
    fn = LOSSES[name]
    return functools.partial(fn, label_smoothing=label_smoothing) if label_smoothing else fn

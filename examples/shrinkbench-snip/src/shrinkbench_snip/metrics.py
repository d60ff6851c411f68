"""The ``sparsity`` metric: how much of the prunable part of a model is zero."""

from __future__ import annotations

from shrinkbench import MetricContext, prunable_parameters


def sparsity(ctx: MetricContext) -> dict[str, float]:
    """``sparsity``: fraction of prunable weights (:func:`shrinkbench.pruning.prunable_parameters`, classifier
    excluded) that are exactly zero; ``zero_layers``: how many prunable weight tensors are entirely zero
    (a layer cut off completely, which disconnects the network). A model without prunable weights gives 0, 0.
    Reads the weights only; the model is not modified.
    """
    weights = list(prunable_parameters(ctx.model).values())
    total = sum(w.numel() for w in weights)
    nonzero = [int(w.detach().count_nonzero()) for w in weights]
    return {
        "sparsity": 1 - sum(nonzero) / total if total else 0.0,
        "zero_layers": float(sum(n == 0 for n in nonzero)),
    }

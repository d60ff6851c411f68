"""Parameter counts and compression over the whole model."""

from __future__ import annotations

from ..pruning import count_parameters
from . import MetricContext

__all__ = ["measure", "prunable_sparsity"]


def measure(ctx: MetricContext) -> dict[str, float]:
    """``params`` (distinct parameters of the model as it is), ``nonzero_params``, and ``compression`` = dense
    params (``ctx.reference["params"]`` when given: a structurally pruned model has fewer) / nonzero params."""
    total = count_parameters(ctx.model)
    dense = ctx.reference["params"] if ctx.reference is not None else total
    nonzero = sum(int(p.detach().count_nonzero()) for p in {id(p): p for p in ctx.model.parameters()}.values())
    return {
        "params": float(total),
        "nonzero_params": float(nonzero),
        "compression": dense / nonzero if nonzero else float("inf"),
    }


def prunable_sparsity(ctx: MetricContext) -> dict[str, float]:
    """``prunable_sparsity``: the fraction of the prunable weights (:func:`shrinkbench.prunable_parameters`, the output
    head left out) that are zero -- the language-model papers' axis."""
    from ..pruning import prunable_parameters

    weights = prunable_parameters(ctx.model).values()
    total = sum(w.numel() for w in weights)
    zeros = sum(int((w == 0).sum()) for w in weights)
    return {"prunable_sparsity": zeros / total if total else 0.0}

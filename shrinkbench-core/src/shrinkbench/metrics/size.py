"""Parameter counts and compression over the whole model."""

from __future__ import annotations

from . import MetricContext

__all__ = ["measure"]


def measure(ctx: MetricContext) -> dict[str, float]:
    """``params`` (distinct parameters), ``nonzero_params`` and ``compression`` = params / nonzero_params."""
    params = {id(p): p for p in ctx.model.parameters()}.values()
    total = sum(p.numel() for p in params)
    nonzero = sum(int(p.detach().count_nonzero()) for p in params)
    return {
        "params": float(total),
        "nonzero_params": float(nonzero),
        "compression": total / nonzero if nonzero else float("inf"),
    }

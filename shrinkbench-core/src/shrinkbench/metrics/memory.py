"""Activation memory of one forward pass."""

from __future__ import annotations

import torch

from ..modules import eval_mode
from . import MetricContext

__all__ = ["measure"]


def measure(ctx: MetricContext) -> dict[str, float]:
    """``activations`` (elements) and ``activation_bytes`` output by all leaf modules in one forward pass of
    ``ctx.example_input``, divided by its batch size: the activation memory per example. ``nonzero_activations``
    counts the nonzero ones."""
    totals = {"elements": 0, "bytes": 0, "nonzero": 0}

    def record(_module, _inputs, output) -> None:
        for t in output if isinstance(output, (tuple, list)) else (output,):
            if isinstance(t, torch.Tensor):
                totals["elements"] += t.numel()
                totals["bytes"] += t.numel() * t.element_size()
                totals["nonzero"] += int(t.count_nonzero())

    leaves = [m for m in ctx.model.modules() if not any(True for _ in m.children())]
    handles = [m.register_forward_hook(record) for m in leaves]
    try:
        with eval_mode(ctx.model), torch.no_grad():
            ctx.model(ctx.example_input)
    finally:
        for h in handles:
            h.remove()
    batch = ctx.example_input.shape[0]
    return {
        "activations": totals["elements"] / batch,
        "activation_bytes": totals["bytes"] / batch,
        "nonzero_activations": totals["nonzero"] / batch,
    }

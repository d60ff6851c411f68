"""Multiply-accumulates (MACs), FLOPs and theoretical speedup.

Units: ``macs`` are the multiply-accumulates of the matrix multiplications, convolutions and attention
products that one forward pass executes, counted at the dispatch level by :mod:`shrinkbench.metrics.macs`
(normalisation, activations, additions and pooling are not MACs); ``flops`` = 2 x ``macs``. Both follow
each operation's real shapes. ``nonzero_macs`` scales every operation that reads a weight by the fraction of
that weight's entries that are nonzero -- whoever owns the weight and however it is called (modules,
functional calls, ``nn.MultiheadAttention`` projections) -- and keeps weight-free products (attention
scores and values) dense; speedup = ``macs / nonzero_macs``. :func:`torch_flop_count` is an independent
count by ``torch.utils.flop_counter.FlopCounterMode`` under the same conditions, used to cross-check it.
"""

from __future__ import annotations

import torch
from torch import nn

from . import MetricContext
from .macs import count_ops, forward_with_autograd, total_macs

__all__ = ["count", "measure", "torch_flop_count"]


def count(model: nn.Module, example_input: torch.Tensor) -> dict[str, float]:
    """Dense and nonzero MACs and FLOPs of one forward of ``example_input`` (whole batch), and the speedup.

    The model is left as it was (weights, buffers, hooks, every module's mode).
    """
    macs, nonzero = total_macs(count_ops(model, example_input))
    return {
        "macs": float(macs),
        "nonzero_macs": nonzero,
        "flops": 2.0 * macs,
        "nonzero_flops": 2 * nonzero,
        "speedup": macs / nonzero if nonzero else float("inf"),
    }


def measure(ctx: MetricContext) -> dict[str, float]:
    """The flops metric: :func:`count` per example of ``ctx.example_input``. With the dense model's values
    ``ctx.reference``, the speedup is its MACs over the model's nonzero MACs (a structurally pruned model has
    fewer MACs than the dense one it came from)."""
    batch = ctx.example_input.shape[0]
    totals = {k: (v if k == "speedup" else v / batch) for k, v in count(ctx.model, ctx.example_input).items()}
    if ctx.reference is not None and "macs" in ctx.reference:
        totals["speedup"] = ctx.reference["macs"] / totals["nonzero_macs"] if totals["nonzero_macs"] else float("inf")
    return totals


def torch_flop_count(model: nn.Module, example_input: torch.Tensor) -> int:
    """FLOPs of one forward counted by ``torch.utils.flop_counter.FlopCounterMode`` (eval mode, autograd on).

    Matrix multiplications, convolutions and fused attention only, 2 FLOPs per multiply-accumulate.
    """
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    forward_with_autograd(model, example_input, counter)
    return counter.get_total_flops()

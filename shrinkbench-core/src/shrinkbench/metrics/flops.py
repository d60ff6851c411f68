"""Multiply-accumulates (MACs), FLOPs and theoretical speedup.

Units: ``macs`` are the multiply-accumulates of the matrix products, convolutions, attention and recurrent
kernels that one forward pass executes, counted at the dispatch level by :mod:`shrinkbench.metrics.macs`
(normalisation, activations, additions and pooling are not MACs); ``flops`` = 2 x ``macs``. Both follow
each operation's real shapes. ``nonzero_macs`` scales every operation that reads a weight by the fraction of
nonzero entries of the weight it actually reads -- whoever owns the weight and however it is called
(modules, functional calls, ``nn.MultiheadAttention`` projections), and through transformations of a
parameter (weight norm, weight standardisation, casts) -- and keeps weight-free products (attention scores
and values) dense; speedup = ``macs / nonzero_macs``. Executed operations that perform multiply-accumulates
but could not be counted, and operations charged dense because their weight could not be attributed to a
parameter, are named in the row's notes (:class:`shrinkbench.errors.MetricNote`).
:func:`torch_flop_count` is an independent count by ``torch.utils.flop_counter.FlopCounterMode`` under the
same conditions, used to cross-check it.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from ..errors import MetricNote
from . import MetricContext
from .macs import MacCount, count_macs, forward_with_autograd, total_macs

__all__ = ["count", "measure", "torch_flop_count", "torch_flops_by_op"]


def count(model: nn.Module, example_input: torch.Tensor) -> dict[str, float]:
    """Dense and nonzero MACs and FLOPs of one forward of ``example_input`` (whole batch), and the speedup.

    The model is left as it was (weights, buffers, hooks, every module's mode). What could not be counted or
    attributed is not reported here: see :func:`shrinkbench.metrics.macs.count_macs`.
    """
    return _totals(count_macs(model, example_input))


def _totals(counted: MacCount) -> dict[str, float]:
    macs, nonzero = total_macs(counted.ops)
    return {
        "macs": float(macs),
        "nonzero_macs": nonzero,
        "flops": 2.0 * macs,
        "nonzero_flops": 2 * nonzero,
        "speedup": macs / nonzero if nonzero else float("inf"),
    }


def measure(ctx: MetricContext) -> dict[str, float]:
    """The flops metric: :func:`count` per example of ``ctx.example_input``. With the dense model's own values
    ``ctx.reference``, the speedup is its MACs over the model's nonzero MACs (a structurally pruned model has
    fewer MACs than the dense one it came from). Operations not counted, or charged dense, are reported as
    :class:`shrinkbench.errors.MetricNote` warnings (the row's notes)."""
    batch = ctx.example_input.shape[0]
    counted = count_macs(ctx.model, ctx.example_input)
    totals = {k: (v if k == "speedup" else v / batch) for k, v in _totals(counted).items()}
    if ctx.reference is not None and "macs" in ctx.reference:
        totals["speedup"] = ctx.reference["macs"] / totals["nonzero_macs"] if totals["nonzero_macs"] else float("inf")
    for note in counted.notes():
        warnings.warn(note, MetricNote, stacklevel=2)
    return totals


def torch_flop_count(model: nn.Module, example_input: torch.Tensor) -> int:
    """FLOPs of one forward counted by ``torch.utils.flop_counter.FlopCounterMode`` (eval mode, autograd on).

    Matrix multiplications, convolutions and fused attention only, 2 FLOPs per multiply-accumulate.
    """
    return sum(torch_flops_by_op(model, example_input).values())


def torch_flops_by_op(model: nn.Module, example_input: torch.Tensor) -> dict[str, int]:
    """The FLOPs of :func:`torch_flop_count` by operation type, named as :class:`~shrinkbench.metrics.macs.OpMacs`
    names them (``"aten.mm"``, ``"aten.convolution"``); types with no FLOPs are left out."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    forward_with_autograd(model, example_input, counter)
    counts = counter.get_flop_counts().get("Global", {})
    return {str(op): int(flops) for op, flops in counts.items() if flops}

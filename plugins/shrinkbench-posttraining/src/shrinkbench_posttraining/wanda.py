"""Wanda -- pruning by Weights and activations -- and the papers' per-row magnitude baseline.

Wanda (Sun, Liu, Bair & Kolter 2024, "A Simple and Effective Pruning Approach for Large Language Models", ICLR;
reference code github.com/locuslab/wanda, ``lib/prune.py``): the score of weight ``W_ij`` is
``|W_ij| * ||X_j||_2``, the norm of its input feature over every calibration token; weights are compared
within each output row (every row keeps the same fraction), and the kept weights are not updated. For N:M, the
``n`` highest scores of every ``m`` consecutive inputs are kept. Layers are pruned block by block, each block's
statistics taken with the earlier blocks already pruned (:func:`shrinkbench.layerwise.prune_sequentially`).

For a convolution the input features are the unfolded patches (one per input channel and kernel position) and
a row is an output channel's weights; N:M groups run along the input channels at each kernel position
(:mod:`shrinkbench.patterns`). Counts are exact (:mod:`shrinkbench_posttraining.selection`): every layer keeps
the same fraction, the target is the whole model's compression.

The magnitude baseline of both papers' tables ranks ``|W_ij|`` alone; :func:`row_magnitude` compares it per
output row, as Wanda's ablation does (Wanda's LLM code thresholds per layer: that is ``layer-magnitude``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from shrinkbench import Masks, PruningContext
from shrinkbench.layer_inputs import LayerStats, from_weight_matrices, weight_matrices
from shrinkbench.modules import owner_module

from .selection import Pattern, keep_plan, nothing_to_prune, prune_block_by_block, select

__all__ = ["row_magnitude", "wanda", "wanda_2_4", "wanda_4_8", "wanda_scores"]


def wanda_scores(stats: LayerStats, weight: Tensor) -> Tensor:
    """``|W_ij| * ||X_j||_2`` shaped like ``weight`` (conv groups: each output uses its group's inputs)."""
    matrices = weight_matrices(weight.detach().abs().float(), stats.module)
    return from_weight_matrices(matrices * stats.norms().unsqueeze(1), stats.module, weight.shape)


def wanda(ctx: PruningContext, pattern: Pattern = None) -> Masks:
    """Wanda masks for ``ctx.compression`` (module docstring); zeroes the pruned weights of ``ctx.model`` as it
    goes, block by block, and keeps every other weight as it was. ``pattern``: ``(n, m)`` for N:M."""

    def prune_layer(name: str, layer: LayerStats, keep: int) -> Tensor:
        weight = ctx.prunable[name]
        mask = select(wanda_scores(layer, weight), weight, layer.module, keep, pattern)
        with torch.no_grad():
            weight.masked_fill_(~mask, 0)
        return mask

    return prune_block_by_block(ctx, "wanda", pattern, ("norms",), prune_layer)


def wanda_2_4(ctx: PruningContext) -> Masks:
    """Wanda with 2:4 sparsity."""
    return wanda(ctx, (2, 4))


def wanda_4_8(ctx: PruningContext) -> Masks:
    """Wanda with 4:8 sparsity."""
    return wanda(ctx, (4, 8))


def row_magnitude(ctx: PruningContext) -> Masks:
    """The largest ``|W_ij|`` of every output row, every layer keeping the same fraction; no data, no change to
    the model."""
    if (everything := nothing_to_prune(ctx)) is not None:
        return everything
    plan = keep_plan(ctx)
    return {name: select(w.detach().abs(), w, owner_module(ctx.model, name), plan[name])
            for name, w in ctx.prunable.items()}

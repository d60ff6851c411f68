"""N:M magnitude pruning (2:4 by default): in every group of M consecutive weights along the reduction
dimension -- the input channels an output sums over -- at most N are kept: the pattern NVIDIA's sparse tensor
cores (and PyTorch's semi-structured sparse tensors) execute at up to twice the dense speed.

The groups follow the operation's reduction dimension (:mod:`shrinkbench.patterns`, core's one definition, which
the engine also checks every run of this strategy against), as NVIDIA's ASP library lays them out
(``apex/contrib/sparsity/sparse_masklib.py``, ``create_mask``: a conv weight (K, C, R, S) is permuted to
(R, S, K, C) and C grouped; Sparse Tensor Cores, Mishra et al. 2021, arXiv:2104.08378, prune 2 of every 4
along the reduction dimension of the matrix multiply):

- linear ``(out, in)`` (attention projections too): along ``in``, for each output;
- convolution ``(O, I/groups, *kernel)``: along the input channels at each ``(o, *kernel position)`` -- the
  weight permuted to ``(O, *kernel, I/groups)``. A grouped or depthwise convolution's dim 1 already holds its
  own group's input channels only;
- transposed convolution ``(I, O/groups, *kernel)``: its forward sums over dim 0, so along the input channels
  of each group (``I/groups`` of them) at each ``(o, *kernel position)``; groups never span two conv groups.

A reduction length L that is not a multiple of M ends in a partial group of ``L mod M`` weights, which keeps
at most N as well (ASP pads it with zeros): so a layer with L < M (an RGB stem, L = 3; a depthwise
convolution, L = 1) keeps at most N of its L weights per position.

The N largest |w| of each group form the pattern (ties: the lower input channel); a target compression beyond
the pattern's keeps the largest |w| within it (still at most N of M), so every target from the pattern's
compression up is reached exactly. Weights outside the pattern are never kept. Weights already exactly zero
rank below every nonzero weight (core's zero rule) but above the weights outside the pattern: a target that
keeps more weights than the nonzero ones in the pattern fills up with zeros inside it. Compression 1 keeps
every weight; a target between 1 and the pattern's compression cannot keep the pattern and is refused.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from shrinkbench import CompressionError, Masks, PruningContext
from shrinkbench.modules import owner_module
from shrinkbench.patterns import from_rows, is_n_m, n_m_groups, reduction_layout, reduction_rows
from shrinkbench.pruning import count_parameters, global_masks, weights_to_keep

__all__ = ["is_n_m", "nm_limit", "nm_magnitude", "nm_pattern", "reduction_layout", "reduction_rows"]


def nm_pattern(weight: Tensor, n: int = 2, m: int = 4, *, transposed: bool = False,
               groups: int = 1) -> Tensor:
    """Boolean mask of the ``n`` largest |w| in every group of ``m`` consecutive weights along the reduction
    dimension (ties: the lower input channel), shaped like ``weight``; a last partial group keeps at most
    ``n``. ``transposed``, ``groups``: the layout, see :func:`reduction_rows` and :func:`reduction_layout`."""
    magnitude = weight.detach().abs().to(torch.promote_types(weight.dtype, torch.float32))
    rows = reduction_rows(magnitude, transposed, groups)
    grouped = n_m_groups(rows, m, -math.inf)
    # stable: among equal magnitudes the lower index wins, whatever the backend's topk does with ties
    order = torch.argsort(grouped, dim=-1, descending=True, stable=True)
    keep = torch.zeros_like(grouped, dtype=torch.bool).scatter_(-1, order[..., :n], True)
    keep &= grouped > -math.inf
    return from_rows(keep.view(rows.shape[0], -1)[:, : rows.shape[1]], weight.shape, transposed, groups)


def nm_magnitude(ctx: PruningContext, n: int = 2, m: int = 4) -> Masks:
    """2:4 magnitude pruning: the N:M pattern of the largest |w| along each layer's reduction dimension, then
    the largest |w| within it to reach ``ctx.compression`` exactly (see the module docstring). Weights
    outside the pattern are never kept; already-zero weights only after every nonzero one in the pattern.
    Raises :class:`CompressionError` for a target between 1 and the pattern's compression.

    Mishra et al. 2021, "Accelerating Sparse Deep Neural Networks" (arXiv:2104.08378), NVIDIA's 2:4 recipe;
    the grouping is that of NVIDIA's ASP (``apex.contrib.sparsity``).
    """
    total = sum(w.numel() for w in ctx.prunable.values())
    keep = weights_to_keep(ctx.model, ctx.prunable, ctx.compression)
    if keep >= total:
        return {name: torch.ones_like(w, dtype=torch.bool) for name, w in ctx.prunable.items()}
    problem = nm_limit(ctx, n, m)
    if problem:
        raise CompressionError(problem)
    pattern = {name: nm_pattern(w, n, m, **reduction_layout(owner_module(ctx.model, name)))
               for name, w in ctx.prunable.items()}
    # |w| inside the pattern (an exact zero scores 0, below every nonzero weight), -inf outside: the exact
    # top-k never reaches outside the pattern, as keep <= allowed; not ctx.masks, which ranks zeros as -inf
    scores = {}
    for name, w in ctx.prunable.items():
        magnitude = w.detach().abs().to(torch.promote_types(w.dtype, torch.float32))
        scores[name] = magnitude.masked_fill(~pattern[name], -math.inf)
    return global_masks(scores, keep)


def nm_limit(ctx: PruningContext, n: int = 2, m: int = 4) -> str | None:
    """Why ``ctx.compression`` cannot keep the N:M pattern (a target between 1 and the pattern's own
    compression), or ``None``: the strategy's ``check``, asked for every compression a schedule prunes to
    before any work. The pattern keeps ``min(n, len)`` of every group, whatever the weights' values."""
    if ctx.compression <= 1:
        return None
    total = sum(w.numel() for w in ctx.prunable.values())
    allowed = 0
    for name, w in ctx.prunable.items():
        rows = reduction_rows(torch.ones(w.shape, dtype=torch.int8, device="meta"),
                              **reduction_layout(owner_module(ctx.model, name)))
        full, rest = divmod(rows.shape[1], m)
        allowed += rows.shape[0] * (full * n + min(n, rest))
    if weights_to_keep(ctx.model, ctx.prunable, ctx.compression) <= allowed:
        return None
    lowest = count_parameters(ctx.model) / (count_parameters(ctx.model) - total + allowed)
    return (f"{n}:{m} sparsity keeps at most {allowed:,} of {total:,} prunable weights, so its compressions start "
            f"at {lowest:.2f}x; choose 1 (no pruning) or at least that")

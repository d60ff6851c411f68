"""N:M magnitude pruning (2:4 by default): in every group of M consecutive input weights of an output unit, at
most N are kept -- the pattern NVIDIA's sparse tensor cores (and PyTorch's semi-structured sparse tensors)
execute at up to twice the dense speed.

Groups run along each weight's input dimensions, flattened (``in_features`` for a linear layer, ``in_channels x
kh x kw`` for a convolution); a last group shorter than M keeps at most N as well. The N largest |w| of each
group form the pattern; a target compression beyond the pattern's keeps the largest |w| among them (still at
most N of M), so every target from the pattern's compression up is reached exactly. Compression 1 keeps every
weight; a target between 1 and the pattern's compression cannot keep the pattern and is refused.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from shrinkbench import CompressionError, Masks, PruningContext
from shrinkbench.pruning import count_parameters, weights_to_keep


def nm_pattern(weight: Tensor, n: int = 2, m: int = 4) -> Tensor:
    """Boolean mask of the ``n`` largest |w| in every group of ``m`` consecutive inputs of each output row
    (ties: the lower index), shaped like ``weight``."""
    rows = weight.detach().reshape(weight.shape[0], -1).abs().float()
    pad = (-rows.shape[1]) % m
    padded = torch.nn.functional.pad(rows, (0, pad), value=-math.inf)
    groups = padded.view(rows.shape[0], -1, m)
    # stable: among equal magnitudes the lower index wins, whatever the backend's topk does with ties
    order = torch.argsort(groups, dim=-1, descending=True, stable=True)
    keep = torch.zeros_like(groups, dtype=torch.bool).scatter_(-1, order[..., :n], True)
    keep &= groups > -math.inf
    return keep.view(rows.shape[0], -1)[:, : rows.shape[1]].reshape(weight.shape)


def nm_magnitude(ctx: PruningContext, n: int = 2, m: int = 4) -> Masks:
    """2:4 magnitude pruning: the N:M pattern of the largest |w|, then the largest |w| within it to reach
    ``ctx.compression`` exactly (see the module docstring). Raises :class:`CompressionError` for a target
    between 1 and the pattern's compression.

    Mishra et al. 2021, "Accelerating Sparse Deep Neural Networks" (arXiv:2104.08378), NVIDIA's 2:4 recipe.
    """
    total = sum(w.numel() for w in ctx.prunable.values())
    keep = weights_to_keep(ctx.model, ctx.prunable, ctx.compression)
    if keep >= total:
        return {name: torch.ones_like(w, dtype=torch.bool) for name, w in ctx.prunable.items()}
    pattern = {name: nm_pattern(w, n, m) for name, w in ctx.prunable.items()}
    allowed = sum(int(p.count_nonzero()) for p in pattern.values())
    if keep > allowed:
        lowest = count_parameters(ctx.model) / (count_parameters(ctx.model) - total + allowed)
        raise CompressionError(f"{n}:{m} sparsity keeps at most {allowed:,} of {total:,} prunable weights, so its "
                               f"compressions start at {lowest:.2f}x; choose 1 (no pruning) or at least that")
    scores = {name: torch.where(pattern[name], w.detach().abs().float(), torch.full_like(w, -math.inf, dtype=torch.float))
              for name, w in ctx.prunable.items()}
    return ctx.masks(scores, scope="global")


def is_n_m(mask: Tensor, n: int = 2, m: int = 4) -> bool:
    """Whether ``mask`` keeps at most ``n`` of every ``m`` consecutive inputs of each output row."""
    rows = mask.reshape(mask.shape[0], -1).int()
    padded = torch.nn.functional.pad(rows, (0, (-rows.shape[1]) % m))
    return bool((padded.view(rows.shape[0], -1, m).sum(-1) <= n).all())

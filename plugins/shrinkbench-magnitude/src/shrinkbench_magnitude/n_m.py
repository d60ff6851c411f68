"""N:M magnitude pruning (2:4 by default): in every group of M consecutive weights along the reduction
dimension -- the input channels an output sums over -- at most N are kept: the pattern NVIDIA's sparse tensor
cores (and PyTorch's semi-structured sparse tensors) execute at up to twice the dense speed.

The groups follow the operation's reduction dimension, as NVIDIA's ASP library lays them out
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
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from shrinkbench import CompressionError, Masks, PruningContext
from shrinkbench.modules import owner_module
from shrinkbench.pruning import count_parameters, global_masks, weights_to_keep

__all__ = ["is_n_m", "nm_magnitude", "nm_pattern", "reduction_layout", "reduction_rows"]


def reduction_layout(module: nn.Module) -> dict[str, Any]:
    """The keyword arguments of :func:`reduction_rows` (and :func:`nm_pattern`, :func:`is_n_m`) for the weight
    of ``module``: ``transposed`` for a transposed convolution, ``groups`` its conv groups (1 otherwise)."""
    return {"transposed": isinstance(module, nn.modules.conv._ConvTransposeNd),
            "groups": int(getattr(module, "groups", 1))}


def reduction_rows(tensor: Tensor, transposed: bool = False, groups: int = 1) -> Tensor:
    """``tensor`` (a weight, or a mask or score shaped like one) as rows ``(R, L)``, each row the ``L``
    weights one output sums over at one kernel position, in input-channel order (see the module docstring).

    ``transposed``: ``tensor`` is a transposed convolution's ``(I, O/groups, *kernel)`` weight, ``groups`` its
    conv groups (ignored otherwise: a convolution's dim 1 already holds one group's channels). A copy when
    the layout needs one; :func:`_from_rows` is the inverse."""
    if tensor.dim() < 2:
        raise ValueError(f"an N:M pattern needs a weight of 2 or more dims, got shape {tuple(tensor.shape)}")
    if transposed:
        if tensor.shape[0] % groups:
            raise ValueError(f"{tensor.shape[0]} input channels do not split into {groups} groups")
        tensor = tensor.reshape(groups, tensor.shape[0] // groups, *tensor.shape[1:])  # (g, I/g, O/g, *k)
    moved = tensor.movedim(1, -1)  # (O, *k, I/g), or (g, O/g, *k, I/g)
    return moved.reshape(-1, moved.shape[-1])


def _from_rows(rows: Tensor, shape: torch.Size, transposed: bool = False, groups: int = 1) -> Tensor:
    """The inverse of :func:`reduction_rows`: rows back into a tensor of the weight's ``shape``."""
    if transposed:
        split = (groups, shape[0] // groups, *shape[1:])
        return rows.reshape(*split[:1], *split[2:], split[1]).movedim(-1, 1).reshape(shape)
    return rows.reshape(shape[0], *shape[2:], shape[1]).movedim(-1, 1).reshape(shape)


def _groups(rows: Tensor, m: int, fill: float) -> Tensor:
    """``rows`` (R, L) as groups (R, ceil(L / m), m), the last group padded with ``fill``."""
    return F.pad(rows, (0, (-rows.shape[1]) % m), value=fill).view(rows.shape[0], -1, m)


def nm_pattern(weight: Tensor, n: int = 2, m: int = 4, *, transposed: bool = False,
               groups: int = 1) -> Tensor:
    """Boolean mask of the ``n`` largest |w| in every group of ``m`` consecutive weights along the reduction
    dimension (ties: the lower input channel), shaped like ``weight``; a last partial group keeps at most
    ``n``. ``transposed``, ``groups``: the layout, see :func:`reduction_rows` and :func:`reduction_layout`."""
    magnitude = weight.detach().abs().to(torch.promote_types(weight.dtype, torch.float32))
    rows = reduction_rows(magnitude, transposed, groups)
    grouped = _groups(rows, m, -math.inf)
    # stable: among equal magnitudes the lower index wins, whatever the backend's topk does with ties
    order = torch.argsort(grouped, dim=-1, descending=True, stable=True)
    keep = torch.zeros_like(grouped, dtype=torch.bool).scatter_(-1, order[..., :n], True)
    keep &= grouped > -math.inf
    return _from_rows(keep.view(rows.shape[0], -1)[:, : rows.shape[1]], weight.shape, transposed, groups)


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
    pattern = {name: nm_pattern(w, n, m, **reduction_layout(owner_module(ctx.model, name)))
               for name, w in ctx.prunable.items()}
    allowed = sum(int(p.count_nonzero()) for p in pattern.values())
    if keep > allowed:
        lowest = count_parameters(ctx.model) / (count_parameters(ctx.model) - total + allowed)
        raise CompressionError(f"{n}:{m} sparsity keeps at most {allowed:,} of {total:,} prunable weights, so "
                               f"its compressions start at {lowest:.2f}x; choose 1 (no pruning) or at least that")
    # |w| inside the pattern (an exact zero scores 0, below every nonzero weight), -inf outside: the exact
    # top-k never reaches outside the pattern, as keep <= allowed; not ctx.masks, which ranks zeros as -inf
    scores = {}
    for name, w in ctx.prunable.items():
        magnitude = w.detach().abs().to(torch.promote_types(w.dtype, torch.float32))
        scores[name] = magnitude.masked_fill(~pattern[name], -math.inf)
    return global_masks(scores, keep)


def is_n_m(mask: Tensor, n: int = 2, m: int = 4, *, transposed: bool = False, groups: int = 1) -> bool:
    """Whether ``mask`` keeps at most ``n`` of every ``m`` consecutive weights along the reduction dimension
    (a last partial group: at most ``n`` too). ``transposed``, ``groups``: the layout of the weight, see
    :func:`reduction_layout` (``is_n_m(mask, **reduction_layout(module))``)."""
    rows = reduction_rows(mask.int(), transposed, groups)
    return bool((_groups(rows, m, 0).sum(-1) <= n).all())

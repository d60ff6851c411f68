"""N:M sparsity as sparse tensor cores execute it: groups of M consecutive weights along the *reduction*
dimension of the operation -- the input channels an output sums over -- each keeping at most N.

The layout is NVIDIA's ASP library's (``apex/contrib/sparsity/sparse_masklib.py``, ``create_mask``: a conv
weight (K, C, R, S) is permuted to (R, S, K, C) and C grouped; Mishra et al. 2021, "Accelerating Sparse Deep
Neural Networks", arXiv:2104.08378):

- linear ``(out, in)`` (attention projections too): along ``in``, for each output;
- convolution ``(O, I/groups, *kernel)``: along the input channels at each ``(o, *kernel position)`` -- the
  weight permuted to ``(O, *kernel, I/groups)``; a grouped or depthwise convolution's dim 1 already holds its
  own group's input channels only -- not along the flattened ``(I, kh, kw)`` with ``kw`` innermost;
- transposed convolution ``(I, O/groups, *kernel)``: its forward sums over dim 0, so along the input channels of
  each group at each ``(o, *kernel position)``; groups never span two conv groups.

A reduction length L that is not a multiple of M ends in a partial group of ``L mod M`` weights, which keeps at
most N as well (ASP pads it with zeros). This module is the one definition: strategies build their masks with
it, the engine checks every run of a strategy that declares a pattern with it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .modules import owner_module

__all__ = ["from_rows", "is_n_m", "n_m_capacity", "n_m_groups", "pattern_violation", "reduction_layout", "reduction_rows",
           "top_n_per_group"]


def reduction_layout(module: nn.Module) -> dict[str, Any]:
    """The keyword arguments of :func:`reduction_rows` (and :func:`is_n_m`) for the weight of ``module``:
    ``transposed`` for a transposed convolution, ``groups`` its conv groups (1 otherwise)."""
    return {"transposed": isinstance(module, nn.modules.conv._ConvTransposeNd),
            "groups": int(getattr(module, "groups", 1))}


def reduction_rows(tensor: Tensor, transposed: bool = False, groups: int = 1) -> Tensor:
    """``tensor`` (a weight, or a mask or score shaped like one) as rows ``(R, L)``, each row the ``L`` weights
    one output sums over at one kernel position, in input-channel order (see the module docstring).

    ``transposed``: ``tensor`` is a transposed convolution's ``(I, O/groups, *kernel)`` weight, ``groups`` its
    conv groups (ignored otherwise: a convolution's dim 1 already holds one group's channels). A copy when the
    layout needs one; :func:`from_rows` is the inverse."""
    if tensor.dim() < 2:
        raise ValueError(f"an N:M pattern needs a weight of 2 or more dims, got shape {tuple(tensor.shape)}")
    if transposed:
        if tensor.shape[0] % groups:
            raise ValueError(f"{tensor.shape[0]} input channels do not split into {groups} groups")
        tensor = tensor.reshape(groups, tensor.shape[0] // groups, *tensor.shape[1:])  # (g, I/g, O/g, *k)
    moved = tensor.movedim(1, -1)  # (O, *k, I/g), or (g, O/g, *k, I/g)
    return moved.reshape(-1, moved.shape[-1])


def from_rows(rows: Tensor, shape: torch.Size, transposed: bool = False, groups: int = 1) -> Tensor:
    """The inverse of :func:`reduction_rows`: rows back into a tensor of the weight's ``shape``."""
    if transposed:
        split = (groups, shape[0] // groups, *shape[1:])
        return rows.reshape(*split[:1], *split[2:], split[1]).movedim(-1, 1).reshape(shape)
    return rows.reshape(shape[0], *shape[2:], shape[1]).movedim(-1, 1).reshape(shape)


def n_m_groups(rows: Tensor, m: int, fill: float = 0) -> Tensor:
    """``rows`` (R, L) as groups (R, ceil(L / m), m), the last group padded with ``fill``."""
    return F.pad(rows, (0, (-rows.shape[1]) % m), value=fill).view(rows.shape[0], -1, m)


def is_n_m(mask: Tensor, n: int = 2, m: int = 4, *, transposed: bool = False, groups: int = 1) -> bool:
    """Whether ``mask`` keeps at most ``n`` of every ``m`` consecutive weights along the reduction dimension
    (a last partial group: at most ``n`` too); ``is_n_m(mask, **reduction_layout(module))``."""
    return bool((n_m_groups(reduction_rows(mask.int(), transposed, groups), m).sum(-1) <= n).all())


def pattern_violation(model: nn.Module, masks: Mapping[str, Tensor], n: int, m: int) -> str | None:
    """Where ``masks`` (of ``model``'s parameters) keep more than ``n`` of some group of ``m`` along the
    reduction dimension, in one line; ``None`` when every mask follows the pattern."""
    for name, mask in masks.items():
        layout = reduction_layout(owner_module(model, name))
        kept = n_m_groups(reduction_rows(mask.to(torch.int32), **layout), m).sum(-1)
        if (kept > n).any():
            row, group = (kept > n).nonzero()[0].tolist()
            return (f"the mask of {name!r} keeps {int(kept[row, group])} of {m} weights in group {group} of "
                    f"reduction row {row}")
    return None


def n_m_capacity(shape: torch.Size | tuple[int, ...], n: int, m: int, transposed: bool = False,
                 groups: int = 1) -> int:
    """The most weights an N:M pattern keeps of a weight of ``shape`` (a partial group keeps up to ``n``)."""
    rows = reduction_rows(torch.empty(shape, dtype=torch.int8, device="meta"), transposed, groups)
    full, rest = divmod(rows.shape[1], m)
    return rows.shape[0] * (n * full + min(n, rest))


def top_n_per_group(scores: Tensor, n: int, m: int, transposed: bool = False, groups: int = 1) -> Tensor:
    """Boolean mask of the ``n`` highest ``scores`` (shaped like a weight) in every group of ``m`` along the
    reduction dimension (ties: the lower input channel; a partial group keeps ``min(n, its length)``)."""
    rows = reduction_rows(scores.detach().float(), transposed, groups)
    grouped = n_m_groups(rows, m, -math.inf)
    # stable: among equal scores the lower index wins, whatever the backend's topk does with ties
    order = torch.argsort(grouped, dim=-1, descending=True, stable=True)
    keep = torch.zeros_like(grouped, dtype=torch.bool).scatter_(-1, order[..., :n], True)
    keep &= n_m_groups(torch.ones_like(rows, dtype=torch.bool), m, False)  # never the padding
    return from_rows(keep.view(rows.shape[0], -1)[:, : rows.shape[1]], scores.shape, transposed, groups)

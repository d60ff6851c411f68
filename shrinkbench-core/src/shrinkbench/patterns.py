"""N:M sparsity as sparse tensor cores execute it: groups of M consecutive weights along the *reduction*
dimension of the operation, each keeping at most N.

NVIDIA's sparse tensor cores (Ampere and newer; ``torch.sparse.to_sparse_semi_structured``) compute a GEMM whose
inner (reduction) dimension is compressed 2:4. For a linear layer ``(out, in)`` that is ``in``. A convolution
lowered to a GEMM reduces over ``(kh, kw, in)`` with the input channels innermost, so NVIDIA's ASP library
(apex.contrib.sparsity) permutes a weight ``(out, in, kh, kw)`` to ``(out, kh, kw, in)`` and groups along
``in`` at each kernel position -- not along the flattened ``(in, kh, kw)`` with ``kw`` innermost. A transposed
convolution's weight is ``(in, out / groups, kh, kw)`` and its forward reduces over ``in`` (dimension 0): it is
grouped along ``in`` at each ``(out, kh, kw)``. A reduction length that is not a multiple of M ends with a
shorter group, which keeps at most N too. Mishra et al. 2021, "Accelerating Sparse Deep Neural Networks"
(arXiv:2104.08378).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from .modules import owner_module

__all__ = ["n_m_groups", "pattern_violation", "reduction_rows"]


def reduction_rows(tensor: Tensor, transposed: bool = False) -> Tensor:
    """``tensor`` (shaped like a weight) as 2-d rows, each row one output position's reduction vector in the
    order the hardware groups it: ``(out, in)`` for linear, ``(out * kh * kw, in)`` for convolutions (input
    channels innermost), ``(out * kh * kw, in)`` for transposed convolutions."""
    if tensor.dim() < 2:
        return tensor.reshape(1, -1)
    if transposed:  # (in, out/groups, *kernel) -> (out/groups, *kernel, in)
        return tensor.movedim(0, -1).reshape(-1, tensor.shape[0])
    if tensor.dim() == 2:
        return tensor
    return tensor.movedim(1, -1).reshape(-1, tensor.shape[1])  # (out, in, *kernel) -> (out, *kernel, in)


def n_m_groups(tensor: Tensor, m: int, transposed: bool = False, fill: float = 0.0) -> Tensor:
    """``tensor`` as ``(rows, groups, m)``: consecutive groups of ``m`` along the reduction dimension (see
    :func:`reduction_rows`); a short last group is padded with ``fill``."""
    rows = reduction_rows(tensor, transposed)
    pad = (-rows.shape[1]) % m
    if pad:
        rows = torch.nn.functional.pad(rows, (0, pad), value=fill)
    return rows.reshape(rows.shape[0], -1, m)


def _is_transposed(model: nn.Module, name: str) -> bool:
    module = owner_module(model, name)
    return isinstance(module, nn.modules.conv._ConvTransposeNd) and name.endswith("weight")


def pattern_violation(model: nn.Module, masks: Mapping[str, Tensor], n: int, m: int) -> str | None:
    """Where ``masks`` (of ``model``'s parameters) keep more than ``n`` of some group of ``m`` along the
    reduction dimension, in one line; ``None`` when every mask follows the pattern."""
    for name, mask in masks.items():
        kept = n_m_groups(mask.to(torch.int32), m, _is_transposed(model, name)).sum(-1)
        if (kept > n).any():
            row, group = (kept > n).nonzero()[0].tolist()
            return (f"the mask of {name!r} keeps {int(kept[row, group])} of {m} weights in group {group} of reduction "
                    f"row {row}")
    return None

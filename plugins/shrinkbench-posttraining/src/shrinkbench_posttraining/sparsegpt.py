"""SparseGPT: one-shot pruning with OBS reconstruction of the kept weights.

Frantar & Alistarh 2023, "SparseGPT: Massive Language Models Can Be Accurately Pruned in One-Shot" (ICML);
reference code github.com/IST-DASLab/sparsegpt, ``sparsegpt.py`` (``fasterprune``). Per layer, with
``H = 2/n Σ x xᵀ`` over the calibration inputs (:meth:`shrinkbench.layer_inputs.LayerStats.hessian`):

1. dead inputs (``H_jj = 0``) get ``H_jj = 1``; dampening ``λ = DAMPENING · mean(diag H)`` is added to the
   diagonal; ``U`` = the upper Cholesky factor of ``H⁻¹`` (computed in float64 here, then float32);
2. the columns are processed in blocks of ``BLOCKSIZE``. Unstructured: a block's mask is chosen at its start,
   the weights with the smallest ``w² / U_jj²`` (the reference uses a per-block quantile; here each block
   prunes an exact share of the layer's count, blocks sharing it in proportion to their sizes, ties to the lower
   index). N:M: at the start of every group of ``m`` columns, each row prunes the ``m - n`` smallest;
3. column by column, the pruned weights are zeroed and the error ``(w - q) / U_jj`` is propagated to the later
   columns of the block (``W[:, j:] -= err ⊗ U[j, j:]``), then to the later blocks at once.

Weights of dead inputs score 0 (pruned first; the reference also zeroes them when it keeps them -- they do not
affect the calibration outputs -- here a kept weight keeps its value). Weights already zero score lowest of all
(core's zero rule). For a convolution the columns are the unfolded input patches; for N:M they are reordered
so that each group of ``m`` holds consecutive input channels at one kernel position (:mod:`shrinkbench.patterns`).
A target beyond the pattern's compression prunes, in each group, the smallest of the ``n`` kept entries
(across rows) until the layer's count is reached, groups sharing the extra in proportion to their sizes.
"""

from __future__ import annotations

import torch
from torch import Tensor

from shrinkbench import Masks, PruningContext
from shrinkbench.layer_inputs import LayerStats, from_weight_matrices, weight_matrices
from shrinkbench.pruning import layer_keep_counts

from .selection import Pattern, prune_block_by_block

__all__ = ["BLOCKSIZE", "DAMPENING", "sparsegpt", "sparsegpt_2_4", "sparsegpt_4_8", "sparsegpt_matrix"]

BLOCKSIZE = 128
"""Columns processed together (the paper's and reference's default)."""

DAMPENING = 0.01
"""Dampening, as a fraction of mean(diag H) added to H's diagonal (the reference's ``percdamp``)."""


def _segments(columns: int, channels: int, pattern: Pattern) -> tuple[Tensor, list[tuple[int, int]]]:
    """The column order and the groups (start, length) in it: for N:M, ``m`` consecutive input channels at one
    kernel position (columns are channel-major ``(channel, kernel position)``), a last partial group per
    position; unstructured, one group per column, original order."""
    if pattern is None:
        return torch.arange(columns), [(j, 1) for j in range(columns)]
    m = pattern[1]
    positions = columns // channels
    order = torch.arange(columns).view(channels, positions).T.reshape(-1)
    groups = [(p * channels + s, min(m, channels - s)) for p in range(positions) for s in range(0, channels, m)]
    return order, groups


def _blocks(groups: list[tuple[int, int]], blocksize: int) -> list[list[tuple[int, int]]]:
    """Consecutive groups packed into blocks of at most ``blocksize`` columns (at least one group each)."""
    blocks: list[list[tuple[int, int]]] = [[]]
    width = 0
    for group in groups:
        if blocks[-1] and width + group[1] > blocksize:
            blocks.append([])
            width = 0
        blocks[-1].append(group)
        width += group[1]
    return blocks


def _smallest(scores: Tensor, count: int) -> Tensor:
    """Mask of the ``count`` smallest entries of ``scores`` (ties: the lower flat index)."""
    flat = scores.reshape(-1)
    pruned = torch.zeros_like(flat, dtype=torch.bool)
    pruned[torch.argsort(flat, stable=True)[:count]] = True
    return pruned.view_as(scores)


def _scores(w: Tensor, d: Tensor, dead: Tensor, zero: Tensor) -> Tensor:
    """SparseGPT's saliency ``w² / U_jj²``; 0 for dead inputs, -1 for weights already zero (pruned first)."""
    s = w.square() / d.square()
    s[:, dead] = 0
    return s.masked_fill(zero, -1.0)


def _group_mask(scores: Tensor, n: int, extra: int) -> Tensor:
    """Pruned entries of one N:M group ``(rows, length)``: each row's ``length - n`` smallest, then the ``extra``
    smallest of the kept ones across rows (a target beyond the pattern)."""
    length = scores.shape[1]
    group = torch.zeros_like(scores, dtype=torch.bool)
    group.scatter_(1, torch.argsort(scores, dim=1, stable=True)[:, : length - min(n, length)], True)
    if extra:
        group |= _smallest(scores.masked_fill(group, float("inf")), extra)
    return group


def _lower_inverse(lower: Tensor) -> Tensor:
    """The inverse of a lower-triangular matrix, by halves: ``[[A, 0], [B, C]]⁻¹ = [[A⁻¹, 0], [-C⁻¹BA⁻¹, C⁻¹]]``
    (matrix products; a triangular solve against the identity does three times the work)."""
    n = lower.shape[0]
    if n <= 256:
        return torch.linalg.solve_triangular(lower, torch.eye(n, dtype=lower.dtype, device=lower.device), upper=False)
    h = n // 2
    top, bottom = _lower_inverse(lower[:h, :h]), _lower_inverse(lower[h:, h:])
    out = torch.zeros_like(lower)
    out[:h, :h], out[h:, h:] = top, bottom
    out[h:, :h] = -(bottom @ lower[h:, :h]) @ top
    return out


def _inverse_factor(hessian: Tensor, damp: float) -> tuple[Tensor, Tensor]:
    """``(U, dead)``: the upper Cholesky factor of the dampened ``H⁻¹`` (float64 inside) and the dead columns.

    ``U = J L⁻¹ J`` for ``L Lᵀ = J H J`` (``J`` reverses the order): one Cholesky and one triangular inverse, the
    factor the reference computes with cholesky -> cholesky_inverse -> cholesky, in about half the time."""
    h = hessian.double().clone()
    dead = h.diagonal() == 0
    h.diagonal()[dead] = 1
    h.diagonal().add_(damp * h.diagonal().mean())
    factor = _lower_inverse(torch.linalg.cholesky(h.flip(0, 1))).flip(0, 1)
    return factor.to(hessian.dtype), dead


def sparsegpt_matrix(weight: Tensor, hessian: Tensor, keep: int, pattern: Pattern = None, channels: int | None = None,
                     blocksize: int = BLOCKSIZE, damp: float = DAMPENING) -> tuple[Tensor, Tensor]:
    """SparseGPT on one ``(rows, K)`` matrix with its ``(K, K)`` Hessian: ``(reconstructed weights, kept mask)``,
    exactly ``keep`` kept. ``pattern``: ``(n, m)`` with ``channels`` input channels per kernel position
    (default ``K``: a linear layer). Float32 throughout (the Cholesky factor in float64)."""
    w = weight.float().clone()
    rows, columns = w.shape
    order, groups = _segments(columns, channels or columns, pattern)
    order = order.to(w.device)
    w, frozen = w[:, order], (weight == 0)[:, order]
    factor, dead = _inverse_factor(hessian.float()[order][:, order], damp)
    pruned = torch.zeros_like(w, dtype=torch.bool)
    blocks = _blocks(groups, blocksize)
    sizes = {i: rows * sum(length for _, length in b) for i, b in enumerate(blocks)}
    if pattern is None:  # the prune count of each block (exact in total)
        share = layer_keep_counts(sizes, rows * columns - keep)
    else:
        n = pattern[0]
        capacity = {j: rows * min(n, length) for j, (_, length) in enumerate(groups)}
        extra = layer_keep_counts(capacity, sum(capacity.values()) - keep)
    done = 0
    for b, block in enumerate(blocks):
        i1, i2 = block[0][0], block[-1][0] + block[-1][1]
        w1, u1 = w[:, i1:i2].clone(), factor[i1:i2, i1:i2]
        errors = torch.zeros_like(w1)
        d = u1.diagonal()
        skip, zero = dead[i1:i2], frozen[:, i1:i2]
        if pattern is None:
            mask1 = _smallest(_scores(w1, d, skip, zero), share[b])
        else:
            mask1 = torch.zeros_like(w1, dtype=torch.bool)
        starts = {start - i1: length for start, length in block} if pattern is not None else {}
        for i in range(i2 - i1):
            if i in starts:  # N:M: choose this group's mask now, from the updated weights
                span = slice(i, i + starts[i])
                mask1[:, span] = _group_mask(_scores(w1[:, span], d[span], skip[span], zero[:, span]),
                                             pattern[0], extra[done])
                done += 1
            column = w1[:, i]
            q = column.masked_fill(mask1[:, i], 0)
            err = (column - q) / d[i]
            w1[:, i:] -= err.unsqueeze(1) * u1[i, i:].unsqueeze(0)
            w1[:, i] = q
            errors[:, i] = err
        w[:, i1:i2] = w1
        pruned[:, i1:i2] = mask1
        w[:, i2:] -= errors @ factor[i1:i2, i2:]
    inverse = torch.argsort(order)
    return w[:, inverse], ~pruned[:, inverse]


def _prune_layer(stats: LayerStats, weight: Tensor, keep: int, pattern: Pattern, blocksize: int,
                 damp: float) -> Tensor:
    """SparseGPT on every conv group of one layer; writes the weights, returns the kept mask."""
    mats = weight_matrices(weight.detach(), stats.module)
    hessians = stats.hessian().to(weight.device)
    groups, rows, columns = mats.shape
    channels = columns // (weight[0].numel() // weight.shape[1]) if weight.dim() > 2 else columns
    counts = layer_keep_counts(dict(enumerate([rows * columns] * groups)), keep)
    out, kept = torch.empty_like(mats, dtype=torch.float32), torch.empty_like(mats, dtype=torch.bool)
    for g in range(groups):
        out[g], kept[g] = sparsegpt_matrix(mats[g], hessians[g], counts[g], pattern, channels, blocksize, damp)
    with torch.no_grad():
        weight.copy_(from_weight_matrices(out, stats.module, weight.shape).to(weight.dtype))
    return from_weight_matrices(kept, stats.module, weight.shape)


def sparsegpt(ctx: PruningContext, pattern: Pattern = None, blocksize: int = BLOCKSIZE,
              damp: float = DAMPENING) -> Masks:
    """SparseGPT masks for ``ctx.compression`` (module docstring), every layer keeping the same fraction; writes
    the reconstructed kept weights and the zeroed pruned ones into ``ctx.model`` block by block."""

    def prune_layer(name: str, layer: LayerStats, keep: int) -> Tensor:
        return _prune_layer(layer, ctx.prunable[name], keep, pattern, blocksize, damp)

    return prune_block_by_block(ctx, "sparsegpt", pattern, ("hessian",), prune_layer)


def sparsegpt_2_4(ctx: PruningContext) -> Masks:
    """SparseGPT with 2:4 sparsity."""
    return sparsegpt(ctx, (2, 4))


def sparsegpt_4_8(ctx: PruningContext) -> Masks:
    """SparseGPT with 4:8 sparsity."""
    return sparsegpt(ctx, (4, 8))

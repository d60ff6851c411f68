"""How many weights each layer and each output row keeps, and which: the exact counting every post-training
strategy of this plugin shares.

The papers prune every layer to the same sparsity (uniform per layer; Wanda and the magnitude baseline also
per output row). Here the target is ShrinkBench's whole-model compression, so the prunable weights to keep
(:func:`shrinkbench.pruning.weights_to_keep`) are split over the layers in proportion to their sizes
(:func:`shrinkbench.pruning.layer_keep_counts`, largest remainder) and a layer's count over its output rows
(the first rows take the remainder): every count is exact and deterministic. Ties within a row go to the lower
index. Weights already exactly zero rank below every other weight (core's zero rule).

An N:M pattern caps what a layer can keep (:func:`shrinkbench.patterns.n_m_capacity`): a layer whose uniform
share exceeds its cap keeps its cap and the rest is shared among the others. A target that keeps more than the
pattern allows (between 1 and the pattern's compression) is refused; one beyond it prunes further inside the
pattern, as core's ``2:4-magnitude`` does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from shrinkbench import CompressionError, Masks, PruningContext
from shrinkbench.layer_inputs import LayerStats, from_weight_matrices, is_matrix_layer, weight_matrices
from shrinkbench.layerwise import prune_sequentially, unsupported_layers
from shrinkbench.modules import owner_module
from shrinkbench.patterns import n_m_capacity, reduction_layout, top_n_per_group
from shrinkbench.pruning import count_parameters, layer_keep_counts, weights_to_keep

__all__ = ["calibration_limit", "capped_keep_counts", "keep_plan", "nothing_to_prune", "output_rows", "pattern_limit",
           "prune_block_by_block", "row_counts", "select", "top_per_row"]

Pattern = tuple[int, int] | None


def capped_keep_counts(sizes: dict[str, int], caps: dict[str, int], keep: int) -> dict[str, int]:
    """:func:`~shrinkbench.pruning.layer_keep_counts` with no layer above its cap: layers whose share exceeds
    their cap keep the cap, the rest is split over the others the same way; ``keep <= sum(caps)``."""
    counts: dict[str, int] = {}
    free = dict(sizes)
    while True:
        trial = layer_keep_counts(free, keep)
        over = [name for name in free if trial[name] > caps[name]]
        if not over:
            counts.update(trial)
            return {name: counts[name] for name in sizes}
        for name in over:
            counts[name] = caps[name]
            keep -= caps[name]
            del free[name]


def _capacities(ctx: PruningContext, pattern: tuple[int, int]) -> dict[str, int]:
    n, m = pattern
    return {name: n_m_capacity(w.shape, n, m, **reduction_layout(owner_module(ctx.model, name)))
            for name, w in ctx.prunable.items()}


def pattern_limit(ctx: PruningContext, pattern: tuple[int, int]) -> str | None:
    """Why ``ctx.compression`` cannot keep the N:M ``pattern`` (a target between 1 and the pattern's own
    compression), or ``None``."""
    if ctx.compression <= 1:
        return None
    allowed = sum(_capacities(ctx, pattern).values())
    if weights_to_keep(ctx.model, ctx.prunable, ctx.compression) <= allowed:
        return None
    total, prunable = count_parameters(ctx.model), sum(w.numel() for w in ctx.prunable.values())
    lowest = total / (total - prunable + allowed)
    return (f"{pattern[0]}:{pattern[1]} sparsity keeps at most {allowed:,} of {prunable:,} prunable weights, so its "
            f"compressions start at {lowest:.4f}x; choose 1 (no pruning) or at least that")


def calibration_limit(ctx: PruningContext, pattern: Pattern = None) -> str | None:
    """Why a calibration strategy cannot prune ``ctx.model``: a prunable weight of a layer it has no input
    statistics for (:func:`shrinkbench.layerwise.unsupported_layers`), or a target its ``pattern`` cannot
    keep; ``None`` when it can."""
    bad = unsupported_layers(ctx.model, ctx.prunable)
    if bad:
        return (f"no calibration statistics for {bad[0]!r} ({type(owner_module(ctx.model, bad[0])).__name__}): "
                "only linear, 1-D/2-D convolution and 1-D/2-D transposed convolution weights are supported")
    return pattern_limit(ctx, pattern) if pattern is not None else None


def keep_plan(ctx: PruningContext, pattern: Pattern = None) -> dict[str, int]:
    """How many weights each prunable layer keeps: the same fraction everywhere, exact in total (N:M: within
    each layer's capacity). Raises :class:`CompressionError` for a target the pattern cannot keep."""
    keep = weights_to_keep(ctx.model, ctx.prunable, ctx.compression)
    sizes = {name: w.numel() for name, w in ctx.prunable.items()}
    if pattern is None:
        return layer_keep_counts(sizes, keep)
    problem = pattern_limit(ctx, pattern)
    if problem:
        raise CompressionError(problem)
    return capped_keep_counts(sizes, _capacities(ctx, pattern), keep)


def row_counts(keep: int, rows: int, device: torch.device | None = None) -> Tensor:
    """``keep`` split over ``rows`` equal rows: ``keep // rows`` each, the first ``keep % rows`` one more."""
    counts = torch.full((rows,), keep // rows, dtype=torch.long, device=device)
    counts[: keep % rows] += 1
    return counts


def top_per_row(scores: Tensor, counts: Tensor) -> Tensor:
    """Mask of the ``counts[r]`` highest ``scores[r]`` of every row (ties: the lower column)."""
    order = torch.argsort(scores, dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order).scatter_(1, order, torch.arange(scores.shape[1], device=scores.device)
                                             .expand_as(order).contiguous())
    return ranks < counts.to(scores.device).unsqueeze(1)


def output_rows(tensor: Tensor, module: nn.Module) -> Tensor:
    """``tensor`` (shaped like ``module``'s weight) as one row per output: ``(O, weights per output)``."""
    if is_matrix_layer(module):
        mats = weight_matrices(tensor, module)
        return mats.reshape(-1, mats.shape[-1])
    return tensor.reshape(tensor.shape[0], -1)


def _from_output_rows(rows: Tensor, module: nn.Module, shape: torch.Size) -> Tensor:
    if is_matrix_layer(module):
        groups = int(getattr(module, "groups", 1))
        return from_weight_matrices(rows.reshape(groups, -1, rows.shape[-1]), module, shape)
    return rows.reshape(shape)


def select(scores: Tensor, weight: Tensor, module: nn.Module, keep: int, pattern: Pattern = None) -> Tensor:
    """Mask keeping ``keep`` of ``weight``'s entries, the highest ``scores`` of each output row, rows sharing
    ``keep`` as :func:`row_counts` says; with an N:M ``pattern``, the ``n`` highest of each group of ``m`` along
    the reduction dimension, then the highest of those per row down to ``keep``. Already-zero weights rank
    lowest (within the pattern, above the weights outside it)."""
    scores = scores.detach().float().masked_fill(weight.detach() == 0, -1.0)
    allowed = None
    if pattern is not None:
        allowed = top_n_per_group(scores, *pattern, **reduction_layout(module))
        scores = scores.masked_fill(~allowed, -math.inf)
    rows = output_rows(scores, module)
    mask = _from_output_rows(top_per_row(rows, row_counts(keep, rows.shape[0])), module, weight.shape)
    return mask if allowed is None else mask & allowed


def nothing_to_prune(ctx: PruningContext) -> Masks | None:
    """Masks keeping every prunable weight when ``ctx.compression`` keeps them all, else ``None``."""
    if weights_to_keep(ctx.model, ctx.prunable, ctx.compression) < sum(w.numel() for w in ctx.prunable.values()):
        return None
    return {name: torch.ones_like(w, dtype=torch.bool) for name, w in ctx.prunable.items()}


def prune_block_by_block(ctx: PruningContext, who: str, pattern: Pattern, stats: Sequence[str],
                         prune_layer: Callable[[str, LayerStats, int], Tensor]) -> Masks:
    """The masks of a calibration strategy: the layers' keep counts (:func:`keep_plan`), then the sequential
    protocol over ``ctx.calibration`` (:func:`shrinkbench.layerwise.prune_sequentially`), where
    ``prune_layer(name, layer_stats, keep)`` prunes one weight in place to ``keep`` and returns its kept mask."""
    if (everything := nothing_to_prune(ctx)) is not None:
        return everything
    if not ctx.calibration:
        raise ValueError(f"{who} needs calibration inputs (PruningContext.calibration), but none were given; "
                         "its spec declares calibration=True")
    plan = keep_plan(ctx, pattern)
    masks: Masks = {}

    def prune_block(block: dict[str, LayerStats]) -> None:
        for name, layer in block.items():
            masks[name] = prune_layer(name, layer, plan[name])

    prune_sequentially(ctx.model, ctx.calibration, ctx.prunable, prune_block, stats=stats)
    return {name: masks[name] for name in ctx.prunable}

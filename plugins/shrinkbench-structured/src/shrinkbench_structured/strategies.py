"""Structured strategies: rank channels, then remove the lowest-ranked ones from the model for real.

Every strategy follows the structured contract of :class:`shrinkbench.StrategySpec`: it shrinks
``ctx.model`` in place (coupled layers together, through Torch-Pruning's dependency graph) so that dense
parameters / parameters reaches ``ctx.compression`` over the whole model, and returns ``None``. The number of
channels is found by a short search on copies of the model (:mod:`.search`); the model itself is pruned once.
Tracing the graph needs one example input, the first image of ``ctx.batches()``, so every strategy declares
``needs_data``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch_pruning as tp
from torch import nn

from shrinkbench import Batch, PruningContext, ShrinkBenchError
from shrinkbench.pruning import count_parameters

from . import importance
from .graph import channel_groups, remove, trace
from .search import dry_run, search

__all__ = ["TAYLOR_BATCHES", "bn_scale", "l1_filter", "shrink", "taylor_channel"]

TAYLOR_BATCHES = 4
"""Training batches over which ``taylor-channel`` averages its importance."""

Scorer = Callable[[tp.DependencyGraph, dict[str, tp.Group], Sequence[Batch]], importance.Scores]


def l1_filter(ctx: PruningContext) -> None:
    """Li et al. 2017: remove the filters with the smallest L1 norm, the same fraction of every layer's
    channels."""
    shrink(ctx, lambda graph, groups, _: importance.filter_l1(graph, groups), "layer", "filter L1 norm")


def bn_scale(ctx: PruningContext) -> None:
    """Liu et al. 2017 (network slimming): remove the channels with the smallest |BatchNorm gamma|, one
    threshold over the whole model. Raises :class:`ShrinkBenchError` for a model without affine BatchNorm."""
    if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine for m in ctx.model.modules()):
        raise ShrinkBenchError(f"bn-scale ranks channels by their BatchNorm scale (network slimming), but "
                               f"{type(ctx.model).__name__} has no BatchNorm layer")
    shrink(ctx, lambda graph, groups, _: importance.batchnorm_scale(graph, groups), "global",
           "BatchNorm scale")


def taylor_channel(ctx: PruningContext) -> None:
    """Molchanov et al. 2019: remove the channels with the smallest first-order Taylor importance on
    :data:`TAYLOR_BATCHES` training batches and the run's loss, one threshold over the whole model."""

    def scorer(graph: tp.DependencyGraph, groups: dict[str, tp.Group],
               batches: Sequence[Batch]) -> importance.Scores:
        return importance.taylor(graph, groups, ctx, batches)

    shrink(ctx, scorer, "global", "Taylor importance", batches=TAYLOR_BATCHES)


def shrink(ctx: PruningContext, scorer: Scorer, scope: str, criterion: str, batches: int = 1) -> None:
    """Remove channels of ``ctx.model`` in place until dense parameters / parameters reaches
    ``ctx.compression``: trace the model on the first example of ``ctx.batches()``, score every removable
    channel group with ``scorer(graph, groups, the first `batches` training batches)``, search the fraction
    of channels to remove (``scope``: ``"layer"`` or ``"global"``, see :func:`.search.make_plan`) on copies,
    then remove it once.

    Raises a one-line :class:`ShrinkBenchError` naming the model type when Torch-Pruning cannot handle the
    model, when ``criterion`` ranks no group, or when the target is out of reach."""
    model = ctx.model
    who = type(model).__name__
    data = _first_batches(ctx, batches)
    example = data[0][0][:1]
    dense = ctx.dense_parameters or count_parameters(model)  # the target is relative to the dense model
    graph = trace(model, example)
    groups, blocked = channel_groups(graph, model)
    if not groups:
        reason = (f"every channel group reaches {', '.join(sorted(blocked))}" if blocked else
                  "no convolution or linear layer outside the classifier is in its traced forward")
        raise ShrinkBenchError(f"Torch-Pruning finds no removable channels in {who}: {reason}")
    scores = scorer(graph, groups, data)
    if not scores:
        raise ShrinkBenchError(f"no removable channel group of {who} can be ranked by {criterion}")
    plan = search(lambda p: dry_run(model, example, p), scores, scope, dense, ctx.compression, who)
    remove(graph, model, plan)


def _first_batches(ctx: PruningContext, count: int) -> list[Batch]:
    """Up to ``count`` training batches from one pass of ``ctx.batches()`` (at least one)."""
    if ctx.batches is None:
        return [ctx.batch()]  # raises: the strategy needs data
    out: list[Batch] = []
    for batch in ctx.batches():
        out.append(batch)
        if len(out) == count:
            break
    if not out:
        raise ShrinkBenchError("the training data gave no batch to trace the model with")
    return out

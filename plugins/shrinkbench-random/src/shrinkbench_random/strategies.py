"""Random pruning: the baseline every method must beat.

Scores are i.i.d. uniform draws from ``ctx.generator`` (a CPU generator seeded with ``ctx.seed``, one
stream over the prunable weights in order), so the same seed gives the same mask on any device. Keeping the
highest scores keeps an exact number of weights, chosen uniformly at random.
"""

from __future__ import annotations

import torch
from torch import Tensor

from shrinkbench import Masks, PruningContext


def global_random(ctx: PruningContext) -> Masks:
    """score(w) ~ U(0, 1), one threshold over all layers: every weight is equally likely to be kept.

    ShrinkBench's RandomPruning (Blalock et al. 2020, "What is the State of Neural Network Pruning?", MLSys),
    with the kept count made exact instead of drawn per weight.
    """
    return ctx.masks(random_scores(ctx), scope="global")


def layer_random(ctx: PruningContext) -> Masks:
    """score(w) ~ U(0, 1), the same fraction kept in every layer (Blalock et al. 2020, MLSys)."""
    return ctx.masks(random_scores(ctx), scope="layer")


def random_scores(ctx: PruningContext) -> dict[str, Tensor]:
    """One uniform [0, 1) draw per prunable weight, from a single ``ctx.generator`` stream (on the CPU)."""
    generator = ctx.generator
    return {name: torch.rand(weight.shape, generator=generator) for name, weight in ctx.prunable.items()}

"""Registers the random strategies. Imports no torch: the targets are lazy import paths."""

from __future__ import annotations

from shrinkbench import StrategySpec, hookimpl

_REFERENCE = "Blalock et al. 2020, What is the State of Neural Network Pruning? (MLSys), random baseline"


@hookimpl
def shrinkbench_strategies() -> list[StrategySpec]:
    """``random`` and ``layer-random``."""
    return [
        StrategySpec("random", "Seeded uniformly random weights over all layers",
                     "shrinkbench_random.strategies:global_random", aliases=("RandomPruning",),
                     reference=_REFERENCE),
        StrategySpec("layer-random", "Seeded uniformly random weights, same fraction per layer",
                     "shrinkbench_random.strategies:layer_random", reference=_REFERENCE),
    ]

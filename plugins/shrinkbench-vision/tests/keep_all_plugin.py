"""A one-strategy plugin for this package's CLI test, so it runs with no strategy plugin installed."""

from __future__ import annotations

from shrinkbench import StrategySpec, hookimpl


def keep_all(ctx):
    """Keep every weight (valid only at compression 1)."""
    import torch

    return {name: torch.ones_like(p, dtype=torch.bool) for name, p in ctx.prunable.items()}


@hookimpl
def shrinkbench_strategies():
    return [StrategySpec("keep-all", "Keeps every weight", keep_all)]

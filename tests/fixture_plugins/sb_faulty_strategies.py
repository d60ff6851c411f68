"""A plugin whose strategies misbehave in every way a run must survive (registered by SHRINKBENCH_PLUGINS)."""

from __future__ import annotations

from shrinkbench import StrategySpec, hookimpl


def raises(ctx):
    """Raises an exception that is not ShrinkBench's own."""
    raise ValueError("scores went negative")


def keeps_everything(ctx):
    """Ignores the target: keeps every weight."""
    import torch

    return {name: torch.ones_like(weight, dtype=torch.bool) for name, weight in ctx.prunable.items()}


@hookimpl
def shrinkbench_strategies():
    return [
        StrategySpec("faulty-raises", "Raises ValueError", raises),
        StrategySpec("faulty-missing", "Names a function that does not exist", "sb_faulty_strategies:nowhere"),
        StrategySpec("faulty-module", "Names a module that does not exist", "no_such_module.sub:fn"),
        StrategySpec("faulty-keeps-all", "Ignores the target compression", keeps_everything),
    ]

"""A plugin that reuses a built-in strategy name (``random``): both plugins must be named in the error."""

from shrinkbench import StrategySpec, hookimpl


@hookimpl
def shrinkbench_strategies():
    return [StrategySpec("random", "clashes with shrinkbench-random", "math:sqrt")]

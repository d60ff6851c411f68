"""A plugin whose hook name is misspelled (``shrinkbench_strategy``): discovery must reject it clearly."""

from shrinkbench import StrategySpec, hookimpl


@hookimpl
def shrinkbench_strategy():
    return [StrategySpec("never-listed", "misspelled hook", "math:sqrt")]

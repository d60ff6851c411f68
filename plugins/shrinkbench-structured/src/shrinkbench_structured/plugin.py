"""Registers the structured strategies. Imports no torch: the targets are lazy import paths."""

from __future__ import annotations

from shrinkbench import StrategySpec, hookimpl

STRATEGIES = (  # name, description, function in shrinkbench_structured.strategies, reference, requires
    ("l1-filter", "Removes the filters of smallest L1 norm, same fraction of every layer", "l1_filter",
     "Li et al. 2017, Pruning Filters for Efficient ConvNets (ICLR)", ()),
    ("bn-scale", "Removes the channels of smallest |BatchNorm gamma|, one global threshold", "bn_scale",
     "Liu et al. 2017, Learning Efficient Convolutional Networks through Network Slimming (ICCV)", ("batchnorm",)),
    ("taylor-channel", "Removes the channels of smallest first-order Taylor importance, one global threshold",
     "taylor_channel", "Molchanov et al. 2019, Importance Estimation for Neural Network Pruning (CVPR)", ()),
)


@hookimpl
def shrinkbench_strategies() -> list[StrategySpec]:
    """``l1-filter``, ``bn-scale`` and ``taylor-channel``: structured (channels really removed); each reads
    one training batch at least (the example input that Torch-Pruning traces the model with); models with
    attention are refused up front (:mod:`shrinkbench_structured.limits`)."""
    return [StrategySpec(name, description, f"shrinkbench_structured.strategies:{function}", needs_data=True,
                         reference=reference, structured=True, requires=requires,
                         check="shrinkbench_structured.limits:channels_removable")
            for name, description, function, reference, requires in STRATEGIES]

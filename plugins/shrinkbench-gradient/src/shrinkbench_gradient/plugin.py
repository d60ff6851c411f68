"""Registers the gradient strategies. Imports no torch: the targets are lazy import paths."""

from __future__ import annotations

from shrinkbench import StrategySpec, hookimpl

_STRATEGIES = "shrinkbench_gradient.strategies"
_REFERENCE = ("Molchanov et al. 2019, Importance Estimation for Neural Network Pruning (CVPR); "
              "Blalock et al. 2020, What is the State of Neural Network Pruning? (MLSys), MagGrad")


@hookimpl
def shrinkbench_strategies() -> list[StrategySpec]:
    """``global-gradient`` and ``layer-gradient``."""
    return [
        StrategySpec("global-gradient", "Largest |w x dL/dw| on a batch, one threshold over all layers",
                     f"{_STRATEGIES}:global_gradient", aliases=("GlobalMagGrad",), needs_data=True,
                     reference=_REFERENCE),
        StrategySpec("layer-gradient", "Largest |w x dL/dw| on a batch, same fraction per layer",
                     f"{_STRATEGIES}:layer_gradient", aliases=("LayerMagGrad",), needs_data=True,
                     reference=_REFERENCE),
    ]

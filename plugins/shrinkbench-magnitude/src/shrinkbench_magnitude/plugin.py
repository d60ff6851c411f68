"""Registers the magnitude strategies. Imports no torch: the targets are lazy import paths."""

from __future__ import annotations

from shrinkbench import StrategySpec, hookimpl

_STRATEGIES = "shrinkbench_magnitude.strategies"
_HAN = "Han et al. 2015, Learning both Weights and Connections for Efficient Neural Networks (NeurIPS)"
_SHRINKBENCH = "Blalock et al. 2020, What is the State of Neural Network Pruning? (MLSys), MagAct"
_NVIDIA = "Mishra et al. 2021, Accelerating Sparse Deep Neural Networks (arXiv:2104.08378)"


@hookimpl
def shrinkbench_strategies() -> list[StrategySpec]:
    """``global-magnitude``, ``layer-magnitude``, ``global-activation``, ``layer-activation`` and
    ``2:4-magnitude``."""
    return [
        StrategySpec("global-magnitude", "Largest |w|, one threshold over all layers",
                     f"{_STRATEGIES}:global_magnitude", aliases=("GlobalMagWeight",), reference=_HAN),
        StrategySpec("layer-magnitude", "Largest |w|, same fraction per layer",
                     f"{_STRATEGIES}:layer_magnitude", aliases=("LayerMagWeight",), reference=_HAN),
        StrategySpec("global-activation", "Largest |w| x mean |input|, one threshold over all layers",
                     f"{_STRATEGIES}:global_activation", aliases=("GlobalMagAct",), needs_data=True,
                     reference=_SHRINKBENCH),
        StrategySpec("layer-activation", "Largest |w| x mean |input|, same fraction per layer",
                     f"{_STRATEGIES}:layer_activation", aliases=("LayerMagAct",), needs_data=True,
                     reference=_SHRINKBENCH),
        StrategySpec("2:4-magnitude", "Largest |w|, at most 2 of every 4 along each output's inputs (sparse tensor "
                     "cores)", "shrinkbench_magnitude.n_m:nm_magnitude", reference=_NVIDIA, pattern=(2, 4),
                     check="shrinkbench_magnitude.n_m:nm_limit"),
    ]

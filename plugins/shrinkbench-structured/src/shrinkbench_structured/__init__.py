"""ShrinkBench strategies that remove whole channels: L1 filter norm, BatchNorm scale, first-order Taylor.

The strategies live in :mod:`shrinkbench_structured.strategies` (on :mod:`.graph`, Torch-Pruning's dependency
graph; :mod:`.importance`, the channel scores; :mod:`.search`, the channels to remove for a compression);
:mod:`shrinkbench_structured.plugin` registers them (without importing torch).
"""

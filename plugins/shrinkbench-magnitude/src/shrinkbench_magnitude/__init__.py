"""ShrinkBench strategies: global and layerwise weight magnitude, and activation-weighted magnitude.

The strategies live in :mod:`shrinkbench_magnitude.strategies`; :mod:`shrinkbench_magnitude.plugin` registers
them (without importing torch).
"""

"""ShrinkBench strategies: global and layerwise |weight x gradient| saliency.

The strategies live in :mod:`shrinkbench_gradient.strategies`; :mod:`shrinkbench_gradient.plugin` registers
them (without importing torch).
"""

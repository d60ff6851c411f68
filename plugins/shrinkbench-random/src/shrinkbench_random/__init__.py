"""ShrinkBench strategies: seeded random pruning baselines.

The strategies live in :mod:`shrinkbench_random.strategies`; :mod:`shrinkbench_random.plugin` registers
them (without importing torch).
"""

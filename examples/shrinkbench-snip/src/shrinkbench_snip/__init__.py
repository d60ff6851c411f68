"""Example third-party ShrinkBench plugin: the SNIP strategy and a ``sparsity`` metric.

:mod:`shrinkbench_snip.plugin` registers them without importing torch; the work is done in
:mod:`shrinkbench_snip.strategies` and :mod:`shrinkbench_snip.metrics`, imported only when used.
"""

__version__ = "0.1.0"

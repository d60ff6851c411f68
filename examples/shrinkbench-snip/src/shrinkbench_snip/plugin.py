"""Registers the SNIP strategy and the sparsity metric with ShrinkBench.

This module is imported by every ``shrinkbench`` command (including ``shrinkbench list``), so it stays
cheap: it imports no torch and names the implementations lazily as ``"module:function"`` strings.
"""

from __future__ import annotations

from shrinkbench import MetricSpec, StrategySpec, hookimpl

_SNIP_PAPER = ("Lee, Ajanthan & Torr 2019, SNIP: Single-shot Network Pruning based on Connection Sensitivity "
               "(ICLR)")


@hookimpl
def shrinkbench_strategies() -> list[StrategySpec]:
    """``snip``: keep the connections the loss is most sensitive to, one threshold over all layers."""
    return [
        StrategySpec(
            "snip",
            "Largest connection sensitivity |g*w| on a batch (SNIP), one threshold over all layers",
            "shrinkbench_snip.strategies:snip",
            aliases=("SNIP",),
            needs_data=True,
            reference=_SNIP_PAPER,
        ),
    ]


@hookimpl
def shrinkbench_metrics() -> list[MetricSpec]:
    """``sparsity``: fraction of zero prunable weights and number of fully pruned layers."""
    return [
        MetricSpec(
            "sparsity",
            "Fraction of prunable weights that are zero, and prunable layers that are entirely zero",
            "shrinkbench_snip.metrics:sparsity",
            columns=("sparsity", "zero_layers"),
        ),
    ]

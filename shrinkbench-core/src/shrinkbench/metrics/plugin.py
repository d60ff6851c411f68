"""Core's own metrics, registered through the public ``shrinkbench_metrics`` hook like any plugin's."""

from __future__ import annotations

from .. import hookimpl
from ..schema import ACCURACY, FLOPS, MEMORY, SIZE
from ..specs import MetricSpec


@hookimpl
def shrinkbench_metrics() -> list[MetricSpec]:
    """Size, FLOPs, activation memory and accuracy."""
    return [
        MetricSpec(
            "size",
            "Parameters, nonzero parameters and compression (params / nonzero params)",
            "shrinkbench.metrics.size:measure",
            columns=SIZE,
        ),
        MetricSpec(
            "flops",
            "Dense and nonzero MACs/FLOPs (FLOPs = 2 x MACs) and theoretical speedup, per example",
            "shrinkbench.metrics.flops:measure",
            columns=FLOPS,
        ),
        MetricSpec(
            "memory",
            "Activation elements and bytes of one forward pass, per example",
            "shrinkbench.metrics.memory:measure",
            columns=MEMORY,
        ),
        MetricSpec(
            "accuracy",
            "Top-1 and top-5 accuracy and mean loss over the evaluation examples",
            "shrinkbench.metrics.accuracy:measure",
            columns=ACCURACY,
            needs_data=True,
        ),
    ]

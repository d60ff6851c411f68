"""Core's own metrics, registered through the public ``shrinkbench_metrics`` hook like any plugin's."""

from __future__ import annotations

from .. import hookimpl
from ..schema import ACCURACY, FLOPS, LATENCY, MEMORY, SIZE
from ..specs import MetricSpec


@hookimpl
def shrinkbench_metrics() -> list[MetricSpec]:
    """Size, FLOPs, activation memory, latency and accuracy."""
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
            "latency",
            "Measured forward time at batch 1 and 64 (median ms per pass of calibrated samples) and the dense "
            "model's time over it (interleaved), each with its relative spread (IQR / median)",
            "shrinkbench.metrics.latency:measure",
            columns=LATENCY,
        ),
        MetricSpec(
            "accuracy",
            "Top-1 and top-5 accuracy and mean loss over the evaluation examples",
            "shrinkbench.metrics.accuracy:measure",
            columns=ACCURACY,
            needs_data=True,
        ),
    ]

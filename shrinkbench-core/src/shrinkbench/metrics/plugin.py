"""Core's own metrics, registered through the public ``shrinkbench_metrics`` hook like any plugin's."""

from __future__ import annotations

from .. import hookimpl
from ..specs import MetricSpec


@hookimpl
def shrinkbench_metrics() -> list[MetricSpec]:
    """Size, FLOPs, activation memory and accuracy."""
    return [
        MetricSpec(
            "size",
            "Parameters, nonzero parameters and compression (params / nonzero params)",
            "shrinkbench.metrics.size:measure",
            columns=("params", "nonzero_params", "compression"),
        ),
        MetricSpec(
            "flops",
            "Dense and nonzero MACs/FLOPs (FLOPs = 2 x MACs) and theoretical speedup, per example",
            "shrinkbench.metrics.flops:measure",
            columns=("macs", "nonzero_macs", "flops", "nonzero_flops", "speedup"),
        ),
        MetricSpec(
            "memory",
            "Activation elements and bytes of one forward pass, per example",
            "shrinkbench.metrics.memory:measure",
            columns=("activations", "activation_bytes", "nonzero_activations"),
        ),
        MetricSpec(
            "accuracy",
            "Top-1 and top-5 accuracy and mean loss over the evaluation examples",
            "shrinkbench.metrics.accuracy:measure",
            columns=("top1", "top5", "loss"),
            needs_data=True,
        ),
    ]

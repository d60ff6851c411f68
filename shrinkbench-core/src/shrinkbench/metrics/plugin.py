"""Core's own metrics and learning tasks, registered through the public ``shrinkbench_metrics`` and
``shrinkbench_tasks`` hooks like any plugin's."""

from __future__ import annotations

from .. import hookimpl
from ..schema import ACCURACY, FLOPS, LATENCY, MEMORY, PERPLEXITY, SIZE
from ..specs import MetricSpec, TaskMetric, TaskSpec
from ..task_spec import CAUSAL_LM, CLASSIFICATION


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
            task=CLASSIFICATION,
        ),
        MetricSpec(
            "prunable-sparsity",
            "Fraction of the prunable weights (decoder linear layers; head left out) that are zero",
            "shrinkbench.metrics.size:prunable_sparsity",
            columns=("prunable_sparsity",),
            task=CAUSAL_LM,
        ),
        MetricSpec(
            "perplexity",
            "Perplexity (exp of the mean token NLL), next-token top-1 and the mean token NLL over the evaluation "
            "windows",
            "shrinkbench.language:measure",
            columns=PERPLEXITY,
            needs_data=True,
            task=CAUSAL_LM,
        ),
    ]


@hookimpl
def shrinkbench_tasks() -> list[TaskSpec]:
    """``classification`` (images and integer labels; top-1) and ``causal-lm`` (token windows; perplexity)."""
    return [
        TaskSpec(
            CLASSIFICATION, "Image classification: top-1/top-5 accuracy, cross-entropy",
            "shrinkbench.metrics.accuracy:evaluate",
            metrics=(TaskMetric("top1", "top-1 accuracy on the test split", True, "fraction 0-1"),
                     TaskMetric("top5", "top-5 accuracy on the test split", True, "fraction 0-1")),
            primary="top1", batch="(images (B, C, H, W), integer labels (B,))",
        ),
        TaskSpec(
            CAUSAL_LM, "Causal language modelling: perplexity over non-overlapping windows of the test stream "
            "(the SparseGPT/Wanda protocol), next-token cross-entropy",
            "shrinkbench.language:evaluate_lm",
            metrics=(TaskMetric("perplexity", "exp of the mean next-token NLL over the test windows", False,
                                "perplexity"),
                     TaskMetric("token_top1", "fraction of next tokens predicted exactly", True, "fraction 0-1")),
            primary="perplexity", prepare="shrinkbench.language:prepare_text", needs_tokenizer=True,
            batch="(token windows (B, L-1), next tokens (B, L-1))", latency_batches=(1,),
        ),
    ]

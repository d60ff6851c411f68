"""Measured inference latency of the pruned model against the dense one, on the run's device.

Theoretical speedup (dense MACs / nonzero MACs) says what an ideal sparse kernel could gain; this says what the
model gains as it runs: unstructured masks leave the dense kernels doing the same work (about 1x), structured
pruning makes the layers smaller and shows its real gain. Timings are taken at batch 1 and batch 64, after
warm-up runs, as the median of repeated forward passes in eval mode under ``torch.inference_mode()`` (with the
run's fixed torch thread count), synchronising the device around each pass.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from .. import accelerator
from ..modules import eval_mode
from . import MetricContext

__all__ = ["BATCHES", "forward_ms", "measure"]

BATCHES = (1, 64)
WARMUP, MIN_REPEATS, MAX_REPEATS, BUDGET_S = 2, 7, 50, 0.3


def forward_ms(model: nn.Module, inputs: torch.Tensor,
               autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext) -> float:
    """Median milliseconds of one forward pass of ``inputs`` (eval mode, inference mode, ``autocast()``, the
    device synchronised around each pass: CUDA and MPS run asynchronously), over at least 7 timed passes after
    2 warm-up passes, more (up to 50) while they take under 0.3 s in all."""
    device = inputs.device
    sync = accelerator.synchronize
    times: list[float] = []
    with eval_mode(model), torch.inference_mode(), autocast():
        for _ in range(WARMUP):
            model(inputs)
        sync(device)
        while len(times) < MIN_REPEATS or (sum(times) < BUDGET_S and len(times) < MAX_REPEATS):
            start = time.perf_counter()
            model(inputs)
            sync(device)
            times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def measure(ctx: MetricContext) -> dict[str, float]:
    """``latency_ms`` / ``latency_ms_64``: the model's forward time at batch 1 / 64; ``latency_speedup`` /
    ``latency_speedup_64``: the dense model's time (``ctx.reference``) over the model's (1.0 without one)."""
    example = ctx.example_input[:1]
    out: dict[str, float] = {}
    for batch in BATCHES:
        inputs = example.expand(batch, *example.shape[1:]).contiguous()
        mine = forward_ms(ctx.model, inputs, ctx.autocast)
        suffix = "" if batch == 1 else f"_{batch}"
        dense = ctx.reference.get(f"latency_ms{suffix}", mine) if ctx.reference is not None else mine
        out[f"latency_ms{suffix}"] = mine
        out[f"latency_speedup{suffix}"] = dense / mine if mine > 0 else float("nan")
    return out

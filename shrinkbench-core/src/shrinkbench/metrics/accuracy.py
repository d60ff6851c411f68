"""Top-1 / top-5 accuracy and loss on an evaluation loader."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch

from .. import measuring
from ..losses import LossFn, cross_entropy
from ..modules import eval_mode
from . import MetricContext

__all__ = ["evaluate", "measure"]


def evaluate(model: torch.nn.Module, loader, loss_fn: LossFn = cross_entropy,
             autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext) -> dict[str, float]:
    """``top1``, ``top5`` (fractions of examples) and ``loss`` (mean over examples) of ``model`` on ``loader``.

    Every batch counts by its real size, so a short last batch weighs what it holds. The model is evaluated in
    eval mode under ``torch.inference_mode()`` and ``autocast()`` (the run's precision), and every module's mode
    is restored afterwards. Counts and the loss (in float32 or more) accumulate on the model's device and are
    read once at the end.
    """
    device = next(model.parameters()).device
    examples = 0
    with eval_mode(model), torch.inference_mode():
        loss_sum = torch.zeros((), dtype=torch.float32 if device.type == "mps" else torch.float64, device=device)
        correct = torch.zeros(2, dtype=torch.int64, device=device)
        for inputs, targets in loader:
            inputs, targets = inputs.to(device), targets.to(device)
            with autocast():
                logits = model(inputs).float()
            loss_sum += loss_fn(logits, targets, reduction="sum").to(loss_sum.dtype)
            k = min(5, logits.shape[1])
            hits = logits.topk(k, dim=1).indices == targets.unsqueeze(1)
            correct += torch.stack([hits[:, 0].sum(), hits.any(dim=1).sum()])
            examples += targets.shape[0]
            measuring.safe_point()
    if examples == 0:
        raise ValueError("the evaluation loader yielded no examples")
    top1, top5 = correct.tolist()
    return {"top1": top1 / examples, "top5": top5 / examples, "loss": loss_sum.item() / examples}


def measure(ctx: MetricContext) -> dict[str, float]:
    """The accuracy metric: :func:`evaluate` on ``ctx.loader``."""
    if ctx.loader is None:
        raise ValueError("the accuracy metric needs an evaluation loader (MetricContext.loader)")
    return evaluate(ctx.model, ctx.loader, ctx.loss_fn, ctx.autocast)
